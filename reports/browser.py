"""The report's `browser` section: real Chromium subscribers (visdom_chaos.wire.browser).

Per browser: JS heap over time (`browser_sample`), console errors and uncaught page
errors (`protocol_error` kinds `console_error` / `page_error`), failed requests, env
re-fetches and the screenshot path. And `fidelity`: per window, the replica
subscribers' final views and findings next to the browsers'.

Fidelity tolerance (also in docs/browser.md). A window *agrees* when
  1. the same final-view finding kinds (missing, duplicate, stale `divergence`) occur on
     both sides (a page journals what it shows at the end, not each render: stale `lag` /
     `regression` and reorder are replica-only and listed, not compared), and
  2. every subscriber's final view on each side is within TOLERANCE_IDS ids of the
     server truth (symmetric difference), i.e. both sides end showing the truth.
TOLERANCE_IDS is 0: final views are taken at quiescence (no message to any subscriber
for 1.5 s) after the truth was read, so nothing is in flight and an exact match is
what a correct client shows. Any disagreement is listed with the side that differs
from the truth; it is not averaged away.

Full env reloads are env-wide, so they are compared per side, not per window: the mean
reload rate per connected minute of the replica subscribers and of the browsers must be
within a factor RELOAD_RATE_FACTOR of each other (both zero agrees). Rates, not counts:
a page reload leaves a browser without a socket for the page's load time, a replica for
none. Connected time counts only while the load runs (first `send` to last `ack`):
replicas connect seconds before Chromium has started, and idle time reloads nothing. The factor covers what differs by timing only (the page's env answer lands a few
ms later or sooner against the 100 ms render batch); a missing or extra mechanism shows
as a factor of 2 or more, or as reloads on one side only.

Latency, same ids on both sides (`fidelity.latency`): per window and overall, for the ids
at least one replica and at least one browser saw, each side's first-visible latency —
replica: its first `apply` with the id in `added`, minus the id's send time; browser: the
page's first-seen stamp (`browser_seen`, `performance.timeOrigin + now()` corrected to
time.time_ns()), minus the send time — over every (subscriber, id) pair of that side, with
each side's p50 / p99 and the ratio replica / browser. Only ids sent after a subscriber
first connected count for it (history in its first snapshot is not delivery, as in
reports/checkers/latency.py). A row agrees when each of p50 and p99 is within
[LATENCY_RATIO_MIN, LATENCY_RATIO_MAX] or within LATENCY_SLACK_MS of the other side:
  - the browser may be slower: after the same 100 ms render batch it spends React's render
    and Plotly's draw, which the replica's zero-time JS does not (a Plotly redraw of a few
    hundred points takes tens of ms on a loaded 2-core machine), hence ×0.5;
  - the replica has no reason to be slower than the page it models: anything beyond timing
    noise (×1.5) is reported as `replica_slower` — the instrument lagging (its timers, a
    starved process, a receive backlog: the known gap of a harness without headroom,
    DESIGN.md "The observer must be faster than what it observes"), or the replica showing
    ids at a later render than the page;
  - LATENCY_SLACK_MS keeps small numbers from flagging: p50 within 25 ms (a quarter of the
    batch, about one Plotly draw), p99 within 100 ms (one batch).
Bounded memory: at most LATENCY_MAX_IDS ids per window are joined; past it only every
2nd, 4th… seq is kept (the same seqs on both sides), and the row says so (`sampled_every`).
"""

from __future__ import annotations

import math
import os
from bisect import bisect_right
from pathlib import Path
from typing import Any

from visdom_chaos.journal import journal_files, read_journal
from visdom_chaos.reports.summary import Summary

TOLERANCE_IDS = 0
RELOAD_RATE_FACTOR = 1.5
FIDELITY_KINDS = ("missing", "duplicate", "stale")
ERROR_KINDS = ("console_error", "page_error", "request_failed", "offsite_request", "browser_error", "undecodable")
MAX_ERRORS = 20
LATENCY_RATIO_MIN = 0.5  # replica / browser: the page's render + draw after the batch
LATENCY_RATIO_MAX = 1.5  # replica / browser: timing noise; beyond it the instrument lags
LATENCY_SLACK_MS = {"p50": 25.0, "p99": 100.0}  # absolute differences that never flag
LATENCY_MAX_IDS = 20_000  # ids joined per window (then every 2nd, 4th… seq)


