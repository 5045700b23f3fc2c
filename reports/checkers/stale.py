"""Stale: the view went backwards, an id showed up too late while connected, or the final view
differs from the server's truth.

- `regression`: an apply removed ids that had been acked before it (an older
  snapshot replaced a newer view). Removal by a `close` command is not one, nor by
  the next update of a window each update replaces (`image`, `images` sources).
- `lag`: an id first became visible more than `stale_bound_ms` after
  max(its ack, the current connection's start), i.e. while the subscriber was
  connected and could have had it. Ack times are known to within 10 ms.
- `divergence`: at the end, ids in the final view that the server does not
  hold, or held ids that were never acked and are not in the view (held and
  acked but absent ids are `missing`, not counted twice). Judged by the
  missing checker's expectations (reports/checkers/missing.py).
"""

from __future__ import annotations

from visdom_chaos.reports.checkers.base import Checker
from visdom_chaos.reports.checkers.state import Lineage, RunState, SrcView

# windows each update replaces whole (the real client's image/images: the caption holds the
# newest id only), so an older id leaving the view is the update, not a regression
REPLACING_KINDS = frozenset({"image", "images"})


class StaleChecker(Checker):
    name = "stale"
    view_hooks = True
    added_when = "first"

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
        if not first:
            return
        bound_ns = state.config.stale_bound_ms * 1e6
        if send_ns and t - send_ns <= bound_ns:  # an ack comes after its send: cannot be late
            return
        log = state.sources.get(src)
        if log is None:
            return
        ack_t = log.ack_time(seq)
        if ack_t is None:  # visible before its ack: not late
            return
        lag_ns = t - max(ack_t, lin.connect_t)
        if lag_ns > bound_ns:
            g = state.summary.group("stale", "lag", lin.client, env, win)
            g.add(src, seq, t)
            g.info["max_lag_ms"] = max(g.info.get("max_lag_ms", 0), round(lag_ns / 1e6, 1))

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
        if command == "close":
            return
        log = state.sources.get(src)
        if log is not None and log.kind in REPLACING_KINDS:
            return  # each update replaces the pane (its caption carries one id): not backwards
        if log is not None and seq in log.acked:
            state.summary.group("stale", "regression", lin.client, env, win).add(src, seq, t)
