"""Shared streaming state of one analysis: sources' acks, subscriber lineages and their views.

Memory is proportional to sources + subscribers x windows x sources: seqs live in
IntervalSets (runs), ack times in a sparse index (one entry per source per 10 ms
bucket), never one entry per event.
"""

from __future__ import annotations

from array import array
from bisect import bisect_right
from dataclasses import dataclass, field
from itertools import compress, count, repeat
from operator import add, itemgetter, lt, ne
from typing import Any

from visdom_chaos.reports.intervals import IntervalSet
from visdom_chaos.reports.summary import MAX_FAULTS, MAX_TIMELINE, Summary

ACK_INDEX_NS = 10_000_000  # ack times are known to within 10 ms
_FIRST, _SECOND = itemgetter(0), itemgetter(1)


@dataclass
class Config:
    stale_bound_ms: float = (
        2000.0  # an id visible later than this after its ack (while connected) is stale
    )
    ghost_settle_s: float = 5.0  # a gone client's server socket may linger this long
    memory_bound_mib_per_min: float = 5.0
    memory_min_growth_mib: float = (
        16.0  # and the fit must add this much: warm-up of a short run is no leak
    )
    reload_storm_per_min: float = (
        6.0  # non-initial resyncs per subscriber-minute counted as a storm
    )
    reload_storm_min: int = (
        3  # ...and at least this many: one reload in a 5 s connection is no storm
    )
    fault_window_s: float = 10.0  # faults this long before a finding are "near" it
    lat_bucket_ns: int = 1_000_000_000
    # The observer lost headroom (its timing findings are untrusted) when any of these held
    # during the load; reports/README.md ("Observer") says why these bounds.
    observer_backlog_p99_ms: float = 100.0  # a replica subscriber's receive backlog p99
    observer_cpu_pct: float = 80.0  # a harness process at or above this % of one core ...
    observer_cpu_sustained_s: float = 5.0  # ... for this long without a break
    observer_end_lag_s: float = 1.0  # the last frame handled this long after it was read
    observer_server_busy_pct: float = (
        10.0  # server CPU above this after the last ack: still working
    )
    # errors and reloads of unknown cause above this share (and at least unknown_cause_min of
    # them) are a finding of their own: the report cannot say why they happened
    unknown_cause_share: float = 0.05
    unknown_cause_min: int = 3


class AckLog:
    """One training source: sent and acked seqs plus a sparse ack-time index.

    The index holds the first ack of each 10 ms bucket in two int64 arrays
    (16 bytes per entry: ~6 MB per source-hour at 100+ acks/s, nothing per event).
    """

    __slots__ = (
        "sent",
        "acked",
        "failed",
        "env",
        "win",
        "kind",
        "_idx_seq",
        "_idx_t",
        "_bucket",
    )

    def __init__(self) -> None:
        self.sent = IntervalSet()
        self.acked = IntervalSet()
        self.failed = 0
        self.env = ""
        self.win = ""
        self.kind = ""  # the send records' window kind (line, text, image, ...)
        self._idx_seq = array("q")
        self._idx_t = array("q")
        self._bucket = -1

    def ack(self, seq: int, t: int) -> None:
        self.acked.add(seq)
        b = t // ACK_INDEX_NS
        if b != self._bucket and (not self._idx_seq or seq > self._idx_seq[-1]):
            self._bucket = b
            self._idx_seq.append(seq)
            self._idx_t.append(t)

    def ack_time(self, seq: int) -> int | None:
        """When seq was acked (at most 10 ms early), None if it was not acked."""
        if seq not in self.acked:
            return None
        i = bisect_right(self._idx_seq, seq) - 1
        return self._idx_t[i] if i >= 0 else (self._idx_t[0] if self._idx_t else None)

    def acked_by(self, t: int) -> int | None:
        """The highest seq acked at or before t (to within 10 ms)."""
        i = bisect_right(self._idx_t, t) - 1
        if i < 0:
            return None
        nxt = self._idx_seq[i + 1] - 1 if i + 1 < len(self._idx_seq) else self.acked.max()
        return nxt


class SrcView:
    """One source's ids in one subscriber's window."""

    __slots__ = ("visible", "ever", "max_seen", "max_t")

    def __init__(self) -> None:
        self.visible = IntervalSet()  # in view now (current connection)
        self.ever = IntervalSet()  # ever visible in this lineage
        self.max_seen = -1
        self.max_t = 0


@dataclass
class View:
    t: int
    final: bool
    ids: dict[str, IntervalSet]


@dataclass
class Lineage:
    client: str
    transport: str = ""
    env: str | None = None
    conn: int = 0
    conns: int = 0
    connected: bool = False
    connect_t: int = 0
    first_t: int = 0
    last_t: int = 0
    last_reset_t: int = 0  # last resync or (re)connect: ids recovered after it fill a gap
    last_disconnect_t: int | None = None
    connected_ns: int = 0
    local_port: int | None = None
    delivered: int = 0
    windows: dict[tuple[str, str], dict[str, SrcView]] = field(default_factory=dict)
    views: dict[tuple[str, str], View] = field(default_factory=dict)
    resyncs: dict[str, int] = field(default_factory=dict)
    disconnects: dict[str, int] = field(default_factory=dict)  # reason -> how many

    @property
    def is_subscriber(self) -> bool:
        return bool(self.conns or self.windows or self.views)

    def src_view(self, env: str, win: str, src: str) -> SrcView:
        w = self.windows.get((env, win))
        if w is None:
            w = self.windows[(env, win)] = {}
        sv = w.get(src)
        if sv is None:
            sv = w[src] = SrcView()
        return sv


