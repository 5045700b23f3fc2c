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
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from reports.summary import Summary
from visdom_chaos.journal import journal_files, read_journal

TOLERANCE_IDS = 0
RELOAD_RATE_FACTOR = 1.5
FIDELITY_KINDS = ("missing", "duplicate", "stale")
ERROR_KINDS = ("console_error", "page_error", "request_failed", "offsite_request", "browser_error", "undecodable")
MAX_ERRORS = 20


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
            "page_errors": [], "env_refetches": 0, "screenshot": None}
        for b in browsers
    }
    finals: dict[str, dict[str, list[tuple[str, int]]]] = {}  # client -> window -> ids
    truth: dict[str, list[tuple[str, int]]] = {}
    spans: dict[str, list[list[int | None]]] = {}  # client -> [[connect t, disconnect t | None], ...]
    load: list[int] = []  # [first, last] send or ack time: the load window
    for path in journal_files(run_dir):
        for rec in read_journal(path, strict_header=False):
            typ, client = rec.get("type"), rec.get("client")
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
    for b, entry in per.items():
        shot = Path(run_dir) / "screenshots" / f"{b}.png"
        entry["screenshot"] = str(shot.relative_to(run_dir)) if shot.is_file() else None
        heap = [s[1] for s in entry["samples"] if s[1] is not None]
        entry["heap_mib"] = ({"first": heap[0], "max": max(heap), "last": heap[-1], "samples": len(heap)}
                             if heap else None)
    minutes = _minutes_under_load(spans, load[0], load[1], summary.t_end) if load else None
    return {"browsers": [per[b] for b in browsers],
            "fidelity": fidelity(summary, finals, truth, replicas, browsers, minutes)}


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
             minutes: dict[str, float] | None = None) -> dict[str, Any]:
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
    return {
        "reloads": reloads,
        "tolerance": {"ids_per_subscriber": TOLERANCE_IDS, "kinds": ["missing", "duplicate", "stale:divergence"],
                      "reload_rate_factor": RELOAD_RATE_FACTOR,
                      "rule": "same final-view finding kinds (missing, duplicate, stale divergence) on both sides "
                              f"and every final view within {TOLERANCE_IDS} ids of the server truth; per-update "
                              "findings (stale lag/regression, reorder) need a replica's apply records and are "
                              "listed, not compared; full env reloads per connected minute, side against side, "
                              f"within ×{RELOAD_RATE_FACTOR}"},
        "replica_subscribers": replicas, "browser_subscribers": browsers,
        "windows": rows, "agree": (all(r["agree"] for r in rows) and reloads["agree"]) if rows else None,
        "differences": differences,
    }


def fidelity_cells(row: dict[str, Any]) -> list[str]:
    """One fidelity row as text, for the Markdown and HTML tables: window, truth ids,
    replica final ids, replica findings, browser final ids, browser findings, replica only."""
    def ids(side: dict[str, Any]) -> str:
        return ", ".join(f"{s['id']} {s['final_ids']}" for s in side["subscribers"])

    return [str(row["window"]), str(row["truth_ids"]), ids(row["replica"]), ", ".join(row["replica"]["kinds"]) or "none",
            ids(row["browser"]), ", ".join(row["browser"]["kinds"]) or "none",
            ", ".join(row["replica"].get("not_compared") or []) or "none"]


def render_markdown(section: dict[str, Any]) -> list[str]:
    lines = ["## Browser (real Chromium subscribers)", "",
             "| browser | JS heap MiB first / max / last | samples | console errors | page errors | failed requests "
             "| env re-fetches | screenshot |", "|---|---|---:|---:|---:|---:|---:|---|"]
    for b in section.get("browsers") or []:
        h = b.get("heap_mib") or {}
        heap = f"{h.get('first')} / {h.get('max')} / {h.get('last')}" if h else "n/a"
        shot = f"[{b['screenshot']}]({b['screenshot']})" if b.get("screenshot") else "none"
        lines.append(f"| {b['id']} | {heap} | {h.get('samples', 0)} | {b['errors'].get('console_error', 0)} | "
                     f"{b['errors'].get('page_error', 0)} | {b['errors'].get('request_failed', 0)} | "
                     f"{b.get('env_refetches', 0)} | {shot} |")
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
        if fid.get("reloads"):
            lines += ["", f"Full env reloads per subscriber (env-wide): {fid['reloads']['summary']}"
                      f" — {'agree' if fid['reloads']['agree'] else '**differ**'}.", ""]
        for d in fid.get("differences") or []:
            lines.append(f"- {d}")
    lines.append("")
    return lines
