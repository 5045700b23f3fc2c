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

from typing import Any

from visdom_chaos.reports.checkers.base import Checker
from visdom_chaos.reports.checkers.state import Lineage, RunState, SrcView
from visdom_chaos.reports.intervals import IntervalSet
from visdom_chaos.reports.summary import LAT_MAX_US, new_hist

FLUSH_AT = 200_000  # distinct (bucket, value) keys before folding into the histograms


class LatencyChecker(Checker):
    name = "latency"
    view_hooks = True
    added_when = "first"

    def __init__(self) -> None:
        self.counts: dict[tuple[int, int], int] = {}

    def on_added(
        self,
        lin: Lineage,
        env: str,
        win: str,
        src: str,
        seq: int,
        send_ns: int | None,
        t: int,
        sv: SrcView,
        already: bool,
        first: bool,
        state: RunState,
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


class WireLatencyChecker(Checker):
    """Wire latency: the first time an update's own id arrives on a subscriber's socket
    (`recv` `rx`, stamped before parsing) minus its send time. What Visdom and the network
    take, without the browser model; `latency_ms` (first visible) adds the tab's own work.

    Update frames only (`kind` `update`, their `heads`): a snapshot brings old ids back
    after a reload, which is recovery, not delivery. Ids sent before the lineage first
    connected do not count, as for the view latency.
    """

    name = "latency_wire"
    handles = ("recv",)

    def __init__(self) -> None:
        self.seen: dict[tuple[str, str], IntervalSet] = {}
        self.counts: dict[int, int] = {}

    def on_record(self, rec: dict[str, Any], state: RunState) -> None:
        heads = rec.get("heads")
        rx = rec.get("rx")
        if not heads or rec.get("kind") != "update" or type(rx) is not int:
            return
        client = rec["client"]
        lin = state.lineages.get(client)
        first_t = lin.first_t if lin is not None else 0
        for src, head in heads.items():
            seq, send_ns = int(head[0]), int(head[1] or 0)
            if not send_ns or send_ns < first_t:
                continue
            key = (client, src)
            seen = self.seen.get(key)
            if seen is None:
                seen = self.seen[key] = IntervalSet()
            if not seen.add(seq):
                continue  # not the first arrival of this id
            us = (rx - send_ns) // 1000
            us = 1 if us < 1 else (LAT_MAX_US if us > LAT_MAX_US else us)
            shift = us.bit_length() - 11
            if shift > 0:
                us = us >> shift << shift
            self.counts[us] = self.counts.get(us, 0) + 1

    def finish(self, state: RunState) -> None:
        h = state.summary.latency_wire
        for us, n in self.counts.items():
            h.record_value(us, n)
        self.counts.clear()