IdSets = tuple[dict[str, IntervalSet], list[tuple[str, int]]]


class IdsFold:
    """Folds a view's or truth's [[src, seq, ...]...] list, fed in pieces of any size, into
    interval sets per source, the repeated ids, and one number for their order (`order`:
    equal exactly when two lists name the same ids in the same order; within one process,
    as str hashes are salted). Each piece is read at C speed where it can be: one source,
    ascending seqs, the common shape of a long final view."""

    GROUP = 4096  # ids hashed together: the order number does not depend on how pieces split

    __slots__ = ("sets", "repeats", "_order", "_srcs", "_seqs")

    def __init__(self) -> None:
        self.sets: dict[str, IntervalSet] = {}
        self.repeats: list[tuple[str, int]] = []
        self._order = 0
        self._srcs: list[str] = []  # ids not yet hashed (fewer than GROUP)
        self._seqs: list[int] = []

    def feed(self, items: Any) -> None:
        srcs = list(map(str, map(_FIRST, items)))
        seqs = list(map(int, map(_SECOND, items)))
        self._fold_order(srcs, seqs)
        if not seqs:
            return
        src = srcs[0]
        s = self.sets.get(src)
        if (
            srcs.count(src) == len(srcs)
            and all(map(lt, seqs, seqs[1:]))
            and (s is None or (m := s.max()) is None or seqs[0] > m)
        ):
            breaks = list(compress(count(1), map(ne, seqs[1:], map(add, seqs, repeat(1)))))
            starts = [seqs[0], *(seqs[b] for b in breaks)]
            ends = [*(seqs[b - 1] + 1 for b in breaks), seqs[-1] + 1]
            if s is None:
                self.sets[src] = IntervalSet.from_sorted_runs(starts, ends, len(seqs))
            else:
                for lo, hi in zip(starts, ends, strict=True):
                    s.add_range(lo, hi)
            return
        out, repeats = self.sets, self.repeats
        for src, seq in zip(srcs, seqs, strict=True):
            s = out.get(src)
            if s is None:
                s = out[src] = IntervalSet()
            if not s.add(seq):
                repeats.append((src, seq))

    def _fold_order(self, srcs: list[str], seqs: list[int]) -> None:
        ps, pq = self._srcs, self._seqs
        ps += srcs
        pq += seqs
        g = self.GROUP
        if len(ps) >= g:
            n = len(ps) - len(ps) % g
            for i in range(0, n, g):
                self._order = hash((self._order, tuple(ps[i : i + g]), tuple(pq[i : i + g])))
            del ps[:n], pq[:n]

    @property
    def order(self) -> int:
        return hash((self._order, tuple(self._srcs), tuple(self._seqs)))


def ids_by_source(items: Any) -> IdSets:
    """Group [[src, seq, ...]...] by source; also return the repeated ids."""
    fold = IdsFold()
    fold.feed(items or ())
    return fold.sets, fold.repeats


def record_ids(rec: dict[str, Any]) -> IdSets:
    """A view/truth record's ids as interval sets, and their order (`record_order`), cached
    on the record (the reader pre-fills both for the long lines it reads as sets)."""
    cached = rec.get("_ids")
    if cached is None:
        fold = IdsFold()
        fold.feed(rec.get("ids") or ())
        cached = rec["_ids"] = (fold.sets, fold.repeats)
        rec["_order"] = fold.order
    return cached


def record_order(rec: dict[str, Any]) -> int:
    """A view/truth record's ids in their order as one number (IdsFold.order)."""
    order = rec.get("_order")
    if order is None:
        rec.pop("_ids", None)
        record_ids(rec)
        order = rec["_order"]
    return order