def _s(t: int, t0: int) -> float:
    return round((t - t0) / 1e9, 3)


def _key(env: Any, win: Any) -> str:
    return f"{env}/{win}" if env else str(win)


def browser_section(run_dir: str | os.PathLike[str], summary: Summary, report: dict[str, Any]) -> dict[str, Any] | None:
    """The `browser` section, or None when the run had no browser subscriber."""
    subs = report.get("subscribers") or []
    browsers = sorted(s["id"] for s in subs if s.get("transport") == "browser")
    if not browsers:
        return None
    replicas = sorted(s["id"] for s in subs if s.get("transport") in ("websocket", "polling"))
    t0 = summary.t0 or 0
    per: dict[str, dict[str, Any]] = {
        b: {"id": b, "samples": [], "errors": {k: 0 for k in ERROR_KINDS}, "console_errors": [],
            "page_errors": [], "env_refetches": 0, "screenshot": None,
            "seen": {"records": 0, "ids": 0, "dropped": 0, "given_up": 0, "page_ms": 0.0, "errors": 0,
                     "clock_offset_ms": None, "clock_rtt_ms": None}}
        for b in browsers
    }
    finals: dict[str, dict[str, list[tuple[str, int]]]] = {}  # client -> window -> ids
    truth: dict[str, list[tuple[str, int]]] = {}
    spans: dict[str, list[list[int | None]]] = {}  # client -> [[connect t, disconnect t | None], ...]
    load: list[int] = []  # [first, last] send or ack time: the load window
    replica_set, join = set(replicas), LatencyJoin()
    for path in journal_files(run_dir):
        for rec in read_journal(path, strict_header=False):
            typ, client = rec.get("type"), rec.get("client")
            if typ == "apply":
                if client in replica_set and rec.get("added") and isinstance(rec.get("t"), int):
                    join.add_applied(client, _key(rec.get("env"), rec.get("win")), rec["added"], rec["t"])
                continue
            if typ in ("send", "ack") and isinstance(rec.get("t"), int):
                load = [min(load[0], rec["t"]), max(load[1], rec["t"])] if load else [rec["t"], rec["t"]]
            elif typ == "connect" and isinstance(rec.get("t"), int):
                spans.setdefault(client, []).append([rec["t"], None])
            elif typ == "disconnect" and spans.get(client) and spans[client][-1][1] is None:
                spans[client][-1][1] = rec.get("t")
            if typ == "truth":
                truth[_key(rec.get("env"), rec.get("win"))] = [(i[0], i[1]) for i in rec.get("ids") or []]
            elif typ == "view" and rec.get("final"):
                finals.setdefault(client, {})[_key(rec.get("env"), rec.get("win"))] = [
                    (i[0], i[1]) for i in rec.get("ids") or []]
            elif client not in per:
                continue
            elif typ == "browser_sample":
                per[client]["samples"].append([_s(rec["t"], t0), rec.get("js_heap_mib"), rec.get("js_heap_total_mib"),
                                               rec.get("nodes"), rec.get("listeners")])
            elif typ == "protocol_error":
                kind = str(rec.get("kind"))
                b = per[client]
                b["errors"][kind] = b["errors"].get(kind, 0) + 1
                if kind in ("console_error", "page_error") and len(b[kind + "s"]) < MAX_ERRORS:
                    b[kind + "s"].append({"t_s": _s(rec["t"], t0), "detail": str(rec.get("detail"))[:500]})
            elif typ == "resync" and rec.get("reason") == "env_request":
                per[client]["env_refetches"] += 1
            elif typ == "browser_seen":
                _count_seen(per[client], rec)
                if rec.get("win") is not None:
                    join.add_seen(client, _key(rec.get("env"), rec.get("win")), rec.get("ids"))
    for b, entry in per.items():
        shot = Path(run_dir) / "screenshots" / f"{b}.png"
        entry["screenshot"] = str(shot.relative_to(run_dir)) if shot.is_file() else None
        heap = [s[1] for s in entry["samples"] if s[1] is not None]
        entry["heap_mib"] = ({"first": heap[0], "max": max(heap), "last": heap[-1], "samples": len(heap)}
                             if heap else None)
    minutes = _minutes_under_load(spans, load[0], load[1], summary.t_end) if load else None
    since = {c: _first_t(summary, spans, c) for c in replicas + browsers}
    latency = latency_comparison(join, replicas, browsers, since, {c: spans.get(c, []) for c in replicas + browsers})
    return {"browsers": [per[b] for b in browsers],
            "fidelity": fidelity(summary, finals, truth, replicas, browsers, minutes, latency)}


