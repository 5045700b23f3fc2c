"""The report's `browser` section: real Chromium subscribers (visdom_chaos.wire.browser),
built from the summary's browser part (reports/checkers/browser.py, in the one pass).

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

Latency of the same ids on both sides (`fidelity.latency`) and its tolerance: see
reports/checkers/browser.py, which measures and judges it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import quote

from visdom_chaos.reports.checkers.browser import (
    LATENCY_MAX_IDS,
    LATENCY_PAGE_LATER_MAX_MS,
    LATENCY_RATIO_MAX,
    LATENCY_RATIO_MIN,
    LATENCY_SLACK_MS,
    MAX_ERRORS,
    PAGE_STALL_MS,
    LatencyJoin,
    latency_comparison,
    window_key,
)
from visdom_chaos.reports.escape import md
from visdom_chaos.reports.summary import Summary

TOLERANCE_IDS = 0
RELOAD_RATE_FACTOR = 1.5
FIDELITY_KINDS = ("missing", "duplicate", "stale")
MERGED_LATENCY = "the same ids are compared per process (tabs and replicas of one journal), not in a merged summary"
ERROR_KINDS = (
    "console_error",
    "page_error",
    "request_failed",
    "offsite_request",
    "browser_error",
    "undecodable",
)

__all__ = [  # the latency names live with the checker; importers found them here
    "ERROR_KINDS",
    "FIDELITY_KINDS",
    "LATENCY_MAX_IDS",
    "LATENCY_PAGE_LATER_MAX_MS",
    "LATENCY_RATIO_MAX",
    "LATENCY_RATIO_MIN",
    "LATENCY_SLACK_MS",
    "PAGE_STALL_MS",
    "MAX_ERRORS",
    "RELOAD_RATE_FACTOR",
    "TOLERANCE_IDS",
    "LatencyJoin",
    "browser_section",
    "fidelity",
    "latency_comparison",
    "render_markdown",
]


def _s(t: int, t0: int) -> float:
    return round((t - t0) / 1e9, 3)


def browser_section(
    run_dir: str | os.PathLike[str] | None, summary: Summary, report: dict[str, Any]
) -> dict[str, Any] | None:
    """The `browser` section from `summary.browser`, or None when the run had no browser
    subscriber. `run_dir` is where the screenshots are (None: not looked for)."""
    part = summary.browser
    if not part.get("browsers"):
        return None
    subs = report.get("subscribers") or []
    browsers = sorted(s["id"] for s in subs if s.get("transport") == "browser")
    replicas = sorted(s["id"] for s in subs if s.get("transport") in ("websocket", "polling"))
    t0 = summary.t0 or 0
    out = []
    for b in browsers:
        tab = part["browsers"].get(b) or {}
        seen = tab.get("seen") or {}
        shot_rel = Path("screenshots") / f"{b}.png"  # in the run folder
        shot = Path(run_dir) / shot_rel if run_dir is not None else None
        out.append(
            {
                "id": b,
                "samples": [[_s(s[0], t0), *s[1:]] for s in tab.get("samples") or []],
                "errors": {**dict.fromkeys(ERROR_KINDS, 0), **(tab.get("errors") or {})},
                "console_errors": [
                    {"t_s": _s(t, t0), "detail": d} for t, d in tab.get("console_errors") or []
                ],
                "page_errors": [
                    {"t_s": _s(t, t0), "detail": d} for t, d in tab.get("page_errors") or []
                ],
                "env_refetches": tab.get("env_refetches", 0),
                "screenshot": str(shot_rel) if shot is not None and shot.is_file() else None,
                "seen": {
                    "records": 0,
                    "ids": 0,
                    "dropped": 0,
                    "given_up": 0,
                    "page_ms": 0.0,
                    "errors": 0,
                    "clock_offset_ms": None,
                    "clock_rtt_ms": None,
                    **seen,
                },
                "heap_mib": tab.get("heap"),
            }
        )
    latency = part.get("latency")
    if latency is None:  # a merged summary: the latency rows are per process
        latency = latency_comparison(LatencyJoin(), replicas, browsers, {})
        latency["overall"]["reasons"] = [MERGED_LATENCY]
        latency["summary"] = f"latency not compared: {MERGED_LATENCY}"
    return {
        "browsers": out,
        "fidelity": fidelity(
            summary,
            part.get("views") or {},
            part.get("truth_ids") or {},
            replicas,
            browsers,
            part.get("minutes"),
            latency,
        ),
    }


def _compared(kind: str, detail: str) -> bool:
    """Findings both sides can show: judged on final views. A page journals no `apply` per
    render, so stale `lag`/`regression` and reorder are seen on the replica side only."""
    return kind in ("missing", "duplicate") or (kind == "stale" and detail == "divergence")


def _findings_by_window(
    summary: Summary,
) -> tuple[dict[tuple[str, str], dict[str, int]], dict[tuple[str, str], dict[str, int]]]:
    """(client, window key) -> {kind: ids}: the compared findings, and the per-update ones
    (`<kind>:<detail>`) only a replica can show."""
    out: dict[tuple[str, str], dict[str, int]] = {}
    other: dict[tuple[str, str], dict[str, int]] = {}
    for g in summary.groups.values():
        if g.kind not in ("missing", "duplicate", "stale", "reorder") or not g.win:
            continue
        n = g.count() if g.ids else g.observations
        key = (g.client, window_key(g.env, g.win))
        if _compared(g.kind, g.detail):
            row = out.setdefault(key, dict.fromkeys(FIDELITY_KINDS, 0))
            row[g.kind] += n
        else:
            row = other.setdefault(key, {})
            row[f"{g.kind}:{g.detail}"] = row.get(f"{g.kind}:{g.detail}", 0) + n
    return out, other


def _side(
    clients: list[str],
    win: str,
    views: dict[str, dict[str, dict[str, Any]]],
    truth_ids: int | None,
    found: dict[tuple[str, str], dict[str, int]],
    other: dict[tuple[str, str], dict[str, int]],
) -> dict[str, Any]:
    subs = []
    for c in clients:
        view = views.get(c, {}).get(
            win
        )  # its final view against the truth (reports/checkers/browser.py)
        row = found.get((c, win), dict.fromkeys(FIDELITY_KINDS, 0))
        entry: dict[str, Any] = {
            "id": c,
            "final_ids": None if view is None else view["final_ids"],
            "findings": row,
            "not_compared": other.get((c, win), {}),
        }
        if view is not None and truth_ids is not None:
            for k in (
                "absent",
                "extra",
                "equal_truth",
                "off_by",
            ):  # off_by: ids different or repeated
                entry[k] = view[k]
        subs.append(entry)
    kinds = sorted({k for s in subs for k, n in s["findings"].items() if n})
    extra = sorted({k for s in subs for k, n in s["not_compared"].items() if n})
    return {"subscribers": subs, "kinds": kinds, "not_compared": extra}


def _reloads(
    summary: Summary,
    replicas: list[str],
    browsers: list[str],
    minutes: dict[str, float] | None = None,
) -> dict[str, Any]:
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
            total = (
                sum(summary.subscribers.get(c, {}).get("connected_ns", 0) for c in clients) / 60e9
            )
        return round(sum(n.get(c, 0) for c in clients) / total, 1) if total > 0 else None

    rate_rep, rate_bro = rate(replicas), rate(browsers)
    rates = {"replica": rate_rep, "browser": rate_bro}
    ratio = None
    if not replicas or not browsers or rate_rep is None or rate_bro is None:
        agree = (not replicas or not browsers) or (any(rep.values()) == any(bro.values()))
    elif rate_rep == rate_bro == 0:
        agree = True
    elif 0 in (rate_rep, rate_bro):
        agree = False
    else:
        ratio = round(rate_rep / rate_bro, 2)
        agree = 1 / RELOAD_RATE_FACTOR <= ratio <= RELOAD_RATE_FACTOR
    text = (
        f"replica {', '.join(f'{c} {v}' for c, v in rep.items()) or 'none'}; "
        f"browser {', '.join(f'{c} {v}' for c, v in bro.items())}; per connected minute replica "
        f"{rates['replica']}, browser {rates['browser']}"
        + (f" (×{ratio}, tolerance ×{RELOAD_RATE_FACTOR})" if ratio is not None else "")
    )
    return {
        "replica": rep,
        "browser": bro,
        "per_minute": rates,
        "ratio": ratio,
        "factor": RELOAD_RATE_FACTOR,
        "agree": agree,
        "summary": text,
    }


def fidelity(
    summary: Summary,
    views: dict[str, dict[str, dict[str, Any]]],
    truth: dict[str, int],
    replicas: list[str],
    browsers: list[str],
    minutes: dict[str, float] | None = None,
    latency: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The `fidelity` part: `views` client -> window -> its final view's figures, `truth`
    window -> the truth's ids, `minutes` client -> minutes connected under load."""
    found, other = _findings_by_window(summary)
    windows = sorted(set(truth) | {w for c in replicas + browsers for w in views.get(c, {})})
    rows, differences = [], []
    for win in windows:
        t = truth.get(win)
        rep = _side(replicas, win, views, t, found, other)
        bro = _side(browsers, win, views, t, found, other)
        reasons = []
        if rep["kinds"] != bro["kinds"]:
            reasons.append(
                f"findings differ: replica {rep['kinds'] or 'none'}, browser {bro['kinds'] or 'none'}"
            )
        for side, name in ((rep, "replica"), (bro, "browser")):
            for s in side["subscribers"]:
                if s["final_ids"] is None:
                    if (
                        name == "browser"
                    ):  # a replica without views is judged on its state (Locust tabs)
                        reasons.append(f"{name} {s['id']} has no final view")
                elif s.get("off_by", 0) > TOLERANCE_IDS:
                    reasons.append(
                        f"{name} {s['id']} ends {s['off_by']} id(s) off the truth "
                        f"({s['absent']} absent, {s['extra']} extra)"
                    )
        agree = not reasons
        rows.append(
            {
                "window": win,
                "truth_ids": t,
                "replica": rep,
                "browser": bro,
                "agree": agree,
                "differences": reasons,
            }
        )
        differences += [f"{win}: {r}" for r in reasons]
    reloads = _reloads(summary, replicas, browsers, minutes)
    if not reloads["agree"]:
        differences.append(f"reloads: {reloads['summary']}")
    if latency is None:
        latency = latency_comparison(LatencyJoin(), replicas, browsers, {})
    differences += latency["differences"]
    all_agree = None  # no window to compare
    if rows:
        all_agree = (
            all(r["agree"] for r in rows) and reloads["agree"] and latency["agree"] is not False
        )
    return {
        "reloads": reloads,
        "latency": latency,
        "tolerance": {
            "ids_per_subscriber": TOLERANCE_IDS,
            "kinds": ["missing", "duplicate", "stale:divergence"],
            "reload_rate_factor": RELOAD_RATE_FACTOR,
            "rule": "same final-view finding kinds (missing, duplicate, stale divergence) on both sides "
            f"and every final view within {TOLERANCE_IDS} ids of the server truth; per-update "
            "findings (stale lag/regression, reorder) need a replica's apply records and are "
            "listed, not compared; full env reloads per connected minute, side against side, "
            f"within ×{RELOAD_RATE_FACTOR}; latency of the same ids: per id the page at most "
            f"{LATENCY_PAGE_LATER_MAX_MS:g} ms later than the replica and the replica at most "
            f"×{LATENCY_RATIO_MAX} of the page's p50 (at least {LATENCY_SLACK_MS['p50']:g} ms) "
            f"later, medians over the ids; p99 within ×{LATENCY_RATIO_MIN}–×{LATENCY_RATIO_MAX} "
            f"or within {LATENCY_SLACK_MS['p99']:g} ms",
        },
        "replica_subscribers": replicas,
        "browser_subscribers": browsers,
        "windows": rows,
        "agree": all_agree,
        "differences": differences,
    }


