"""Browser fidelity, in the one pass: what the real Chromium tabs journalled, and what
comparing them with the replica subscribers needs (docs/browser.md).

Inputs: the tabs' `browser_sample`, `browser_seen`, `protocol_error` and `resync`
(`env_request`) records; every subscriber's `connect`/`disconnect` and final `view`; the
`truth`; the sources' `send`/`ack` (when the load ran); the replicas' `apply` (the ids
each made visible, for the latency of the same ids).

Output, `summary.browser` (empty when no subscriber has transport `browser`):
- `browsers`: per tab, its `samples` [t, js_heap_mib, js_heap_total_mib, nodes, listeners]
  (the first MAX_SAMPLES), `heap` (js_heap_mib first / max / last / samples), `errors`
  per kind, the first MAX_ERRORS `console_errors` / `page_errors` [t, detail],
  `env_refetches`, and `seen` (its first-seen stamping: records, ids, losses, page time,
  the last clock offset);
- `views`: per replica and tab and window, its final view against the server truth
  (`final_ids`; with a truth also `absent`, `extra`, `equal_truth` — same ids in the same
  order — and `off_by`, ids different or repeated);
- `truth_ids`: per window, the ids of the server truth;
- `minutes`: per subscriber, minutes connected between the first send and the last ack
  (null without sends);
- `latency`: the latency rows of the same ids, replica against page (below).
Per-client parts merge as unions (a tab and a replica live in one process's journals);
the latency rows are per process (`merge_browser`). The verdicts on views, findings and
reloads are reports/browser.py's, from these figures and the summary's finding groups.

Latency, same ids on both sides: per window and overall, for the ids at least one replica
and at least one browser saw, each side's first-visible latency — replica: its first
`apply` with the id in `added`, minus the id's send time; browser: the page's first-seen
stamp (`browser_seen`, corrected to time.time_ns()), minus the send time — over every
(subscriber, id) pair of that side, with each side's p50 / p99 and the ratio replica /
browser. Only ids sent after a subscriber first connected count for it (history in its
first snapshot is not delivery, as in reports/checkers/latency.py). Per id also the page's
median latency minus the replicas' (`page_later`: p25 and p50 over the ids). A row agrees
when:
  - the typical update: the page shows the same ids at most LATENCY_PAGE_LATER_MAX_MS (one
    100 ms render batch) later than the replica at the median (`page_later` p50) — after the
    same batch it spends React's render and Plotly's draw, which the replica's zero-time JS
    does not (measured 29–76 ms per id for a line window on 0.3.0, 13–26 ms for text, on a
    quiet 2-core machine) — and the replica, for the quarter of ids it is latest on
    (`page_later` p25), at most ×LATENCY_RATIO_MAX of the page's p50 (at least
    LATENCY_SLACK_MS p50) later than the page: beyond, `replica_slower`, the
    instrument lagging (its timers, a starved process, a receive backlog: DESIGN.md "The
    observer must be faster than what it observes"), or the replica showing ids at a later
    render than the page. Judged per id, not by the sides' own p50s: each side's latencies
    are bimodal (an id that lands while a batch is pending shows within ~0–40 ms, one that
    starts the batch after ~100 ms), so a side's median jumps between the modes when the
    split is near one half, and a fixed render cost moves ids across it;
  - the tail: p99 within [LATENCY_RATIO_MIN, LATENCY_RATIO_MAX] of the page's, or within
    LATENCY_SLACK_MS p99 (100 ms, one batch).
Bounded memory: at most LATENCY_MAX_IDS ids per window are joined; past it only every
2nd, 4th… seq is kept (the same seqs on both sides), and the row says so (`sampled_every`).
Replica applies are joined from the first browser `connect` on: none is needed before (an
id a replica shows before any tab connected was sent before every tab's first connect, so
no tab's latency counts it), and a run without tabs joins nothing.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from typing import Any

from visdom_chaos.reports.checkers.base import Checker
from visdom_chaos.reports.checkers.state import IdSets, RunState, record_ids, record_order
from visdom_chaos.reports.intervals import IntervalSet, difference

MAX_SAMPLES = 20_000  # browser_sample records kept per tab: 5.5 h at one a second
MAX_ERRORS = 20  # console / page errors listed per tab (all are counted)
LATENCY_RATIO_MIN = 0.5  # replica / browser: the page's render + draw after the batch
LATENCY_RATIO_MAX = 1.5  # replica / browser: timing noise; beyond it the instrument lags
LATENCY_SLACK_MS = {"p50": 25.0, "p99": 100.0}  # absolute differences that never flag
LATENCY_PAGE_LATER_MAX_MS = 100.0  # per id, page minus replica: one render batch of draw
# A tab whose event loop (loaded, under load) was held up longer lost its headroom: five render
# batches, which alone can double the p99 of ~100 ids. One batch is too tight here: healthy
# tabs miss a tick by 80-400 ms in their own reload storms (every pane re-rendered).
PAGE_STALL_MS = 500.0
LATENCY_MAX_IDS = 20_000  # ids joined per window (then every 2nd, 4th… seq)
REPLICA_TRANSPORTS = ("websocket", "polling")


def window_key(env: Any, win: Any) -> str:
    return f"{env}/{win}" if env else str(win)


def _new_tab() -> dict[str, Any]:
    return {
        "samples": [],
        "heap": None,
        "errors": {},
        "console_errors": [],
        "page_errors": [],
        "env_refetches": 0,
        "seen": {
            "records": 0,
            "ids": 0,
            "dropped": 0,
            "given_up": 0,
            "page_ms": 0.0,
            "errors": 0,
            "clock_offset_ms": None,
            "clock_rtt_ms": None,
            # the page's headroom under load (from the first send): its 50 ms ticks, how many
            # came more than 50 ms late, the latest
            "lag_ticks": 0,
            "lag_late": 0,
            "lag_max_ms": None,
        },
    }


# A final view or a truth as the comparison needs it: (ids listed, their order, ids per source)
Listed = tuple[int, int, dict[str, IntervalSet]]


def _listed(rec: dict[str, Any]) -> Listed:
    ids: IdSets = record_ids(rec)
    sets, repeats = ids
    return sum(len(s) for s in sets.values()) + len(repeats), record_order(rec), sets


def view_figures(view: Listed, truth: Listed | None) -> dict[str, Any]:
    """One subscriber's final view of one window against the truth (None: no truth)."""
    n, order, held = view
    out: dict[str, Any] = {"final_ids": n}
    if truth is not None:
        tn, torder, want = truth
        empty = IntervalSet()
        absent = sum(len(difference(s, held.get(src, empty))) for src, s in want.items())
        extra = sum(len(difference(s, want.get(src, empty))) for src, s in held.items())
        out.update(
            absent=absent,
            extra=extra,
            equal_truth=n == tn and order == torder,
            off_by=absent + extra + n - sum(len(s) for s in held.values()),
        )
    return out


