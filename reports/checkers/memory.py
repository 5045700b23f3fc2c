"""Memory growth: least-squares slope of server RSS over the steady phase (MiB/min).

Steady phase = between the `steady` and `sources_stopped` phase records; the
whole sample series when the run has no such phases. The report flags the
slope against a bound and relates it to the number of slow/stalled subscribers.
"""

from __future__ import annotations

from typing import Any

from visdom_chaos.reports.checkers.base import Checker
from visdom_chaos.reports.checkers.state import RunState
from visdom_chaos.reports.summary import MAX_SERIES


class MemoryChecker(Checker):
    name = "memory"
    handles = ("sample", "phase")

    def __init__(self) -> None:
        self.in_steady = False
        self.every = 1  # keep every n-th sample in the plotted series (doubles when full)
        self.k = 0

    def on_record(self, rec: dict[str, Any], state: RunState) -> None:
        if rec["type"] == "phase":
            name = rec.get("name")
            if name == "steady":
                self.in_steady = True
            elif name in ("sources_stopped", "quiescent", "end", "interrupted"):
                self.in_steady = False
            return
        rss = rec.get("rss_mib")
        if not isinstance(rss, int | float):
            return
        s = state.summary
        t = rec["t"]
        x = t / 60e9  # minutes since the epoch; the co-moment form keeps this well conditioned
        s.rss_all.add(x, float(rss))
        if self.in_steady:
            s.rss_steady.add(x, float(rss))
        if s.rss_first is None or t < s.rss_first[0]:
            s.rss_first = (t, float(rss))
        if s.rss_last is None or t >= s.rss_last[0]:
            s.rss_last = (t, float(rss))
        s.rss_peak = float(rss) if s.rss_peak is None else max(s.rss_peak, float(rss))
        self.k += 1
        if self.k % self.every == 0:
            s.rss_series.append((t, float(rss), int(rec.get("conns") or 0)))
            if len(s.rss_series) >= MAX_SERIES:
                s.rss_series = s.rss_series[::2]
                self.every *= 2