def seen_text(seen: dict[str, Any] | None) -> str:
    """A browser's first-seen stamping in a few words: ids, losses, page time, clock offset."""
    if not seen or not seen.get("records"):
        return "none"
    lost = ", ".join(
        f"{seen[k]} {k.replace('_', ' ')}" for k in ("dropped", "given_up", "errors") if seen.get(k)
    )
    clock = (
        f"; clock {seen['clock_offset_ms']:+g} ms (±{seen['clock_rtt_ms'] / 2:g})"
        if seen.get("clock_offset_ms") is not None
        else ""
    )
    return (
        f"{seen['ids']} ids{' (' + lost + ')' if lost else ''}, page {seen['page_ms']:g} ms{clock}"
    )


def fidelity_cells(row: dict[str, Any]) -> list[str]:
    """One fidelity row as text, for the Markdown and HTML tables: window, truth ids,
    replica final ids, replica findings, browser final ids, browser findings, replica only."""

    def ids(side: dict[str, Any]) -> str:
        return ", ".join(f"{s['id']} {s['final_ids']}" for s in side["subscribers"])

    return [
        str(row["window"]),
        str(row["truth_ids"]),
        ids(row["replica"]),
        ", ".join(row["replica"]["kinds"]) or "none",
        ids(row["browser"]),
        ", ".join(row["browser"]["kinds"]) or "none",
        ", ".join(row["replica"].get("not_compared") or []) or "none",
    ]


