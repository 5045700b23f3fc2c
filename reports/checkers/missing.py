"""Missing (and the stale `divergence` detail): what each subscriber should hold at the end.

Expected ids of a window = acked by the server and in the server truth at
quiescence (acked only, with a note, when the run has no truth). A lineage is
judged on its final view; a lineage that left for good (no final view) on its
last view against what was acked before it left; a lineage without any `view`
record on the replica's applied state. Transient gaps are never missing: only
what is absent at the end counts.
"""

from __future__ import annotations

from visdom_chaos.reports.checkers.base import Checker
from visdom_chaos.reports.checkers.state import Lineage, RunState
from visdom_chaos.reports.intervals import IntervalSet, difference, intersection, union
from visdom_chaos.reports.summary import FindingGroup


def _add_set(g: FindingGroup, src: str, ids: IntervalSet, state: RunState) -> None:
    if not ids:
        return
    lo, hi = ids.min(), ids.max()
    assert lo is not None and hi is not None  # a non-empty set has both ends
    g.ids[src] = union(g.ids[src], ids) if src in g.ids else ids
    log = state.sources.get(src)
    acked_at = [log.ack_time(v) for v in (lo, hi)] if log else []
    times = [t for t in acked_at if t is not None] or [state.t_last]
    g.touch(min(times))
    g.touch(max(times))


class MissingChecker(Checker):
    name = "missing"

    def _held(
        self, lin: Lineage, key: tuple[str, str]
    ) -> tuple[str, dict[str, IntervalSet], int | None]:
        """(how judged, ids held per source, ack cutoff time or None)."""
        if any(v.final for v in lin.views.values()):
            view = lin.views.get(key)
            return "final_view", (view.ids if view and view.final else {}), None
        # a subscriber that left is only expected to hold ids acked a staleness bound before it left
        bound = int(self.bound_ms * 1e6)
        cutoff = (
            None
            if lin.connected or lin.last_disconnect_t is None
            else lin.last_disconnect_t - bound
        )
        if lin.views:
            view = lin.views.get(key)
            return "last_view", (view.ids if view else {}), cutoff
        held = {src: sv.visible for src, sv in lin.windows.get(key, {}).items()}
        return "replica_state", held, cutoff

    bound_ms = 2000.0

    def finish(self, state: RunState) -> None:
        self.bound_ms = state.config.stale_bound_ms
        summary = state.summary
        windows: dict[tuple[str, str], set[str]] = {}
        for key, ids in state.truth.items():
            windows.setdefault(key, set()).update(ids)
        for src, acks in state.sources.items():
            if acks.acked and acks.win:
                windows.setdefault((acks.env, acks.win), set()).add(src)
        if not state.truth and windows:
            summary.note("no server truth in the journal: missing judged against acks only")
        unjudged: dict[str, set[str]] = {}
        for lin in state.lineages.values():
            if not lin.is_subscriber:
                continue
            for key, srcs in sorted(windows.items()):
                if lin.env is not None and key[0] not in lin.env.split(
                    ","
                ):  # "a,b": a compare view
                    continue
                how, held, cutoff = self._held(lin, key)
                if how != "final_view":
                    unjudged.setdefault(how, set()).add(lin.client)
                truth = state.truth.get(key)
                for src in sorted(srcs):
                    log = state.sources.get(src)
                    acked = log.acked if log else IntervalSet()
                    if cutoff is not None and log is not None:
                        last = log.acked_by(cutoff)
                        acked = (
                            intersection(acked, IntervalSet.from_ranges([[0, last + 1]]))
                            if last is not None
                            else IntervalSet()
                        )
                    have = held.get(src, IntervalSet())
                    expected = (
                        intersection(acked, truth[src])
                        if truth and src in truth
                        else (IntervalSet() if truth is not None else acked)
                    )
                    lost = difference(expected, have)
                    if lost:
                        _add_set(summary.group("missing", how, lin.client, *key), src, lost, state)
                    if truth is not None and how == "final_view":
                        in_truth = truth.get(src, IntervalSet())
                        extra = union(
                            difference(have, in_truth),
                            difference(difference(in_truth, acked), have),
                        )
                        if extra:
                            _add_set(
                                summary.group("stale", "divergence", lin.client, *key),
                                src,
                                extra,
                                state,
                            )
        for how, clients in sorted(unjudged.items()):
            names = ", ".join(sorted(clients)[:10]) + (" …" if len(clients) > 10 else "")
            summary.note(
                f"{len(clients)} subscriber(s) without a final view judged for missing on their "
                f"{how.replace('_', ' ')}, up to a staleness bound before they left: {names}"
            )
