"""What the Locust users in loadtests/ do, as plain objects (Locust files hold only the User classes).

TrainingJob  one training user's windows, paced at --vc-rate per window, each request
             also a Locust request (POST /events or /update, name = window kind)
BrowserTab   one browser tab: a subscriber plus its behaviour script
ChromiumTab  one real headless Chromium tab on the Visdom UI (visdom_chaos.wire.browser)
"""

from __future__ import annotations

import time
from typing import Any

from visdom_chaos.loadgen.behaviours import Script
from visdom_chaos.loadgen.clients import (
    LocustPollingSubscriber,
    LocustWebSocketSubscriber,
    make_source,
)
from visdom_chaos.loadgen.fasthttp import FastSession
from visdom_chaos.loadgen.scenario import Timeline
from visdom_chaos.loadgen.session import Session

IDLE_S = 0.2  # longest sleep of a task step: stop requests are noticed this fast
MAX_CATCH_UP = 5  # a late window sends at most this many updates back to back


class AckTap:
    """Journal proxy for a training source: every `ack` also becomes a Locust request event."""

    def __init__(self, journal: Any, fire: Any, kind: str, path: str) -> None:
        self.journal = journal
        self.fire = fire
        self.kind = kind
        self.path = path

    def write(
        self, type_: str, client: str = "", conn: int = 0, t: int | None = None, **fields: Any
    ) -> None:
        self.journal.write(type_, client, conn, t=t, **fields)
        if type_ == "ack":
            err = (
                None
                if fields.get("ok")
                else RuntimeError(fields.get("error") or f"HTTP {fields.get('status')}")
            )
            path = "/events" if fields.get("seq") == 0 else self.path
            self.fire(
                request_type="POST",
                name=f"{path} {self.kind}",
                response_time=fields.get("rtt_ms", 0.0),
                response_length=0,
                exception=err,
                context={"client": client},
            )


class TrainingJob:
    def __init__(self, session: Session) -> None:
        self.session = session
        k = session.knobs
        kinds, envs = k.kind_list, k.env_names
        job = session.next_id("src")
        index = int(job.rsplit("-", 1)[1])
        fire = session.environment.events.request.fire
        # (kind, env, pad, rate) per window: the scenario's source, or the knobs' layout
        # offset by the worker index, so workers' first jobs do not all get the same kind and env.
        if session.plan is not None:
            spec = session.plan.source(index + session.worker_index)
            layout = [(spec.kind, spec.env, spec.pad_bytes, spec.rate_hz)]
        else:
            n = max(1, int(k.windows))
            base = index * n + session.worker_index
            layout = [
                (
                    kinds[(base + w) % len(kinds)],
                    envs[(base + w) % len(envs)],
                    int(k.pad_bytes),
                    float(k.rate),
                )
                for w in range(n)
            ]
        n = len(layout)
        self.sources = []
        for w, (kind, env, pad, _rate) in enumerate(layout):
            src_id = f"{job}.{w}" if n > 1 else job
            tap = AckTap(session.journal, fire, kind, "/events" if kind == "image" else "/update")
            http = FastSession(session.base_url) if k.http == "fast" else None
            self.sources.append(
                make_source(
                    session.base_url,
                    src_id,
                    tap,
                    kind=kind,
                    env=env,
                    pad_bytes=pad,
                    image_px=int(k.image_px),
                    session=http,
                )
            )
        session.sources.extend(self.sources)
        rate = layout[0][3]
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self.limit = int(k.max_updates)
        now = time.monotonic()
        # Windows of one job start spread over one interval, so a job's requests do not bunch.
        self.next_at = [now + self.interval * w / n for w in range(n)]

    def start(self) -> None:
        for src in self.sources:
            self._send(src)

    def _send(self, src: Any) -> None:
        self.session.inflight += 1
        try:
            src.append()  # seq 0 is the create (POST /events)
        finally:
            self.session.inflight -= 1

    def step(self) -> None:
        """Send what is due, then sleep until the next window is due (at most IDLE_S)."""
        if self.session.finishing.is_set():
            time.sleep(IDLE_S)
            return
        now = time.monotonic()
        for i, src in enumerate(self.sources):
            sent = 0
            while (
                self.next_at[i] <= now
                and sent < MAX_CATCH_UP
                and not self.session.finishing.is_set()
            ):
                if self.limit and src.seq >= self.limit:
                    self.next_at[i] = float("inf")
                    break
                self._send(src)
                sent += 1
                self.next_at[i] += self.interval
            if self.next_at[i] < now - self.interval * MAX_CATCH_UP:
                self.next_at[i] = (
                    now  # too far behind: drop the backlog, the rate is what the server allows
                )
        wait = min(self.next_at) - time.monotonic()
        if wait > 0:
            time.sleep(min(wait, IDLE_S))