LATENCY_HEADER = [
    "latency (same ids)",
    "ids",
    "replica p50 / p99 ms",
    "browser p50 / p99 ms",
    "ratio p50 / p99",
    "page later per id p25 / p50 ms",
    "agree",
]


def latency_cells(row: dict[str, Any]) -> list[str]:
    """One latency row as text, for the Markdown and HTML tables (LATENCY_HEADER)."""

    def pair(d: dict[str, Any]) -> str:
        return f"{d['p50_ms']} / {d['p99_ms']}" if d.get("n") else "not measured"

    r = row.get("ratio") or {}
    ratio = f"×{r.get('p50')} / ×{r.get('p99')}" if row["verdict"] != "not_measured" else "n/a"
    verdict = {"agree": "yes", "not_measured": "not measured"}.get(
        row["verdict"], f"no: {row['verdict']}"
    )
    ids = str(row["ids"]) + (
        f" (every {row['sampled_every']}th seq)" if row.get("sampled_every", 1) > 1 else ""
    )
    later = row.get("page_later") or {}
    later_text = (
        "n/a" if later.get("p50_ms") is None else f"{later['p25_ms']:+g} / {later['p50_ms']:+g}"
    )
    return [
        str(row["window"]),
        ids,
        pair(row["replica"]),
        pair(row["browser"]),
        ratio,
        later_text,
        verdict,
    ]