def _first_t(summary: Summary, spans: dict[str, list[list[int | None]]], client: str) -> int:
    """When a subscriber lineage first connected (else its first record)."""
    conns = spans.get(client)
    if conns and conns[0][0]:
        return int(conns[0][0])
    t = (summary.subscribers.get(client) or {}).get("first_t")
    return t if isinstance(t, int) else 0


def _count_seen(entry: dict[str, Any], rec: dict[str, Any]) -> None:
    seen = entry["seen"]
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
        if not isinstance(src, str) or not isinstance(seq, int) or not isinstance(send_ns, int) or send_ns <= 0:
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
    return {"n": len(values), "p50_ms": _r(_pct(values, 50)), "p99_ms": _r(_pct(values, 99)),
            "max_ms": _r(values[-1] if values else None)}


def _r(v: float | None) -> float | None:
    return None if v is None else round(v, 1)


def _judge(rep: dict[str, Any], bro: dict[str, Any]) -> tuple[dict[str, float | None], str, list[str]]:
    """Ratios replica / browser of p50 and p99, the verdict and the reasons it is not `agree`."""
    ratios: dict[str, float | None] = {}
    slower, faster, reasons = False, False, []
    for q in ("p50", "p99"):
        a, b = rep[f"{q}_ms"], bro[f"{q}_ms"]
        if a is None or b is None:
            ratios[q] = None
            continue
        ratios[q] = round(a / b, 2) if b > 0 else None
        if abs(a - b) <= LATENCY_SLACK_MS[q]:
            continue
        ratio = a / b if b > 0 else math.inf
        if ratio > LATENCY_RATIO_MAX:
            slower = True
            reasons.append(f"replica {q} {a} ms vs browser {b} ms (×{ratios[q] or 'inf'} > ×{LATENCY_RATIO_MAX})")
        elif ratio < LATENCY_RATIO_MIN:
            faster = True
            reasons.append(f"replica {q} {a} ms vs browser {b} ms (×{ratios[q]} < ×{LATENCY_RATIO_MIN})")
    if not rep["n"] or not bro["n"]:
        return ratios, "not_measured", []
    verdict = "mixed" if slower and faster else "replica_slower" if slower else "replica_faster" if faster else "agree"
    return ratios, verdict, reasons


VERDICT_WORDS = {
    "replica_slower": "replica slower than the page: the instrument lagging (its timers, its CPU, a receive "
                      "backlog) or the replica showing ids at a later render than the page does; not Visdom",
    "replica_faster": "replica faster than the page by more than the page's render and draw: a delay the "
                      "replica does not model (or a starved page)",
    "mixed": "replica slower at one percentile, faster at the other",
}


class _Connections:
    """One subscriber's connections, to ask whether one of them spans a time range."""

    def __init__(self, conns: list[list[int | None]]) -> None:
        conns = sorted(conns, key=lambda c: c[0] or 0)
        self.opened = [c[0] or 0 for c in conns]
        self.closed = [c[1] for c in conns]

    def through(self, start: int, end: int) -> bool:
        i = bisect_right(self.opened, start) - 1
        if i < 0:
            return False
        closed = self.closed[i]
        return closed is None or closed >= end


