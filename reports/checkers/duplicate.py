"""Duplicate: an id present twice in a view, or applied twice."""

from __future__ import annotations

from typing import Any

from visdom_chaos.reports.checkers.base import Checker
from visdom_chaos.reports.checkers.state import Lineage, RunState, SrcView, record_ids


class DuplicateChecker(Checker):
    name = "duplicate"
    handles = ("view",)
    view_hooks = True
    added_when = "already"

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
        if already:  # added while already in this connection's view: applied twice
            state.summary.group("duplicate", "applied_twice", lin.client, env, win).add(src, seq, t)

    def on_dup(
        self, lin: Lineage, env: str, win: str, src: str, seq: int, t: int, state: RunState
    ) -> None:
        state.summary.group("duplicate", "in_view", lin.client, env, win).add(src, seq, t)

    def on_record(self, rec: dict[str, Any], state: RunState) -> None:
        _, repeats = record_ids(rec)
        for src, seq in repeats:
            state.summary.group(
                "duplicate",
                "in_view",
                rec["client"],
                str(rec.get("env", "")),
                str(rec.get("win", "")),
            ).add(src, seq, rec["t"])
