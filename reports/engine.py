"""The engine: one pass over time-ordered records, feeding the shared state and the checkers."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from visdom_chaos.reports.checkers import Checker, Config, default_checkers
from visdom_chaos.reports.checkers.state import RunState, SrcView
from visdom_chaos.reports.summary import Summary

Handler = Callable[[dict[str, Any]], None]
CheckHandler = Callable[[dict[str, Any], RunState], None]


class Analyzer:
    """Feed records in time order (`feed`), then `finish()` for the mergeable Summary."""

    def __init__(
        self,
        config: Config | None = None,
        checkers: list[Checker] | None = None,
        t0: int | None = None,
    ) -> None:
        self.config = config or Config()
        self.summary = Summary(t0=t0, lat_bucket_ns=self.config.lat_bucket_ns)
        self.state = RunState(self.config, self.summary)
        self.checkers = default_checkers() if checkers is None else checkers
        self._hooked = [c for c in self.checkers if c.view_hooks]
        added = [c for c in self._hooked if type(c).on_added is not Checker.on_added]
        # an id newly added is `first` (never seen in the lineage; `late` too when older than
        # the newest seen) or `already` (in view): most hooks act on one of these only, so each
        # is called only when its case holds
        self._on_added_first = [c.on_added for c in added if c.added_when in ("first", "any")]
        self._on_added_late = [
            c.on_added for c in added if c.added_when in ("late", "first", "any")
        ]
        self._on_added_already = [c.on_added for c in added if c.added_when in ("already", "any")]
        self._on_added_other = [c.on_added for c in added if c.added_when == "any"]
        st = self.state
        # per record type: the shared state's handler (before the checkers), the checkers'
        # on_record (called with the state: no wrapper per call), the engine's own (after)
        self._before: dict[str, Handler] = {
            "send": st.on_send,
            "ack": st.on_ack,
            "connect": st.on_connect,
            "disconnect": st.on_disconnect,
            "resync": st.on_resync,
            "truth": st.on_truth,
            "phase": st.on_phase,
            "fault": st.on_fault,
            "view": self._view,
        }
        self._checks: dict[str, tuple[CheckHandler, ...]] = {}
        for c in self.checkers:
            for typ in c.handles:
                self._checks[typ] = (*self._checks.get(typ, ()), c.on_record)
        self._after: dict[str, Handler] = {"apply": self._apply}
        # all three in one lookup per record
        self._plans: dict[str, tuple[Handler | None, tuple[CheckHandler, ...], Handler | None]] = {
            typ: (self._before.get(typ), self._checks.get(typ, ()), self._after.get(typ))
            for typ in {*self._before, *self._checks, *self._after}
        }
        self.counts: dict[str, int] = {}
        self.malformed: dict[str, int] = {}
        self._closed = False

    def _view(self, rec: dict[str, Any]) -> None:
        self.state.on_view(rec)

    def feed(self, rec: dict[str, Any]) -> None:
        self.feed_all((rec,))

    def feed_all(self, records: Iterable[dict[str, Any]]) -> None:
        """Feed records in time order (the hot loop: kept flat on purpose)."""
        plans = self._plans
        counts = self.counts
        st = self.state
        t_last = st.t_last
        for rec in records:
            typ = rec.get("type")
            t = rec.get("t")
            if type(t) is not int or type(typ) is not str:
                counts["bad"] = counts.get("bad", 0) + 1
                continue
            counts[typ] = counts.get(typ, 0) + 1
            if t > t_last:
                t_last = st.t_last = t
                if st.t0 is None:
                    st.t0 = self.summary.t0 = t
            if "client" not in rec:
                rec["client"] = ""
            plan = plans.get(typ)
            if plan is None:
                continue
            first, checks, last = plan
            try:
                if first is not None:
                    first(rec)
                for c in checks:
                    c(rec, st)
                if last is not None:
                    last(rec)
            except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
                self._malformed(typ, rec, exc)  # one bad record from a buggy writer is not fatal

    def _malformed(self, typ: str, rec: dict[str, Any], exc: Exception) -> None:
        n = self.malformed.get(typ, 0)
        self.malformed[typ] = n + 1
        if n == 0:
            self.summary.note(
                f"malformed {typ} record(s) skipped, first at t={rec.get('t')} from {rec.get('client')!r}: "
                f"{type(exc).__name__}: {str(exc)[:120]}"
            )

    def _apply(self, rec: dict[str, Any]) -> None:
        # the hottest path (one call per subscriber per update): lookups are inlined on purpose
        st = self.state
        t = rec["t"]
        client = rec["client"]
        lin = st.lineages.get(client)
        if lin is None:
            lin = st.lineage(client, t)
        lin.last_t = t
        env, win = rec.get("env") or "", rec.get("win") or ""
        if type(env) is not str or type(win) is not str:
            env, win = str(env), str(win)
        wkey = (env, win)
        w = lin.windows.get(wkey)
        if w is None:
            w = lin.windows[wkey] = {}
        added = rec.get("added")
        if added:
            when_first, when_already = self._on_added_first, self._on_added_already
            when_other, when_late = self._on_added_other, self._on_added_late
            for item in added:
                src, seq = item[0], item[1]
                if type(seq) is not int or type(src) is not str:
                    src, seq = str(src), int(seq)
                send_ns = item[2] if len(item) > 2 else None
                sv = w.get(src)
                if sv is None:
                    sv = w[src] = SrcView()
                already = seq in sv.visible
                first = seq not in sv.ever  # never both: what is in view was seen
                if first:
                    hooks = when_late if seq < sv.max_seen else when_first
                else:
                    hooks = when_already if already else when_other
                for h in hooks:
                    h(lin, env, win, src, seq, send_ns, t, sv, already, first, st)
                sv.visible.add(seq)
                if first:
                    sv.ever.add(seq)
                    lin.delivered += 1
                if seq > sv.max_seen:
                    sv.max_seen, sv.max_t = seq, t
        removed = rec.get("removed")
        if removed:
            command = str(rec.get("command", ""))
            for item in removed:
                src, seq = str(item[0]), int(item[1])
                lin.src_view(env, win, src).visible.discard(seq)
                for c in self._hooked:
                    c.on_removed(lin, env, win, src, seq, t, command, st)
        dup = rec.get("dup")
        if dup:
            for item in dup:
                src, seq = str(item[0]), int(item[1])
                for c in self._hooked:
                    c.on_dup(lin, env, win, src, seq, t, st)

    def finish(self) -> Summary:
        if not self._closed:
            self._closed = True
            for c in self.checkers:
                c.finish(self.state)
            self.state.close()
            s = self.summary
            s.t_end = self.state.t_last or None
            for k, v in sorted(self.counts.items()):
                s.counters[f"records.{k}"] = v
            for k, v in sorted(self.malformed.items()):
                s.counters[f"malformed.{k}"] = v
        return self.summary