def latency_comparison(join: LatencyJoin, replicas: list[str], browsers: list[str],
                       since: dict[str, int], conns: dict[str, list[list[int | None]]] | None = None) -> dict[str, Any]:
    """The latency rows: per window and overall, both sides' latency for the same ids.

    `since`: per subscriber, ids sent before it are history. `conns`: per subscriber, its
    connections `[connect t, disconnect t | None]`; when given, an id it did not see within
    the connection it was sent in (sent while it was away, or still in its batch when the
    connection went) is counted apart (`across_reconnect`), not compared: a page reload
    takes the page's load time (~1 s here), a replica's none — the scripted behaviour's
    timing, not either side's delivery.
    """
    rep_set, bro_set = set(replicas), set(browsers)
    spans = None if conns is None else {c: _Connections(conns.get(c, [])) for c in replicas + browsers}
    across = {"replica": 0, "browser": 0}
    overall: dict[str, list[float]] = {"replica": [], "browser": []}
    per_client: dict[str, list[float]] = {c: [] for c in replicas + browsers}
    rows, overall_ids = [], 0
    for win in sorted(join.wins):
        sides: dict[str, list[float]] = {"replica": [], "browser": []}
        common = 0
        for (_src, _seq), (send_ns, firsts) in join.wins[win].items():
            got: dict[str, list[tuple[str, float]]] = {"replica": [], "browser": []}
            for c, t in firsts.items():
                if send_ns < since.get(c, 0):
                    continue  # sent before this subscriber existed: history, not delivery
                side = "replica" if c in rep_set else "browser" if c in bro_set else None
                if side is None:
                    continue
                if spans is not None and not spans[c].through(send_ns, t):
                    across[side] += 1
                    continue
                got[side].append((c, (t - send_ns) / 1e6))
            if not got["replica"] or not got["browser"]:
                continue
            common += 1
            for side, vals in got.items():
                for c, ms in vals:
                    sides[side].append(ms)
                    per_client[c].append(ms)
        overall_ids += common
        overall["replica"] += sides["replica"]
        overall["browser"] += sides["browser"]
        rows.append(_latency_row(win, common, sides, join.stride.get(win, 1)))
    row = _latency_row("overall", overall_ids, overall, max(join.stride.values(), default=1))
    row["subscribers"] = {c: _dist(v) for c, v in per_client.items()}
    measured = [r for r in rows if r["verdict"] != "not_measured"]
    agree = all(r["agree"] for r in measured) if measured else None
    differences = [f"{r['window']}: latency: {'; '.join(r['reasons'])} — {VERDICT_WORDS[r['verdict']]}"
                   for r in measured if not r["agree"]]
    if not measured:
        row["reasons"] = ["no id seen by both a replica (apply records) and a browser (browser_seen records)"]
    return {"windows": rows, "overall": row, "agree": agree, "differences": differences,
            "across_reconnect": across,
            "tolerance": {"ratio_min": LATENCY_RATIO_MIN, "ratio_max": LATENCY_RATIO_MAX,
                          "slack_ms": dict(LATENCY_SLACK_MS), "max_ids_per_window": join.cap},
            "summary": _latency_text(row)}


def _latency_row(win: str, ids: int, sides: dict[str, list[float]], stride: int) -> dict[str, Any]:
    rep, bro = _dist(sides["replica"]), _dist(sides["browser"])
    ratios, verdict, reasons = _judge(rep, bro)
    return {"window": win, "ids": ids, "sampled_every": stride, "replica": rep, "browser": bro,
            "ratio": ratios, "verdict": verdict, "agree": verdict == "agree", "reasons": reasons}


def _latency_text(row: dict[str, Any]) -> str:
    rep, bro, ratio = row["replica"], row["browser"], row["ratio"]
    if row["verdict"] == "not_measured":
        return "latency not compared: " + ("; ".join(row.get("reasons") or []) or "no id seen on both sides")
    return (f"{row['ids']} ids on both sides: replica p50 {rep['p50_ms']} / p99 {rep['p99_ms']} ms, browser p50 "
            f"{bro['p50_ms']} / p99 {bro['p99_ms']} ms (×{ratio['p50']} / ×{ratio['p99']})")


def _minutes_under_load(spans: dict[str, list[list[int | None]]], start: int, end: int,
                        t_end: int | None) -> dict[str, float]:
    """Per client, minutes connected between the first send and the last ack."""
    out: dict[str, float] = {}
    for client, conns in spans.items():
        ns = 0
        for opened, closed in conns:
            closed = closed if isinstance(closed, int) else (t_end or end)
            ns += max(0, min(closed, end) - max(int(opened or 0), start))
        out[client] = ns / 60e9
    return out


def _compared(kind: str, detail: str) -> bool:
    """Findings both sides can show: judged on final views. A page journals no `apply` per
    render, so stale `lag`/`regression` and reorder are seen on the replica side only."""
    return kind in ("missing", "duplicate") or (kind == "stale" and detail == "divergence")