class BrowserChecker(Checker):
    name = "browser"
    handles = (
        "apply",
        "send",
        "ack",
        "connect",
        "disconnect",
        "truth",
        "view",
        "browser_sample",
        "browser_seen",
        "protocol_error",
        "resync",
    )

    def __init__(self, latency_cap: int = LATENCY_MAX_IDS) -> None:
        self.tabs: dict[str, dict[str, Any]] = {}  # client -> its entry (any client until the end)
        self.spans: dict[
            str, list[list[int | None]]
        ] = {}  # client -> [[connect t, disconnect t | None]…]
        self.load: list[int] = []  # [first, last] send or ack time: the load window
        self.truth: dict[str, Listed] = {}  # window key -> the last truth
        self.finals: dict[
            str, dict[str, Listed]
        ] = {}  # client -> window key -> its last final view
        self.join = LatencyJoin(latency_cap)
        self.joining = False  # a browser has connected: replica applies are joined from here
        # client -> per connection (as in spans) {window key: when it first showed an id of it}
        self.first_views: dict[str, list[dict[str, int]]] = {}

    def _tab(self, client: str) -> dict[str, Any]:
        tab = self.tabs.get(client)
        if tab is None:
            tab = self.tabs[client] = _new_tab()
        return tab

    def on_record(self, rec: dict[str, Any], state: RunState) -> None:
        typ = rec["type"]
        if typ == "apply":  # the most frequent by far: nothing to do until a browser connected
            if self.joining and rec.get("added"):
                lin = state.lineages.get(rec["client"])
                if lin is not None and lin.transport in REPLICA_TRANSPORTS:
                    win = window_key(rec.get("env"), rec.get("win"))
                    self.join.add_applied(rec["client"], win, rec["added"], rec["t"])
                    views = self.first_views.get(rec["client"])
                    if views and win not in views[-1]:
                        views[-1][win] = rec["t"]
            return
        t = rec["t"]
        if typ == "send" or typ == "ack":
            load = self.load
            if not load:
                self.load = [t, t]
            elif t < load[0]:
                load[0] = t
            elif t > load[1]:
                load[1] = t
            return
        client = rec["client"]
        if typ == "connect":
            self.spans.setdefault(client, []).append([t, None])
            self.first_views.setdefault(client, []).append({})
            if rec.get("transport") == "browser":
                self.joining = True
        elif typ == "disconnect":
            conns = self.spans.get(client)
            if conns and conns[-1][1] is None:
                conns[-1][1] = t
        elif typ == "truth":
            self.truth[window_key(rec.get("env"), rec.get("win"))] = _listed(rec)
        elif typ == "view":
            if rec.get("final"):
                self.finals.setdefault(client, {})[window_key(rec.get("env"), rec.get("win"))] = (
                    _listed(rec)
                )
        elif typ == "browser_sample":
            tab = self._tab(client)
            if len(tab["samples"]) < MAX_SAMPLES:
                tab["samples"].append(
                    [
                        t,
                        rec.get("js_heap_mib"),
                        rec.get("js_heap_total_mib"),
                        rec.get("nodes"),
                        rec.get("listeners"),
                    ]
                )
            mib = rec.get("js_heap_mib")
            if mib is not None:
                h = tab["heap"]
                if h is None:
                    tab["heap"] = {"first": mib, "max": mib, "last": mib, "samples": 1}
                else:
                    h["max"], h["last"], h["samples"] = max(h["max"], mib), mib, h["samples"] + 1
        elif typ == "protocol_error":
            kind = str(rec.get("kind"))
            tab = self._tab(client)
            tab["errors"][kind] = tab["errors"].get(kind, 0) + 1
            if kind in ("console_error", "page_error") and len(tab[kind + "s"]) < MAX_ERRORS:
                tab[kind + "s"].append([t, str(rec.get("detail"))[:500]])
        elif typ == "resync":
            if rec.get("reason") == "env_request":
                self._tab(client)["env_refetches"] += 1
        elif typ == "browser_seen":
            _count_seen(self._tab(client), rec, bool(self.load))
            if rec.get("win") is not None:
                win = window_key(rec.get("env"), rec.get("win"))
                self.join.add_seen(client, win, rec.get("ids"))
                views = self.first_views.get(client)
                if views and win not in views[-1]:
                    # the page's own stamps: the record is written at the next poll (≤ 0.25 s on)
                    ids = rec.get("ids")
                    shown = [
                        i[3]
                        for i in (ids if isinstance(ids, list) else ())
                        if isinstance(i, list) and len(i) >= 4 and type(i[3]) is int
                    ]
                    if shown:
                        views[-1][win] = min(shown)

    def finish(self, state: RunState) -> None:
        subs = {c: lin.transport for c, lin in state.lineages.items() if lin.is_subscriber}
        browsers = sorted(c for c, tr in subs.items() if tr == "browser")
        if not browsers:
            return
        replicas = sorted(c for c, tr in subs.items() if tr in REPLICA_TRANSPORTS)
        sides = replicas + browsers
        t_end = state.t_last or None
        minutes = (
            _minutes_under_load(self.spans, self.load[0], self.load[1], t_end)
            if self.load
            else None
        )
        since = {c: _first_t(self.spans.get(c), state.lineages[c].first_t) for c in sides}
        latency = latency_comparison(
            self.join,
            replicas,
            browsers,
            since,
            {c: self.spans.get(c, []) for c in sides},
            {c: self.first_views.get(c, []) for c in sides},
            stalled_tabs({b: (self.tabs.get(b) or _new_tab())["seen"] for b in browsers}),
        )
        state.summary.browser = {
            "browsers": {b: self.tabs.get(b) or _new_tab() for b in browsers},
            "views": {
                c: {
                    w: view_figures(v, self.truth.get(w)) for w, v in sorted(self.finals[c].items())
                }
                for c in sides
                if c in self.finals
            },
            "truth_ids": {w: tr[0] for w, tr in sorted(self.truth.items())},
            "minutes": None if minutes is None else {c: minutes[c] for c in sides if c in minutes},
            "latency": latency,
        }