class BrowserTab:
    def __init__(self, session: Session, transport: str) -> None:
        self.session = session
        k = session.knobs
        prefix = "ws" if transport == "websocket" else "poll"
        self.client_id = session.next_id(prefix)
        index = int(self.client_id.rsplit("-", 1)[1]) + session.worker_index
        envs = session.env_names
        self.env_index = index % len(envs)
        kw: dict[str, Any] = {
            "version": k.visdom_version,
            "env": envs[self.env_index],
            "observer": session.observer,
            "journal_recv": bool(k.journal_recv),
        }
        if transport == "websocket":
            # the Locust kinds, not the base Subscriber: `leave` and switch_env's `mode` are theirs
            self.sub: LocustWebSocketSubscriber | LocustPollingSubscriber = (
                LocustWebSocketSubscriber(session.base_url, self.client_id, session.journal, **kw)
            )
        else:
            self.sub = LocustPollingSubscriber(
                session.base_url,
                self.client_id,
                session.journal,
                poll_interval=float(k.poll_interval_s),
                **kw,
            )
        session.subscribers.append(self.sub)
        self.script = Script.from_knobs(k, time.monotonic(), session.rng)
        self.timeline: Timeline | None = None
        if session.plan is not None:
            mine = session.plan.behaviours_for(self.client_id)
            if mine:
                # bounded: an open-ended run expands an hour of events, not a day's
                horizon = float(k.duration_s) or float(session.meta.duration_s or 3600.0)
                self.timeline = Timeline(mine, session.t0_mono, horizon)

    def start(self) -> None:
        self.sub.start()

    def stop(self) -> None:
        if self.session.finishing.is_set():
            self.sub.stop()  # the test ends: final views
        else:
            self.sub.leave()  # the shape took this user away mid-run

    def step(self) -> None:
        """Do the behaviours that are due, then sleep until the next one (at most IDLE_S)."""
        if self.session.finishing.is_set() or not (self.script.active or self.timeline is not None):
            time.sleep(IDLE_S)
            return
        nxt_tl = None
        if self.timeline is not None:
            self.timeline.run_due(self.sub, time.monotonic())
            nxt_tl = self.timeline.next_time()
        for action in self.script.due(time.monotonic()):
            if self.session.finishing.is_set():
                return
            self.act(action)
        nxt = min((t for t in (self.script.next_time(), nxt_tl) if t is not None), default=None)
        time.sleep(IDLE_S if nxt is None else max(0.0, min(nxt - time.monotonic(), IDLE_S)))

    def act(self, action: str) -> None:
        k, sub = self.session.knobs, self.sub
        if action in ("abrupt", "clean"):
            sub.drop(abrupt=action == "abrupt")
            time.sleep(max(0.0, float(k.reconnect_after_s)))
            if not self.session.finishing.is_set() or not sub.connected:
                sub.reconnect()
        elif action == "refresh":
            sub.refresh()
        elif action == "stall":
            sub.stall(float(k.stall_s))
        elif action == "flap":
            for _ in range(max(1, int(k.flap_count))):
                sub.reconnect()
                time.sleep(max(0.0, float(k.flap_gap_s)))
        elif action == "switch_env":
            envs = k.env_names
            self.env_index = (self.env_index + 1) % len(envs)
            sub.switch_env(envs[self.env_index], str(k.switch_env_mode))


class ChromiumTab:
    """A real Chromium tab (`browser-<n>`): the Visdom UI of one env, read back from the page.

    Scenario `[[behaviour]]` entries whose pattern matches its id apply (refresh, reconnect,
    close/drop via the navbar badge); the `--vc-…-every-s` scripts are for the wire tabs.
    """

    def __init__(self, session: Session) -> None:
        from visdom_chaos.wire.browser import BrowserSubscriber

        self.session = session
        self.client_id = session.next_id("browser")
        envs = session.env_names
        index = int(self.client_id.rsplit("-", 1)[1]) + session.worker_index
        self.sub = BrowserSubscriber(
            session.base_url,
            self.client_id,
            session.journal,
            env=envs[index % len(envs)],
            run_dir=session.run_dir,
            sample_interval_s=1.0,
        )
        self.timeline: Timeline | None = None
        if session.plan is not None:
            mine = session.plan.behaviours_for(self.client_id)
            if mine:
                horizon = float(session.knobs.duration_s) or float(
                    session.meta.duration_s or 3600.0
                )
                self.timeline = Timeline(mine, session.t0_mono, horizon)

    def start(self) -> None:
        self.sub.start()
        self.session.subscribers.append(
            self.sub
        )  # only once it shows the page: quiescence waits on it

    def stop(self) -> None:
        self.sub.stop()  # final views and the screenshot, also when the shape takes it away

    def step(self) -> None:
        if self.timeline is not None and not self.session.finishing.is_set():
            self.timeline.run_due(self.sub, time.monotonic())
        time.sleep(IDLE_S)