def _findings_by_window(summary: Summary) -> tuple[dict[tuple[str, str], dict[str, int]],
                                                   dict[tuple[str, str], dict[str, int]]]:
    """(client, window key) -> {kind: ids}: the compared findings, and the per-update ones
    (`<kind>:<detail>`) only a replica can show."""
    out: dict[tuple[str, str], dict[str, int]] = {}
    other: dict[tuple[str, str], dict[str, int]] = {}
    for g in summary.groups.values():
        if g.kind not in ("missing", "duplicate", "stale", "reorder") or not g.win:
            continue
        n = g.count() if g.ids else g.observations
        key = (g.client, _key(g.env, g.win))
        if _compared(g.kind, g.detail):
            row = out.setdefault(key, dict.fromkeys(FIDELITY_KINDS, 0))
            row[g.kind] += n
        else:
            row = other.setdefault(key, {})
            row[f"{g.kind}:{g.detail}"] = row.get(f"{g.kind}:{g.detail}", 0) + n
    return out, other


def _side(clients: list[str], win: str, finals: dict, truth_ids: list | None,
          found: dict[tuple[str, str], dict[str, int]], other: dict[tuple[str, str], dict[str, int]]) -> dict[str, Any]:
    subs = []
    for c in clients:
        view = finals.get(c, {}).get(win)
        row = found.get((c, win), dict.fromkeys(FIDELITY_KINDS, 0))
        entry: dict[str, Any] = {"id": c, "final_ids": None if view is None else len(view), "findings": row,
                                 "not_compared": other.get((c, win), {})}
        if view is not None and truth_ids is not None:
            held, want = set(view), set(truth_ids)
            entry["absent"] = len(want - held)
            entry["extra"] = len(held - want)
            entry["equal_truth"] = view == truth_ids
            entry["off_by"] = len(want ^ held) + (len(view) - len(held))  # ids different or repeated
        subs.append(entry)
    kinds = sorted({k for s in subs for k, n in s["findings"].items() if n})
    extra = sorted({k for s in subs for k, n in s["not_compared"].items() if n})
    return {"subscribers": subs, "kinds": kinds, "not_compared": extra}


def _reloads(summary: Summary, replicas: list[str], browsers: list[str],
             minutes: dict[str, float] | None = None) -> dict[str, Any]:
    """Full env reloads per subscriber (env-wide, not per window), and whether the sides'
    mean rates per connected minute (`minutes`: under load; else the whole run) are
    within RELOAD_RATE_FACTOR of each other."""
    n: dict[str, int] = {}
    for g in summary.groups.values():
        if g.kind == "reload":
            n[g.client] = n.get(g.client, 0) + g.observations
    rep = {c: n.get(c, 0) for c in replicas}
    bro = {c: n.get(c, 0) for c in browsers}

    def rate(clients: list[str]) -> float | None:
        if minutes is not None:
            total = sum(minutes.get(c, 0.0) for c in clients)
        else:
            total = sum(summary.subscribers.get(c, {}).get("connected_ns", 0) for c in clients) / 60e9
        return round(sum(n.get(c, 0) for c in clients) / total, 1) if total > 0 else None

    rates = {"replica": rate(replicas), "browser": rate(browsers)}
    ratio = None
    if not replicas or not browsers or None in rates.values():
        agree = (not replicas or not browsers) or (any(rep.values()) == any(bro.values()))
    elif rates["replica"] == rates["browser"] == 0:
        agree = True
    elif 0 in (rates["replica"], rates["browser"]):
        agree = False
    else:
        ratio = round(rates["replica"] / rates["browser"], 2)
        agree = 1 / RELOAD_RATE_FACTOR <= ratio <= RELOAD_RATE_FACTOR
    text = (f"replica {', '.join(f'{c} {v}' for c, v in rep.items()) or 'none'}; "
            f"browser {', '.join(f'{c} {v}' for c, v in bro.items())}; per connected minute replica "
            f"{rates['replica']}, browser {rates['browser']}"
            + (f" (×{ratio}, tolerance ×{RELOAD_RATE_FACTOR})" if ratio is not None else ""))
    return {"replica": rep, "browser": bro, "per_minute": rates, "ratio": ratio,
            "factor": RELOAD_RATE_FACTOR, "agree": agree, "summary": text}