def latency_rows(lat: dict[str, Any]) -> list[dict[str, Any]]:
    """The rows to show: each window, then the overall one."""
    return [*(lat.get("windows") or []), *([lat["overall"]] if lat.get("overall") else [])]


def subscriber_latency_text(lat: dict[str, Any]) -> str:
    subs = (lat.get("overall") or {}).get("subscribers") or {}
    return ", ".join(
        f"{c} {d['p50_ms']} / {d['p99_ms']} ms ({d['n']})" for c, d in subs.items() if d.get("n")
    )


def render_markdown(section: dict[str, Any]) -> list[str]:
    lines = [
        "## Browser (real Chromium subscribers)",
        "",
        "| browser | JS heap MiB first / max / last | samples | console errors | page errors | failed requests "
        "| env re-fetches | first-seen stamps | screenshot |",
        "|---|---|---:|---:|---:|---:|---:|---|---|",
    ]
    for b in section.get("browsers") or []:
        h = b.get("heap_mib") or {}
        heap = f"{h.get('first')} / {h.get('max')} / {h.get('last')}" if h else "n/a"
        shot = (
            f"[{md(b['screenshot'])}]({quote(b['screenshot'])})" if b.get("screenshot") else "none"
        )
        lines.append(
            f"| {md(b['id'])} | {heap} | {h.get('samples', 0)} | {b['errors'].get('console_error', 0)} | "
            f"{b['errors'].get('page_error', 0)} | {b['errors'].get('request_failed', 0)} | "
            f"{b.get('env_refetches', 0)} | {md(seen_text(b.get('seen')))} | {shot} |"
        )
    lines.append("")
    for b in section.get("browsers") or []:
        for kind in ("console_errors", "page_errors"):
            for err in b.get(kind) or []:
                lines.append(
                    f"- {md(b['id'])} {kind[:-1].replace('_', ' ')} at t={err['t_s']} s: "
                    + md(err["detail"][:200])
                )
    fid = section.get("fidelity") or {}
    if fid.get("windows"):
        verdict = "agree" if fid.get("agree") else "**differ**"
        lines += [
            "",
            f"### Fidelity: replica vs browser ({verdict})",
            "",
            f"Tolerance: {md(fid['tolerance']['rule'])}.",
            "",
            "| window | truth ids | replica final ids | replica findings | browser final ids | "
            "browser findings | agree | replica only (not compared) |",
            "|---|---:|---|---|---|---|---|---|",
        ]
        for r in fid["windows"]:
            *cells, not_compared = fidelity_cells(r)
            lines.append(
                "| "
                + " | ".join([*map(md, cells), "yes" if r["agree"] else "**no**", md(not_compared)])
                + " |"
            )
        lat = fid.get("latency")
        if lat:
            lines += [
                "",
                "| " + " | ".join(LATENCY_HEADER) + " |",
                "|---|---:|---:|---:|---:|---:|---|",
            ]
            for r in latency_rows(lat):
                cells = [md(c) for c in latency_cells(r)]
                if not r["agree"] and r["verdict"] != "not_measured":
                    cells[-1] = f"**{cells[-1]}**"
                lines.append("| " + " | ".join(cells) + " |")
            if subscriber_latency_text(lat):
                lines += [
                    "",
                    f"Latency per subscriber, p50 / p99 (ids): {md(subscriber_latency_text(lat))}.",
                ]
        if fid.get("reloads"):
            lines += [
                "",
                f"Full env reloads per subscriber (env-wide): {md(fid['reloads']['summary'])}"
                f" — {'agree' if fid['reloads']['agree'] else '**differ**'}.",
                "",
            ]
        for d in fid.get("differences") or []:
            lines.append(f"- {md(d)}")
    lines.append("")
    return lines
