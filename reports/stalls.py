"""Slow and stalled subscribers over time, and how server RSS grows while they are there.

A subscriber is slow from a stall/slow fault naming it (for the fault's `seconds`, or until it
disconnects) and over the span of its stale `lag` findings. The RSS series of the steady phase is
then split in two: growth while at least one subscriber is slow, and while none is — unbounded
per-client buffering shows as growth that only happens in the first.
"""

from __future__ import annotations

from typing import Any

from visdom_chaos.reports.summary import Summary

Interval = tuple[int, int]


def is_stall(f: dict[str, Any]) -> bool:
    return any(w in f"{f.get('kind')} {f.get('toxic')}" for w in ("stall", "slow"))


def slow_intervals(summary: Summary) -> dict[str, list[Interval]]:
    end = summary.t_end or 0
    out: dict[str, list[Interval]] = {}
    for f in summary.faults:
        client = f.get("client")
        if not is_stall(f) or client not in summary.subscribers:
            continue
        start = f["t"]
        detail = f.get("detail")
        secs = detail.get("seconds") if isinstance(detail, dict) else None
        stop = start + int(secs * 1e9) if isinstance(secs, int | float) and secs > 0 else end
        for t, what, _ in summary.timeline.get(client, []):  # a disconnect ends the stall
            if what == "disconnect" and start <= t < stop:
                stop = t
                break
        out.setdefault(client, []).append((start, min(stop, end)))
    for g in summary.groups.values():
        if (
            g.kind == "stale"
            and g.detail == "lag"
            and g.t_first is not None
            and g.t_last is not None
        ):
            out.setdefault(g.client, []).append((g.t_first, g.t_last))
    return out


def slow_count_series(intervals: dict[str, list[Interval]]) -> list[tuple[int, int]]:
    """[(t, number of slow subscribers from t on)], merging each client's own overlaps."""
    events: list[tuple[int, int]] = []
    for spans in intervals.values():
        merged: list[list[int]] = []
        for s, e in sorted(spans):
            if merged and s <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], e)
            else:
                merged.append([s, e])
        for s, e in merged:
            events += [(s, 1), (e, -1)]
    n, out = 0, []
    for t, d in sorted(events):
        n += d
        out.append((t, n))
    return out


def _count_at(series: list[tuple[int, int]], t: int) -> int:
    n = 0
    for ts, c in series:
        if ts > t:
            break
        n = c
    return n


def rss_vs_slow(summary: Summary, series: list[tuple[int, int]]) -> dict[str, Any]:
    """RSS growth rate (MiB/min) over the steady phase while >= 1 subscriber is slow, and while none is.

    Each step between consecutive samples goes to the side that held at its start, so growth
    during a stall is never smeared over the calm stretches around it (as one fit across a level
    shift would).
    """
    lo = summary.phases.get("steady")
    hi = summary.phases.get("sources_stopped")
    pts = [
        (p[0], p[1])
        for p in summary.rss_series
        if (lo is None or p[0] >= lo) and (hi is None or p[0] <= hi)
    ]
    grow = {True: 0.0, False: 0.0}
    span = {True: 0, False: 0}
    steps = {True: 0, False: 0}
    for (t1, r1), (t2, r2) in zip(pts, pts[1:], strict=False):
        side = _count_at(series, t1) > 0
        grow[side] += r2 - r1
        span[side] += t2 - t1
        steps[side] += 1

    def rate(side: bool) -> float | None:
        return round(grow[side] / (span[side] / 60e9), 3) if span[side] > 0 else None

    return {
        "growth_while_slow_mib_per_min": rate(True),
        "minutes_while_slow": round(span[True] / 60e9, 3),
        "growth_while_none_slow_mib_per_min": rate(False),
        "minutes_while_none_slow": round(span[False] / 60e9, 3),
    }
