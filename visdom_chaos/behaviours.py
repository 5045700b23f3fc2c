"""Scripted subscriber behaviour on a timeline: stalls, drops, refreshes, flaps, env switches,
env deletes."""

from __future__ import annotations

import fnmatch
import heapq
import threading
import time
from collections.abc import Callable, Sequence

from visdom_chaos.journal import JournalWriter
from visdom_chaos.scenario import Behaviour
from visdom_chaos.wire.protocol import Subscriber

MAX_EVENTS = 100_000


def expand(behaviours: list[Behaviour], horizon: float) -> list[tuple[float, int, Behaviour]]:
    """(time, order, behaviour) for every occurrence before the horizon."""
    events: list[tuple[float, int, Behaviour]] = []
    for b in behaviours:
        end = min(b.until, horizon) if b.until is not None else horizon
        if b.action == "flap":
            step = b.seconds if b.seconds > 0 else 1.0
            t = b.at
            while t < end and len(events) < MAX_EVENTS:
                events.append((t, len(events), b))
                t += step
            continue
        t = b.at
        while t < end and len(events) < MAX_EVENTS:
            events.append((t, len(events), b))
            if b.every is None:
                break
            t += b.every
    heapq.heapify(events)
    return [heapq.heappop(events) for _ in range(len(events))]


def perform(
    sub: Subscriber, b: Behaviour, later: Callable[[float, Callable[[], None]], None]
) -> None:
    if b.action == "stall":
        sub.stall(b.seconds)
    elif b.action in ("drop", "close"):
        sub.drop(abrupt=b.action == "drop")
        if b.seconds > 0:  # come back after a pause, as a reconnecting page would
            later(b.seconds, sub.reconnect)
    elif b.action in ("reconnect", "flap"):
        sub.reconnect()
    elif b.action == "refresh":
        sub.refresh()
    elif b.action == "switch_env":
        sub.switch_env(b.env or "main")
    elif b.action == "forward_after_close":
        sub.forward_after_close()
    elif b.action == "delete_env":
        sub.delete_env(b.env or str(getattr(sub, "env", "main")))


class BehaviourRunner:
    def __init__(
        self,
        subscribers: Sequence[Subscriber],
        behaviours: list[Behaviour],
        horizon: float,
        journal: JournalWriter | None = None,
    ) -> None:
        self.subscribers = subscribers
        self.events = expand(behaviours, horizon)
        self.journal = journal
        self.performed = 0
        self._later: list[tuple[float, int, Callable[[], None]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="behaviours", daemon=True)

    def _schedule_later(self, delay: float, fn: Callable[[], None]) -> None:
        heapq.heappush(self._later, (time.monotonic() + delay, id(fn), fn))

    def _targets(self, b: Behaviour) -> list[Subscriber]:
        return [
            s
            for s in self.subscribers
            if any(fnmatch.fnmatchcase(s.client_id, p) for p in b.clients)
        ]

    def _run(self) -> None:
        t0 = time.monotonic()
        i = 0
        while not self._stop.is_set():
            now = time.monotonic()
            while self._later and self._later[0][0] <= now:
                _, _, fn = heapq.heappop(self._later)
                fn()
            if i < len(self.events) and t0 + self.events[i][0] <= now:
                _, _, b = self.events[i]
                i += 1
                for sub in self._targets(b):
                    if self.journal is not None:
                        # Client-side faults go to the fault journal too, so findings line up with them.
                        self.journal.write(
                            "fault",
                            sub.client_id,
                            sub.conn,
                            proxy="",
                            toxic="behaviour",
                            kind=b.action,
                            stream="",
                            detail={"seconds": b.seconds},
                        )
                    perform(sub, b, self._schedule_later)
                    self.performed += 1
                continue
            if i >= len(self.events) and not self._later:
                return
            self._stop.wait(0.02)

    def start(self) -> BehaviourRunner:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