def fidelity(summary: Summary, finals: dict, truth: dict, replicas: list[str], browsers: list[str],
             minutes: dict[str, float] | None = None, latency: dict[str, Any] | None = None) -> dict[str, Any]:
    found, other = _findings_by_window(summary)
    windows = sorted(set(truth) | {w for c in replicas + browsers for w in finals.get(c, {})})
    rows, differences = [], []
    for win in windows:
        t = truth.get(win)
        rep = _side(replicas, win, finals, t, found, other)
        bro = _side(browsers, win, finals, t, found, other)
        reasons = []
        if rep["kinds"] != bro["kinds"]:
            reasons.append(f"findings differ: replica {rep['kinds'] or 'none'}, browser {bro['kinds'] or 'none'}")
        for side, name in ((rep, "replica"), (bro, "browser")):
            for s in side["subscribers"]:
                if s["final_ids"] is None:
                    if name == "browser":  # a replica without views is judged on its state (Locust tabs)
                        reasons.append(f"{name} {s['id']} has no final view")
                elif s.get("off_by", 0) > TOLERANCE_IDS:
                    reasons.append(f"{name} {s['id']} ends {s['off_by']} id(s) off the truth "
                                   f"({s['absent']} absent, {s['extra']} extra)")
        agree = not reasons
        rows.append({"window": win, "truth_ids": None if t is None else len(t), "replica": rep, "browser": bro,
                     "agree": agree, "differences": reasons})
        differences += [f"{win}: {r}" for r in reasons]
    reloads = _reloads(summary, replicas, browsers, minutes)
    if not reloads["agree"]:
        differences.append(f"reloads: {reloads['summary']}")
    if latency is None:
        latency = latency_comparison(LatencyJoin(), replicas, browsers, {})
    differences += latency["differences"]
    agree = None
    if rows:
        agree = all(r["agree"] for r in rows) and reloads["agree"] and latency["agree"] is not False
    return {
        "reloads": reloads,
        "latency": latency,
        "tolerance": {"ids_per_subscriber": TOLERANCE_IDS, "kinds": ["missing", "duplicate", "stale:divergence"],
                      "reload_rate_factor": RELOAD_RATE_FACTOR,
                      "rule": "same final-view finding kinds (missing, duplicate, stale divergence) on both sides "
                              f"and every final view within {TOLERANCE_IDS} ids of the server truth; per-update "
                              "findings (stale lag/regression, reorder) need a replica's apply records and are "
                              "listed, not compared; full env reloads per connected minute, side against side, "
                              f"within ×{RELOAD_RATE_FACTOR}; latency of the same ids, replica / browser p50 and "
                              f"p99 within ×{LATENCY_RATIO_MIN}–×{LATENCY_RATIO_MAX} or within "
                              f"{LATENCY_SLACK_MS['p50']:g} / {LATENCY_SLACK_MS['p99']:g} ms"},
        "replica_subscribers": replicas, "browser_subscribers": browsers,
        "windows": rows, "agree": agree,
        "differences": differences,
    }


def seen_text(seen: dict[str, Any] | None) -> str:
    """A browser's first-seen stamping in a few words: ids, losses, page time, clock offset."""
    if not seen or not seen.get("records"):
        return "none"
    lost = ", ".join(f"{seen[k]} {k.replace('_', ' ')}" for k in ("dropped", "given_up", "errors") if seen.get(k))
    clock = (f"; clock {seen['clock_offset_ms']:+g} ms (±{seen['clock_rtt_ms'] / 2:g})"
             if seen.get("clock_offset_ms") is not None else "")
    return f"{seen['ids']} ids{' (' + lost + ')' if lost else ''}, page {seen['page_ms']:g} ms{clock}"


def fidelity_cells(row: dict[str, Any]) -> list[str]:
    """One fidelity row as text, for the Markdown and HTML tables: window, truth ids,
    replica final ids, replica findings, browser final ids, browser findings, replica only."""
    def ids(side: dict[str, Any]) -> str:
        return ", ".join(f"{s['id']} {s['final_ids']}" for s in side["subscribers"])

    return [str(row["window"]), str(row["truth_ids"]), ids(row["replica"]), ", ".join(row["replica"]["kinds"]) or "none",
            ids(row["browser"]), ", ".join(row["browser"]["kinds"]) or "none",
            ", ".join(row["replica"].get("not_compared") or []) or "none"]


LATENCY_HEADER = ["latency (same ids)", "ids", "replica p50 / p99 ms", "browser p50 / p99 ms",
                  "ratio p50 / p99", "agree"]


