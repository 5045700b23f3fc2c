"""Reorder: ids applied in a different order than they were acked.

A training source acks in seq order, so an id becoming visible for the first
time after a higher seq of the same source was already visible to that
subscriber is applied out of order. Those recovered by a resync or reconnect
after the higher seq appeared are transient gaps (detail `after_gap`): the
update was lost on the way and restored by a full reload, counted apart from
in-stream reordering (`in_stream`) and never as missing.
"""

from __future__ import annotations

from visdom_chaos.reports.checkers.base import Checker
from visdom_chaos.reports.checkers.state import Lineage, RunState, SrcView


class ReorderChecker(Checker):
    name = "reorder"
    view_hooks = True
    added_when = "late"
    handles = ("apply", "accept")

    def __init__(self) -> None:
        # (client, conn, env, win, src, record type) -> newest head applied on that connection
        self._heads: dict[tuple[str, int, str, str, str, str], int] = {}

    def on_record(self, rec: dict, state: RunState) -> None:
        """An accept or render that takes a window back to an older update than one already
        taken (e.g. 0.2.4 polling hands a batch back newest-first): that update was applied
        out of ack order (detail `older_after_newer`), even if its ids were already visible.
        Accepts and renders are followed separately (a render batches several accepts)."""
        env, win = rec.get("env", ""), rec.get("win", "")
        for src, head in (rec.get("head") or {}).items():
            key = (rec.get("client", ""), rec.get("conn", 0), env, win, src, rec["type"])
            prev = self._heads.get(key)
            if prev is not None and head < prev:
                g = state.summary.group(
                    "reorder", "older_after_newer", rec.get("client", ""), env, win
                )
                g.add(src, head, rec["t"])
            else:
                self._heads[key] = head

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
        if not first or seq >= sv.max_seen:
            return
        detail = "after_gap" if lin.last_reset_t > sv.max_t else "in_stream"
        g = state.summary.group("reorder", detail, lin.client, env, win)
        g.add(src, seq, t)