def merge_browser(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Two processes' browser parts: per client a union (each client lives in one process),
    truth sizes the larger; the latency rows are per process, so two of them make none."""
    if not a or not b:
        return dict(a or b)
    truth = dict(a.get("truth_ids") or {})
    for w, n in (b.get("truth_ids") or {}).items():
        truth[w] = max(n, truth.get(w, n))
    minutes = None
    if a.get("minutes") is not None or b.get("minutes") is not None:
        minutes = {**(a.get("minutes") or {}), **(b.get("minutes") or {})}
    return {
        "browsers": dict(sorted({**a.get("browsers", {}), **b.get("browsers", {})}.items())),
        "views": dict(sorted({**a.get("views", {}), **b.get("views", {})}.items())),
        "truth_ids": dict(sorted(truth.items())),
        "minutes": minutes,
        "latency": None,
    }


def _first_t(conns: list[list[int | None]] | None, first_record_t: int) -> int:
    """When a subscriber lineage first connected (else its first record)."""
    if conns and conns[0][0]:
        return int(conns[0][0])
    return first_record_t if isinstance(first_record_t, int) else 0


def stalled_tabs(seen: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Tabs whose event loop, loaded and under load, was held up past PAGE_STALL_MS, with what
    their headroom ticks showed."""
    out = {}
    for tab, st in seen.items():
        m = st.get("lag_max_ms")
        if isinstance(m, int | float) and m > PAGE_STALL_MS:
            out[tab] = (
                f"event loop held up {m:g} ms (> {PAGE_STALL_MS:g}); {st.get('lag_late')} of "
                f"{st.get('lag_ticks')} ticks late"
            )
    return out


def _count_seen(entry: dict[str, Any], rec: dict[str, Any], loaded: bool) -> None:
    seen = entry["seen"]
    if loaded and isinstance(rec.get("lag_ticks"), int) and isinstance(rec.get("lag_late"), int):
        seen["lag_ticks"] += rec["lag_ticks"]
        seen["lag_late"] += rec["lag_late"]
        m = rec.get("lag_max_ms")
        if isinstance(m, int | float) and (seen["lag_max_ms"] is None or m > seen["lag_max_ms"]):
            seen["lag_max_ms"] = m
    seen["records"] += 1
    seen["ids"] += len(rec.get("ids") or [])
    for k in ("dropped", "given_up", "errors"):
        if isinstance(rec.get(k), int):
            seen[k] += rec[k]
    if isinstance(rec.get("page_ms"), int | float):
        seen["page_ms"] = round(seen["page_ms"] + rec["page_ms"], 3)
    if isinstance(rec.get("clock_offset_ns"), int):
        seen["clock_offset_ms"] = round(rec["clock_offset_ns"] / 1e6, 3)
        seen["clock_rtt_ms"] = round((rec.get("clock_rtt_ns") or 0) / 1e6, 3)


class LatencyJoin:
    """First-visible times of the same ids on the replica and the browser side, per window.

    Per window: (source, seq) -> [send_ns, {client: first time visible}]. At most `cap` ids
    per window: when full, the stride doubles and only seqs divisible by it stay (both sides
    keep the same seqs, spread over the whole run), so memory is bounded by cap x clients.
    """

    def __init__(self, cap: int = LATENCY_MAX_IDS) -> None:
        self.cap = max(1, cap)
        self.wins: dict[str, dict[tuple[str, int], list[Any]]] = {}
        self.stride: dict[str, int] = {}

    def _add(self, client: str, win: str, src: Any, seq: Any, send_ns: Any, t: int) -> None:
        if (
            not isinstance(src, str)
            or not isinstance(seq, int)
            or not isinstance(send_ns, int)
            or send_ns <= 0
        ):
            return
        stride = self.stride.get(win, 1)
        if seq % stride:
            return
        ids = self.wins.setdefault(win, {})
        entry = ids.get((src, seq))
        if entry is None:
            if len(ids) >= self.cap:
                while len(ids) >= self.cap:
                    stride *= 2
                    for k in [k for k in ids if k[1] % stride]:
                        del ids[k]
                self.stride[win] = stride
                if seq % stride:
                    return
            entry = ids[(src, seq)] = [send_ns, {}]
        first = entry[1].get(client)
        if first is None or t < first:
            entry[1][client] = t

    def add_applied(self, client: str, win: str, added: Any, t: int) -> None:
        """A replica's `apply`: `added` [[src, seq, send_ns]…] became visible at t."""
        for i in added if isinstance(added, list) else []:
            if isinstance(i, list) and len(i) >= 3:
                self._add(client, win, i[0], i[1], i[2], t)

    def add_seen(self, client: str, win: str, ids: Any) -> None:
        """A browser's `browser_seen`: `ids` [[src, seq, send_ns, seen_ns]…]."""
        for i in ids if isinstance(ids, list) else []:
            if isinstance(i, list) and len(i) >= 4 and isinstance(i[3], int):
                self._add(client, win, i[0], i[1], i[2], i[3])


def _pct(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile of sorted values."""
    if not values:
        return None
    return values[min(len(values) - 1, max(0, math.ceil(p / 100 * len(values)) - 1))]


def _dist(values: list[float]) -> dict[str, Any]:
    values.sort()
    return {
        "n": len(values),
        "p50_ms": _r(_pct(values, 50)),
        "p99_ms": _r(_pct(values, 99)),
        "max_ms": _r(values[-1] if values else None),
    }


def _r(v: float | None) -> float | None:
    return None if v is None else round(v, 1)


def _judge_median(
    rep: dict[str, Any], bro: dict[str, Any], later: dict[str, Any]
) -> tuple[bool, bool, list[str]]:
    """The typical update, judged per id: how much later the page showed it than the replica.

    Not the sides' own p50s: each side's latencies are bimodal (an update that lands while a
    render batch is already pending shows within ~0-40 ms, one that starts the batch after
    ~100 ms), so a side's median jumps between the modes when the split is near one half and
    a fixed render cost moves ids across it. The quantiles of the per-id differences do not.
    The replica later: judged on the quarter of ids it was latest for (p25 of page minus
    replica), since it has no reason to lag the page on a sizeable share of updates (one a
    batch behind on a third of them leaves the median at 0); the page later: on the median,
    since the page's render and draw delay every update it shows.
    """
    d, d25 = later.get("p50_ms"), later.get("p25_ms")
    a, b = rep["p50_ms"], bro["p50_ms"]
    if d is None or d25 is None or a is None or b is None:
        return False, False, []
    head = f"replica p50 {a} ms vs browser {b} ms"
    limit = round(max(LATENCY_SLACK_MS["p50"], (LATENCY_RATIO_MAX - 1) * b), 1)
    if -d25 > limit:
        return (
            True,
            False,
            [
                f"{head}: the replica shows a quarter of the same ids at least {_r(-d25)} ms "
                f"later (p25 per id over {later['n']}) > {limit} ms (×{LATENCY_RATIO_MAX} of the "
                f"page's p50, at least {LATENCY_SLACK_MS['p50']:g} ms)"
            ],
        )
    if d > LATENCY_PAGE_LATER_MAX_MS:
        return (
            False,
            True,
            [
                f"{head}: the page shows the same ids {_r(d)} ms later (median per id over "
                f"{later['n']}) > {LATENCY_PAGE_LATER_MAX_MS:g} ms (one render batch: the "
                "page's render and draw)"
            ],
        )
    return False, False, []


def _judge(
    rep: dict[str, Any], bro: dict[str, Any], later: dict[str, Any]
) -> tuple[dict[str, float | None], str, list[str]]:
    """Ratios replica / browser of p50 and p99, the verdict and the reasons it is not `agree`:
    the typical update per id (`_judge_median`), the tail by the sides' p99s."""
    ratios: dict[str, float | None] = {}
    slower, faster = False, False
    reasons: list[str] = []
    for q in ("p50", "p99"):
        a, b = rep[f"{q}_ms"], bro[f"{q}_ms"]
        if a is None or b is None:
            ratios[q] = None
            continue
        ratios[q] = round(a / b, 2) if b > 0 else None
        if q == "p50":
            slower, faster, reasons = _judge_median(rep, bro, later)
            continue
        if abs(a - b) <= LATENCY_SLACK_MS[q]:
            continue
        ratio = a / b if b > 0 else math.inf
        if ratio > LATENCY_RATIO_MAX:
            slower = True
            reasons.append(
                f"replica {q} {a} ms vs browser {b} ms (×{ratios[q] or 'inf'} > ×{LATENCY_RATIO_MAX})"
            )
        elif ratio < LATENCY_RATIO_MIN:
            faster = True
            reasons.append(
                f"replica {q} {a} ms vs browser {b} ms (×{ratios[q]} < ×{LATENCY_RATIO_MIN})"
            )
    if not rep["n"] or not bro["n"]:
        return ratios, "not_measured", []
    verdict = (
        "mixed"
        if slower and faster
        else "replica_slower"
        if slower
        else "replica_faster"
        if faster
        else "agree"
    )
    return ratios, verdict, reasons


VERDICT_WORDS = {
    "page_starved": "the page slower than the replica, but a tab lost headroom (its event loop held "
    "up longer than five render batches under load): the page's own timing is not trusted, so no "
    "replica difference is claimed",
    "replica_slower": "replica slower than the page: the instrument lagging (its timers, its CPU, a receive "
    "backlog) or the replica showing ids at a later render than the page does; not Visdom",
    "replica_faster": "replica faster than the page by more than the page's render and draw: a delay the "
    "replica does not model (or a starved page)",
    "mixed": "replica slower at one percentile, faster at the other",
}


class _Connections:
    """One subscriber's connections, to ask whether one of them spans a time range, and when
    each first showed a window."""

    def __init__(
        self, conns: list[list[int | None]], first_views: list[dict[str, int]] | None = None
    ) -> None:
        views = first_views if first_views and len(first_views) == len(conns) else None
        order = sorted(range(len(conns)), key=lambda i: conns[i][0] or 0)
        self.opened = [conns[i][0] or 0 for i in order]
        self.closed = [conns[i][1] for i in order]
        self.views = [views[i] for i in order] if views is not None else None

    def through(self, start: int, end: int) -> int | None:
        """The index of the connection open from `start` to `end`, or None."""
        i = bisect_right(self.opened, start) - 1
        if i < 0:
            return None
        closed = self.closed[i]
        return i if closed is None or closed >= end else None

    def before_first_view(self, i: int, win: str, sent: int) -> bool:
        """Was `sent` before connection i first showed `win`? Unknown (a replica connection
        that showed it before any tab connected, when nothing was recorded) is no."""
        if self.views is None:
            return False
        first = self.views[i].get(win)
        return first is not None and sent < first


def latency_comparison(
    join: LatencyJoin,
    replicas: list[str],
    browsers: list[str],
    since: dict[str, int],
    conns: dict[str, list[list[int | None]]] | None = None,
    first_views: dict[str, list[dict[str, int]]] | None = None,
    stalled: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The latency rows: per window and overall, both sides' latency for the same ids.

    `since`: per subscriber, ids sent before it are history. `conns`: per subscriber, its
    connections `[connect t, disconnect t | None]`; when given, an id it did not see within
    the connection it was sent in (sent while it was away, or still in its batch when the
    connection went) is counted apart (`across_reconnect`), not compared: a page reload
    takes the page's load time (~1 s here), a replica's none — the scripted behaviour's
    timing, not either side's delivery. `first_views`: per subscriber and connection (in the
    order of `conns`), when it first showed an id of each window; an id sent before its
    connection first showed the window is counted apart too (`before_first_view`): after a
    socket opens, a reloaded page still loads its scripts, mounts the panes and draws each
    plot for the first time (0.4–0.9 s here under load), a replica applies the snapshot at
    once — start-up, not delivery. `stalled`: tabs that lost headroom (name -> what their
    event loop showed); a row the page is slower on then says `page_starved`, not
    `replica_faster`: the page's own timing is not trusted.
    """
    rep_set, bro_set = set(replicas), set(browsers)
    spans = (
        None
        if conns is None
        else {
            c: _Connections(conns.get(c, []), (first_views or {}).get(c))
            for c in replicas + browsers
        }
    )
    across = {"replica": 0, "browser": 0}
    before_view = {"replica": 0, "browser": 0}
    overall: dict[str, list[float]] = {"replica": [], "browser": []}
    overall_later: list[float] = []
    per_client: dict[str, list[float]] = {c: [] for c in replicas + browsers}
    rows, overall_ids = [], 0
    for win in sorted(join.wins):
        sides: dict[str, list[float]] = {"replica": [], "browser": []}
        later: list[float] = []  # per id: the page's median latency minus the replicas'
        common = 0
        for (_src, _seq), (send_ns, firsts) in join.wins[win].items():
            got: dict[str, list[tuple[str, float]]] = {"replica": [], "browser": []}
            for c, t in firsts.items():
                if send_ns < since.get(c, 0):
                    continue  # sent before this subscriber existed: history, not delivery
                side = "replica" if c in rep_set else "browser" if c in bro_set else None
                if side is None:
                    continue
                if spans is not None:
                    i = spans[c].through(send_ns, t)
                    if i is None:
                        across[side] += 1
                        continue
                    if spans[c].before_first_view(i, win, send_ns):
                        before_view[side] += 1
                        continue
                got[side].append((c, (t - send_ns) / 1e6))
            if not got["replica"] or not got["browser"]:
                continue
            common += 1
            for side, vals in got.items():
                for c, ms in vals:
                    sides[side].append(ms)
                    per_client[c].append(ms)
            later.append(
                _median([ms for _, ms in got["browser"]])
                - _median([ms for _, ms in got["replica"]])
            )
        overall_ids += common
        overall["replica"] += sides["replica"]
        overall["browser"] += sides["browser"]
        overall_later += later
        rows.append(_latency_row(win, common, sides, later, join.stride.get(win, 1), stalled))
    row = _latency_row(
        "overall",
        overall_ids,
        overall,
        overall_later,
        max(join.stride.values(), default=1),
        stalled,
    )
    row["subscribers"] = {c: _dist(v) for c, v in per_client.items()}
    measured = [r for r in rows if r["verdict"] != "not_measured"]
    agree = all(r["agree"] for r in measured) if measured else None
    differences = [
        f"{r['window']}: latency: {'; '.join(r['reasons'])} — {VERDICT_WORDS[r['verdict']]}"
        for r in measured
        if not r["agree"]
    ]
    if not measured:
        row["reasons"] = [
            "no id seen by both a replica (apply records) and a browser (browser_seen records)"
        ]
    return {
        "windows": rows,
        "overall": row,
        "agree": agree,
        "differences": differences,
        "across_reconnect": across,
        "before_first_view": before_view,
        "tolerance": {
            "ratio_min": LATENCY_RATIO_MIN,
            "ratio_max": LATENCY_RATIO_MAX,
            "slack_ms": dict(LATENCY_SLACK_MS),
            "page_later_max_ms": LATENCY_PAGE_LATER_MAX_MS,
            "max_ids_per_window": join.cap,
        },
        "summary": _latency_text(row),
    }


def _median(values: list[float]) -> float:
    values = sorted(values)
    n = len(values)
    return values[n // 2] if n % 2 else (values[n // 2 - 1] + values[n // 2]) / 2


def _latency_row(
    win: str,
    ids: int,
    sides: dict[str, list[float]],
    later: list[float],
    stride: int,
    stalled: dict[str, str] | None = None,
) -> dict[str, Any]:
    rep, bro = _dist(sides["replica"]), _dist(sides["browser"])
    later.sort()
    page_later = {
        "n": len(later),
        "p25_ms": _r(_pct(later, 25)),
        "p50_ms": _r(_median(later)) if later else None,
    }
    ratios, verdict, reasons = _judge(rep, bro, page_later)
    if stalled and verdict in ("replica_faster", "mixed"):
        verdict = "page_starved"
        reasons = reasons + [f"{c}: {what}" for c, what in sorted(stalled.items())]
    return {
        "window": win,
        "ids": ids,
        "sampled_every": stride,
        "replica": rep,
        "browser": bro,
        "page_later": page_later,
        "ratio": ratios,
        "verdict": verdict,
        "agree": verdict == "agree",
        "reasons": reasons,
    }


def _latency_text(row: dict[str, Any]) -> str:
    rep, bro, ratio = row["replica"], row["browser"], row["ratio"]
    if row["verdict"] == "not_measured":
        return "latency not compared: " + (
            "; ".join(row.get("reasons") or []) or "no id seen on both sides"
        )
    return (
        f"{row['ids']} ids on both sides: replica p50 {rep['p50_ms']} / p99 {rep['p99_ms']} ms, browser p50 "
        f"{bro['p50_ms']} / p99 {bro['p99_ms']} ms (×{ratio['p50']} / ×{ratio['p99']})"
    )


def _minutes_under_load(
    spans: dict[str, list[list[int | None]]], start: int, end: int, t_end: int | None
) -> dict[str, float]:
    """Per client, minutes connected between the first send and the last ack."""
    out: dict[str, float] = {}
    for client, conns in spans.items():
        ns = 0
        for opened, closed in conns:
            closed = closed if isinstance(closed, int) else (t_end or end)
            ns += max(0, min(closed, end) - max(int(opened or 0), start))
        out[client] = ns / 60e9
    return out