def latency_cells(row: dict[str, Any]) -> list[str]:
    """One latency row as text, for the Markdown and HTML tables (LATENCY_HEADER)."""
    def pair(d: dict[str, Any]) -> str:
        return f"{d['p50_ms']} / {d['p99_ms']}" if d.get("n") else "not measured"

    r = row.get("ratio") or {}
    ratio = f"×{r.get('p50')} / ×{r.get('p99')}" if row["verdict"] != "not_measured" else "n/a"
    verdict = {"agree": "yes", "not_measured": "not measured"}.get(row["verdict"], f"no: {row['verdict']}")
    ids = str(row["ids"]) + (f" (every {row['sampled_every']}th seq)" if row.get("sampled_every", 1) > 1 else "")
    return [str(row["window"]), ids, pair(row["replica"]), pair(row["browser"]), ratio, verdict]


def latency_rows(lat: dict[str, Any]) -> list[dict[str, Any]]:
    """The rows to show: each window, then the overall one."""
    return [*(lat.get("windows") or []), *([lat["overall"]] if lat.get("overall") else [])]


def subscriber_latency_text(lat: dict[str, Any]) -> str:
    subs = (lat.get("overall") or {}).get("subscribers") or {}
    return ", ".join(f"{c} {d['p50_ms']} / {d['p99_ms']} ms ({d['n']})" for c, d in subs.items() if d.get("n"))


def render_markdown(section: dict[str, Any]) -> list[str]:
    lines = ["## Browser (real Chromium subscribers)", "",
             "| browser | JS heap MiB first / max / last | samples | console errors | page errors | failed requests "
             "| env re-fetches | first-seen stamps | screenshot |", "|---|---|---:|---:|---:|---:|---:|---|---|"]
    for b in section.get("browsers") or []:
        h = b.get("heap_mib") or {}
        heap = f"{h.get('first')} / {h.get('max')} / {h.get('last')}" if h else "n/a"
        shot = f"[{b['screenshot']}]({b['screenshot']})" if b.get("screenshot") else "none"
        lines.append(f"| {b['id']} | {heap} | {h.get('samples', 0)} | {b['errors'].get('console_error', 0)} | "
                     f"{b['errors'].get('page_error', 0)} | {b['errors'].get('request_failed', 0)} | "
                     f"{b.get('env_refetches', 0)} | {seen_text(b.get('seen'))} | {shot} |")
    lines.append("")
    for b in section.get("browsers") or []:
        for kind in ("console_errors", "page_errors"):
            for err in b.get(kind) or []:
                detail = err["detail"][:200].replace("`", "'")
                lines.append(f"- {b['id']} {kind[:-1].replace('_', ' ')} at t={err['t_s']} s: `{detail}`")
    fid = section.get("fidelity") or {}
    if fid.get("windows"):
        verdict = "agree" if fid.get("agree") else "**differ**"
        lines += ["", f"### Fidelity: replica vs browser ({verdict})", "",
                  f"Tolerance: {fid['tolerance']['rule']}.", "",
                  "| window | truth ids | replica final ids | replica findings | browser final ids | "
                  "browser findings | agree | replica only (not compared) |", "|---|---:|---|---|---|---|---|---|"]
        for r in fid["windows"]:
            *cells, not_compared = fidelity_cells(r)
            lines.append("| " + " | ".join([*cells, "yes" if r["agree"] else "**no**", not_compared]) + " |")
        lat = fid.get("latency")
        if lat:
            lines += ["", "| " + " | ".join(LATENCY_HEADER) + " |", "|---|---:|---:|---:|---:|---|"]
            for r in latency_rows(lat):
                cells = latency_cells(r)
                if not r["agree"] and r["verdict"] != "not_measured":
                    cells[-1] = f"**{cells[-1]}**"
                lines.append("| " + " | ".join(cells) + " |")
            if subscriber_latency_text(lat):
                lines += ["", f"Latency per subscriber, p50 / p99 (ids): {subscriber_latency_text(lat)}."]
        if fid.get("reloads"):
            lines += ["", f"Full env reloads per subscriber (env-wide): {fid['reloads']['summary']}"
                      f" — {'agree' if fid['reloads']['agree'] else '**differ**'}.", ""]
        for d in fid.get("differences") or []:
            lines.append(f"- {d}")
    lines.append("")
    return lines