class RunState:
    def __init__(self, config: Config, summary: Summary) -> None:
        self.config = config
        self.summary = summary
        self.sources: dict[str, AckLog] = {}
        self.lineages: dict[str, Lineage] = {}
        self.truth: dict[tuple[str, str], dict[str, IntervalSet]] = {}
        self.phases: dict[str, int] = summary.phases
        self.t0: int | None = summary.t0
        self.t_last = 0

    # -- sources -------------------------------------------------------------
    def source(self, src: str) -> AckLog:
        log = self.sources.get(src)
        if log is None:
            log = self.sources[src] = AckLog()
        return log

    def on_send(self, rec: dict[str, Any]) -> None:
        log = self.source(rec["client"])
        log.sent.add(int(rec["seq"]))
        log.env, log.win = str(rec.get("env", "")), str(rec.get("win", ""))
        log.kind = str(rec.get("kind") or log.kind)

    def on_ack(self, rec: dict[str, Any]) -> None:
        log = self.source(rec["client"])
        if rec.get("ok"):
            log.ack(int(rec["seq"]), rec["t"])
            if rec.get("win"):
                log.env, log.win = str(rec.get("env", log.env)), str(rec["win"])
        else:
            log.failed += 1

    # -- lineages ------------------------------------------------------------
    def lineage(self, client: str, t: int) -> Lineage:
        lin = self.lineages.get(client)
        if lin is None:
            lin = self.lineages[client] = Lineage(client, first_t=t)
        lin.last_t = t
        return lin

    def event(self, client: str, t: int, what: str, detail: str = "") -> None:
        tl = self.summary.timeline.setdefault(client, [])
        if len(tl) < MAX_TIMELINE:
            tl.append((t, what, detail))

    def on_connect(self, rec: dict[str, Any]) -> None:
        t = rec["t"]
        lin = self.lineage(rec["client"], t)
        if lin.connected:  # a connect without a disconnect: close the old one here
            lin.connected_ns += t - lin.connect_t
        lin.transport = lin.transport or str(rec.get("transport") or "")
        lin.env = rec.get("env", lin.env)
        lin.conn = int(rec.get("conn") or lin.conn + 1)
        lin.conns += 1
        lin.connected = True
        lin.connect_t = lin.last_reset_t = t
        lin.local_port = rec.get("local_port")
        for w in lin.windows.values():  # a new connection starts with an empty view
            for sv in w.values():
                sv.visible.clear()
        self.event(lin.client, t, "connect", str(lin.conn))

    def on_disconnect(self, rec: dict[str, Any]) -> None:
        t = rec["t"]
        lin = self.lineage(rec["client"], t)
        if lin.connected:
            lin.connected_ns += t - lin.connect_t
        lin.connected = False
        lin.last_disconnect_t = t
        reason = str(rec.get("reason", ""))
        lin.disconnects[reason] = lin.disconnects.get(reason, 0) + 1
        self.event(lin.client, t, "disconnect", reason)

    def on_resync(self, rec: dict[str, Any]) -> None:
        t = rec["t"]
        lin = self.lineage(rec["client"], t)
        lin.last_reset_t = t
        reason = str(rec.get("reason", ""))
        lin.resyncs[reason] = lin.resyncs.get(reason, 0) + 1
        if (reason == "switch_env" or rec.get("switch")) and rec.get("env"):
            lin.env = str(rec["env"])  # the tab now shows another env: judge that one at the end
        if reason != "initial":
            self.event(lin.client, t, "resync", reason)

    def on_view(self, rec: dict[str, Any]) -> list[tuple[str, int]]:
        lin = self.lineage(rec["client"], rec["t"])
        ids, repeats = record_ids(rec)
        key = (str(rec.get("env", "")), str(rec.get("win", "")))
        old = lin.views.get(key)
        final = bool(rec.get("final"))
        if (
            old is None or not old.final or final
        ):  # a final view is never replaced by a non-final one
            lin.views[key] = View(rec["t"], final, ids)
        return repeats

    # -- server side -----------------------------------------------------------
    def on_truth(self, rec: dict[str, Any]) -> None:
        if rec.get("win") is None:  # the orchestrator could not fetch this env's truth
            self.summary.note(
                f"server truth of env {rec.get('env')!r} unavailable: {rec.get('error', 'no window')}"
            )
            return
        ids, _ = record_ids(rec)
        self.truth[(str(rec.get("env", "")), str(rec.get("win", "")))] = ids

    def on_phase(self, rec: dict[str, Any]) -> None:
        self.phases.setdefault(str(rec.get("name", "")), rec["t"])

    def on_fault(self, rec: dict[str, Any]) -> None:
        if len(self.summary.faults) < MAX_FAULTS:
            f = {
                k: rec.get(k) for k in ("t", "client", "proxy", "toxic", "kind", "stream", "detail")
            }
            detail = f["detail"]
            if isinstance(detail, dict) and isinstance(detail.get("client"), str):
                f["client"] = detail[
                    "client"
                ]  # a toxic aimed at one client: whose connection it touched
            self.summary.faults.append(f)
        elif "faults truncated" not in " ".join(self.summary.notes):
            self.summary.note(f"faults truncated to the first {MAX_FAULTS}")

    # -- end -----------------------------------------------------------------
    def close(self) -> None:
        """Fold lineage state into the summary (subscribers, totals)."""
        s = self.summary
        for src, log in self.sources.items():
            s.sent[src] = log.sent
            s.acked[src] = log.acked
        for c, lin in self.lineages.items():
            if not lin.is_subscriber:
                continue
            connected = lin.connected_ns + (self.t_last - lin.connect_t if lin.connected else 0)
            s.subscribers[c] = {
                "transport": lin.transport,
                "env": lin.env,
                "conns": lin.conns,
                "connected_ns": connected,
                "first_t": lin.first_t,
                "last_t": lin.last_t,
                "delivered": lin.delivered,
                "resyncs": dict(lin.resyncs),
                "disconnects": dict(lin.disconnects),
                "ended_connected": lin.connected,
            }
