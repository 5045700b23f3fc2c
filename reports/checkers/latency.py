"""Latency: first visibility of an id to a subscriber minus its send time (HdrHistogram, µs).

Only ids sent after the lineage first connected count: an initial snapshot of
old history is not delivery latency. Ids recovered after a reconnect do count
(the outage is latency the user saw).
"""

from __future__ import annotations

from reports.checkers.base import Checker
from reports.checkers.state import Lineage, RunState, SrcView
from reports.summary import LAT_MAX_US, new_hist


class LatencyChecker(Checker):
    name = "latency"
    view_hooks = True

    def on_added(
        self, lin: Lineage, env: str, win: str, src: str, seq: int, send_ns: int | None,
        t: int, sv: SrcView, already: bool, first: bool, state: RunState,
    ) -> None:
        if not first or not send_ns or send_ns < lin.first_t:
            return
        us = (t - send_ns) // 1000
        us = 1 if us < 1 else (LAT_MAX_US if us > LAT_MAX_US else us)
        s = state.summary
        s.latency.record_value(us)
        b = t - t % s.lat_bucket_ns
        h = s.lat_buckets.get(b)
        if h is None:
            h = s.lat_buckets[b] = new_hist(2)
        h.record_value(us)
