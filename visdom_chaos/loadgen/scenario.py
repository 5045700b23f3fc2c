"""`--vc-scenario`: the scenario files of `visdom-chaos run`, or a plain `[load]` table of knobs.

A scenario of `visdom-chaos run` (visdom_chaos.scenario: `[run]`, `[load]` sources and
subscriber counts, `[[behaviour]]`) becomes a Plan: training user i runs source
i (kind, rate, env, padding), browsers follow the `[[behaviour]]` timeline (client
globs such as `ws-*` match Locust's client ids), and the user counts and duration
become knobs. `[[faults]]` need the chaos proxy, which a Locust run does not start:
they are reported and ignored (put the proxy in front of Visdom and point --host at it).
A file that is not such a scenario is read as `[load]` knob keys (knobs.read_scenario).
"""

from __future__ import annotations

import fnmatch
import logging
import time
from dataclasses import dataclass
from typing import Any

from visdom_chaos.scenario import Behaviour, Scenario, ScenarioError, SourceSpec, load_scenario

log = logging.getLogger("visdom_chaos.loadgen")


@dataclass
class Plan:
    name: str
    sources: list[SourceSpec]
    behaviours: list[Behaviour]
    envs: list[str]

    def source(self, index: int) -> SourceSpec:
        return self.sources[index % len(self.sources)]

    def behaviours_for(self, client_id: str) -> list[Behaviour]:
        # Locust workers tag ids (ws-w1-3); scenarios name the untagged form (ws-3) or globs.
        parts = client_id.split("-")
        untagged = f"{parts[0]}-{parts[-1]}" if len(parts) == 3 else client_id
        return [
            b
            for b in self.behaviours
            if any(
                fnmatch.fnmatchcase(client_id, p) or fnmatch.fnmatchcase(untagged, p)
                for p in b.clients
            )
        ]


def load_plan(name_or_path: str) -> Plan | None:
    """The Plan of a `visdom-chaos run` scenario; None when the file is not one."""
    if not name_or_path:
        return None
    try:
        sc: Scenario = load_scenario(name_or_path)
    except ScenarioError as exc:
        log.debug("%s is not a run scenario (%s): reading [load] as knobs", name_or_path, exc)
        return None
    if sc.faults:
        log.warning(
            "scenario %s: %d [[faults]] need the chaos proxy, which Locust does not start; ignored "
            "(run `visdom-chaos proxy serve` in front of Visdom and point --host at it)",
            sc.name,
            len(sc.faults),
        )
    envs = sorted({s.env for s in sc.sources})
    return Plan(sc.name, list(sc.sources), list(sc.behaviours), envs)


def knobs_from_plan(name_or_path: str) -> dict[str, Any] | None:
    """Knob values a run scenario implies (user counts, duration, settle); None if not one."""
    try:
        sc = load_scenario(name_or_path)
    except ScenarioError:
        return None
    out: dict[str, Any] = {
        "training_users": len(sc.sources),
        "polling_users": sc.polling_subscribers,
        "browsers": sc.browsers,
        "users": len(sc.sources) + sc.websocket_subscribers + sc.polling_subscribers + sc.browsers,
        "duration_s": float(sc.duration_s),
        "settle_s": float(sc.settle_s),
    }
    if sc.max_updates_per_source:
        out["max_updates"] = int(sc.max_updates_per_source)
    return out


class Timeline:
    """One browser's `[[behaviour]]` events, times relative to the run start (monotonic)."""

    def __init__(self, behaviours: list[Behaviour], t0: float, horizon: float) -> None:
        from visdom_chaos.behaviours import expand

        self.t0 = t0
        self.events = expand(behaviours, horizon)
        self.i = 0
        self._later: list[tuple[float, Any]] = []
        now = time.monotonic() - t0
        while self.i < len(self.events) and self.events[self.i][0] < now:
            self.i += 1  # a browser that joins late does not replay the past

    @property
    def active(self) -> bool:
        return self.i < len(self.events) or bool(self._later)

    def next_time(self) -> float | None:
        times = [t for t, _ in self._later]
        if self.i < len(self.events):
            times.append(self.t0 + self.events[self.i][0])
        return min(times) if times else None

    def run_due(self, sub: Any, now: float) -> int:
        """Perform what is due (visdom_chaos.behaviours.perform); returns how many."""
        from visdom_chaos.behaviours import perform

        done = 0
        for item in [x for x in self._later if x[0] <= now]:
            self._later.remove(item)
            item[1]()
            done += 1
        while self.i < len(self.events) and self.t0 + self.events[self.i][0] <= now:
            _, _, b = self.events[self.i]
            self.i += 1
            perform(sub, b, lambda delay, fn: self._later.append((time.monotonic() + delay, fn)))
            done += 1
        return done
