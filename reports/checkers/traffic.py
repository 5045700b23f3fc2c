"""Traffic growth: does the cost of one update grow with history? (visdom #695)

Two measures, each the mean of the last samples over the mean of the first:
- bytes per update message a subscriber receives for a window (`traffic` records:
  0.2.4 re-sends a text window's whole content on every append);
- the server's time to answer an append (`ack` rtt per source and window).
Bounded: 20 samples at each end per (client or source, window).
"""

from __future__ import annotations

from collections import deque
from typing import Any

from visdom_chaos.reports.checkers.base import Checker
from visdom_chaos.reports.checkers.state import RunState

SAMPLE = 20


def _ratio(first: list[float], last: list[float]) -> float | None:
    if not first or not last:
        return None
    a = sum(first) / len(first)
    return round((sum(last) / len(last)) / a, 3) if a > 0 else None


class TrafficChecker(Checker):
    name = "traffic"
    handles = ("traffic", "ack")

    def __init__(self) -> None:
        self._rtt: dict[str, tuple[list[float], deque[float]]] = {}

    def on_record(self, rec: dict[str, Any], state: RunState) -> None:
        if rec["type"] == "traffic":
            key = f"{rec.get('client', '')}/{rec.get('win', '')}"
            first, last = list(rec.get("first") or []), list(rec.get("last") or [])
            state.summary.traffic[key] = {
                "kind": "bytes_per_update",
                "messages": rec.get("messages", 0),
                "bytes": rec.get("bytes", 0),
                "first_mean": round(sum(first) / len(first), 1) if first else None,
                "last_mean": round(sum(last) / len(last), 1) if last else None,
                "growth": _ratio(first, last),
            }
        elif rec.get("ok") and isinstance(rec.get("rtt_ms"), int | float):
            key = f"{rec.get('client', '')}/{rec.get('win', '')}"
            early, recent = self._rtt.setdefault(key, ([], deque(maxlen=SAMPLE)))
            if len(early) < SAMPLE:
                early.append(rec["rtt_ms"])
            recent.append(rec["rtt_ms"])

    def finish(self, state: RunState) -> None:
        for key, (first, last) in self._rtt.items():
            if len(first) + len(last) < 2 * SAMPLE:
                continue  # too few appends to compare the start with the end
            state.summary.traffic[key] = {
                "kind": "ack_rtt_ms",
                "first_mean": round(sum(first) / len(first), 3),
                "last_mean": round(sum(last) / len(last), 3),
                "growth": _ratio(first, list(last)),
            }


def traffic_section(traffic: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """report.json `traffic`: the largest growth of each kind, and every window's figures."""

    def worst(kind: str) -> float | None:
        vals = [
            t["growth"]
            for t in traffic.values()
            if t.get("kind") == kind and t.get("growth") is not None
        ]
        return max(vals) if vals else None

    return {
        "bytes_per_update_growth": worst("bytes_per_update"),
        "ack_rtt_growth": worst("ack_rtt_ms"),
        "windows": dict(sorted(traffic.items())),
    }
