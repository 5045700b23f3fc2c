"""Reorder: ids applied in a different order than they were acked.

A training source acks in seq order, so an id becoming visible for the first
time after a higher seq of the same source was already visible to that
subscriber is applied out of order. Those recovered by a resync or reconnect
after the higher seq appeared are transient gaps (detail `after_gap`): the
update was lost on the way and restored by a full reload, counted apart from
in-stream reordering (`in_stream`) and never as missing.
"""

from __future__ import annotations

from reports.checkers.base import Checker
from reports.checkers.state import Lineage, RunState, SrcView


class ReorderChecker(Checker):
    name = "reorder"
    view_hooks = True

    def on_added(
        self, lin: Lineage, env: str, win: str, src: str, seq: int, send_ns: int | None,
        t: int, sv: SrcView, already: bool, first: bool, state: RunState,
    ) -> None:
        if not first or seq >= sv.max_seen:
            return
        detail = "after_gap" if lin.last_reset_t > sv.max_t else "in_stream"
        g = state.summary.group("reorder", detail, lin.client, env, win)
        g.add(src, seq, t)
