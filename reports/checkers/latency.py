"""Latency: first visibility of an id to a subscriber minus its send time (HdrHistogram, µs).

Only ids sent after the lineage first connected count: an initial snapshot of
old history is not delivery latency. Ids recovered after a reconnect do count
(the outage is latency the user saw).

Recording into HdrHistogram costs microseconds per value, so values are first
rounded to the histogram's own resolution (3 significant digits: 11 bits) and
counted in a dict, then recorded with their counts at the end: same result,
bounded memory (distinct values are at most ~2048 per power of two).
"""

from __future__ import annotations

from reports.checkers.base import Checker
from reports.checkers.state import Lineage, RunState, SrcView
from reports.summary import LAT_MAX_US, new_hist

FLUSH_AT = 200_000  # distinct (bucket, value) keys before folding into the histograms


class LatencyChecker(Checker):
    name = "latency"
    view_hooks = True

    def __init__(self) -> None:
        self.counts: dict[tuple[int, int], int] = {}

    def on_added(
        self, lin: Lineage, env: str, win: str, src: str, seq: int, send_ns: int | None,
        t: int, sv: SrcView, already: bool, first: bool, state: RunState,
    ) -> None:
        if not first or not send_ns or send_ns < lin.first_t:
            return
        us = (t - send_ns) // 1000
        us = 1 if us < 1 else (LAT_MAX_US if us > LAT_MAX_US else us)
        shift = us.bit_length() - 11
        if shift > 0:
            us = us >> shift << shift
        key = (t - t % state.summary.lat_bucket_ns, us)
        counts = self.counts
        counts[key] = counts.get(key, 0) + 1
        if len(counts) >= FLUSH_AT:
            self._flush(state)

    def _flush(self, state: RunState) -> None:
        s = state.summary
        for (b, us), n in self.counts.items():
            s.latency.record_value(us, n)
            h = s.lat_buckets.get(b)
            if h is None:
                h = s.lat_buckets[b] = new_hist(2)
            h.record_value(us, n)
        self.counts.clear()
        s.lat_buckets = dict(sorted(s.lat_buckets.items()))

    def finish(self, state: RunState) -> None:
        self._flush(state)
