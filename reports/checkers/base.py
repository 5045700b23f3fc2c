"""What a checker is: one property, fed records in time order, folding its findings into the summary.

Like Jepsen's checkers, each checker decides one property and can be composed
with the others; the engine (reports/engine.py) feeds them. The shared state
(`RunState`) is updated by the engine; checkers read it and write only their
own findings into `state.summary`.
"""

from __future__ import annotations

from typing import Any

from visdom_chaos.reports.checkers.state import Lineage, RunState, SrcView


class Checker:
    name = "checker"
    handles: tuple[str, ...] = ()  # record types passed to on_record
    view_hooks = False  # wants on_added / on_removed / on_dup for every apply
    # on_added is called only for ids newly seen in the lineage (`first`), only for those of them
    # older than the newest seen (`late`), only for ids already in view (`already`), or for
    # every added id (`any`): the engine skips the other calls
    added_when = "any"

    def on_record(self, rec: dict[str, Any], state: RunState) -> None:
        pass

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
        pass

    def on_removed(
        self,
        lin: Lineage,
        env: str,
        win: str,
        src: str,
        seq: int,
        t: int,
        command: str,
        state: RunState,
    ) -> None:
        pass

    def on_dup(
        self, lin: Lineage, env: str, win: str, src: str, seq: int, t: int, state: RunState
    ) -> None:
        pass

    def finish(self, state: RunState) -> None:
        pass
