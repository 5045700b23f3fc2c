"""report.html: one self-contained file (plots embedded as base64 PNG, no external assets)."""

from __future__ import annotations

import base64
import os
from html import escape
from pathlib import Path
from typing import Any

from visdom_chaos.reports.browser import (
    LATENCY_HEADER,
    fidelity_cells,
    latency_cells,
    latency_rows,
    seen_text,
    subscriber_latency_text,
)
from visdom_chaos.reports.render import (
    CAUSE_TITLES,
    KIND_TITLES,
    _fmt,
    cause_table,
    causes_line,
    fault_line,
    observer_summary,
    singled_line,
)
from visdom_chaos.reports.summary import FINDING_KINDS

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem auto;max-width:1100px;color:#222}
h1{font-size:1.5rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:.9rem}td,th{border:1px solid #ddd;padding:.25rem .6rem;text-align:left}
td.n{text-align:right;font-variant-numeric:tabular-nums}.bad{color:#b00020;font-weight:600}.ok{color:#1b7f3b}
img{max-width:100%;border:1px solid #eee;margin:.5rem 0}code{background:#f4f4f4;padding:0 .2rem}
li{margin:.2rem 0}.dim{color:#777}
"""


def _img(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<figure><img alt="{escape(path.stem)}" src="data:image/png;base64,{data}"></figure>'


def render_browser(section: dict[str, Any], run_dir: Path | None) -> str:
    """Browser section: per browser heap, errors, the screenshot embedded; the fidelity table."""
    e = escape
    parts = [
        "<h2>Browser (real Chromium subscribers)</h2><table><tr><th>browser</th><th>JS heap MiB first / max / last"
        "</th><th>console errors</th><th>page errors</th><th>failed requests</th><th>env re-fetches</th>"
        "<th>first-seen stamps</th></tr>"
    ]
    for b in section.get("browsers") or []:
        h = b.get("heap_mib") or {}
        heap = f"{h.get('first')} / {h.get('max')} / {h.get('last')}" if h else "n/a"
        errs = b.get("errors") or {}
        parts.append(
            f"<tr><td>{e(b['id'])}</td><td>{e(heap)}</td><td class=n>{errs.get('console_error', 0)}</td>"
            f"<td class=n>{errs.get('page_error', 0)}</td><td class=n>{errs.get('request_failed', 0)}</td>"
            f"<td class=n>{b.get('env_refetches', 0)}</td><td>{e(seen_text(b.get('seen')))}</td></tr>"
        )
    parts.append("</table>")
    for b in section.get("browsers") or []:
        errors = (b.get("console_errors") or []) + (b.get("page_errors") or [])
        if errors:
            parts.append(
                f"<p>{e(b['id'])} errors:</p><ul>"
                + "".join(
                    f"<li>t={x['t_s']} s <code>{e(x['detail'][:300])}</code></li>" for x in errors
                )
                + "</ul>"
            )
        shot = (
            Path(run_dir) / b["screenshot"] if run_dir is not None and b.get("screenshot") else None
        )
        if shot is not None and shot.is_file():
            parts.append(
                f"<p>{e(b['id'])} at the end (<code>{e(b['screenshot'])}</code>):</p>" + _img(shot)
            )
        elif b.get("screenshot"):
            parts.append(f"<p>{e(b['id'])} screenshot: <code>{e(b['screenshot'])}</code></p>")
    fid = section.get("fidelity") or {}
    if fid.get("windows"):
        verdict = "agree" if fid.get("agree") else "DIFFER"
        parts.append(
            f"<h3>Fidelity: replica vs browser — {verdict}</h3><p>Tolerance: {e(fid['tolerance']['rule'])}."
            "</p><table><tr><th>window</th><th>truth ids</th><th>replica final ids</th><th>replica findings"
            "</th><th>browser final ids</th><th>browser findings</th><th>agree</th><th>replica only (not compared)</th></tr>"
        )
        for r in fid["windows"]:
            window, truth, *cells, not_compared = fidelity_cells(r)
            parts.append(
                f"<tr><td>{e(window)}</td><td class=n>{e(truth)}</td>"
                + "".join(f"<td>{e(c)}</td>" for c in cells)
                + f"<td class='{'ok' if r['agree'] else 'bad'}'>{'yes' if r['agree'] else 'no'}</td>"
                f"<td>{e(not_compared)}</td></tr>"
            )
        parts.append("</table>")
        lat = fid.get("latency")
        if lat:
            parts.append(
                "<table><tr>" + "".join(f"<th>{e(h)}</th>" for h in LATENCY_HEADER) + "</tr>"
            )
            for r in latency_rows(lat):
                *cells, verdict = latency_cells(r)
                cls = "ok" if r["agree"] else "dim" if r["verdict"] == "not_measured" else "bad"
                parts.append(
                    "<tr>"
                    + "".join(f"<td>{e(c)}</td>" for c in cells)
                    + f"<td class={cls}>{e(verdict)}</td></tr>"
                )
            parts.append("</table>")
            if subscriber_latency_text(lat):
                parts.append(
                    f"<p>Latency per subscriber, p50 / p99 (ids): {e(subscriber_latency_text(lat))}.</p>"
                )
        if fid.get("reloads"):
            parts.append(
                f"<p>Full env reloads per subscriber (env-wide): {e(fid['reloads']['summary'])}.</p>"
            )
        if fid.get("differences"):
            parts.append("<ul>" + "".join(f"<li>{e(d)}</li>" for d in fid["differences"]) + "</ul>")
    return "".join(parts)


def render_observer(obs: dict[str, Any]) -> str:
    e = escape
    out = [
        f"<h2>Observer</h2><p>Verdict <b>{e(obs['verdict'])}</b>"
        + (": " + e("; ".join(obs["reasons"])) if obs.get("reasons") else "")
        + ".</p>"
    ]
    procs = obs.get("processes") or []
    if procs:
        out.append(
            "<table><tr><th>harness process</th><th>CPU mean</th><th>p90</th><th>max (% of a core)</th>"
            "<th>longest ≥ bound (s)</th></tr>"
        )
        out += [
            f"<tr><td>{e(p['name'])}</td><td class=n>{_fmt(p['cpu_mean_pct'])}</td><td class=n>"
            f"{_fmt(p['cpu_p90_pct'])}</td><td class=n>{_fmt(p['cpu_max_pct'])}</td><td class=n>"
            f"{_fmt(p['above_threshold_longest_s'])}</td></tr>"
            for p in procs
        ]
        out.append("</table>")
    subs = obs.get("subscribers") or []
    if subs:
        out.append(
            "<table><tr><th>subscriber</th><th>frames</th><th>backlog p50</th><th>p99</th><th>max (ms)</th>"
            "<th>kernel backlog max (bytes)</th></tr>"
        )
        out += [
            f"<tr><td>{e(r['client'])}</td><td class=n>{r['frames']}</td><td class=n>{_fmt(r['backlog_p50_ms'])}"
            f"</td><td class=n>{_fmt(r['backlog_p99_ms'])}</td><td class=n>{_fmt(r['backlog_max_ms'])}</td>"
            f"<td class=n>{_fmt(r['kernel_backlog_max_bytes'])}</td></tr>"
            for r in subs
        ]
        out.append("</table>")
    d = obs.get("drain") or {}
    if d:
        out.append(
            f"<p>Drain: last ack t={_fmt(d.get('last_ack_s'))} s, server busy until "
            f"t={_fmt(d.get('server_busy_until_s'))} s, last frame read t={_fmt(d.get('last_frame_read_s'))} s, "
            f"handled t={_fmt(d.get('last_frame_handled_s'))} s.</p>"
        )
    return "".join(out)


def render_causes(report: dict[str, Any]) -> str:
    """Reloads and protocol errors by cause per subscriber; who is singled out, what is normal."""
    e = escape
    parts: list[str] = []
    causes = report.get("causes") or {}
    if causes.get("reload") or causes.get("protocol_error"):
        parts.append("<h2>Reloads and protocol errors by cause</h2>")
        for klass, title in (("reload", "reloads"), ("protocol_error", "protocol errors")):
            cols, rows = cause_table(causes, klass)
            if len(rows) == 1 and rows[0][1] == "0":
                continue
            parts.append(
                f"<table><tr><th>{title} by subscriber</th><th>total</th>"
                + "".join(f"<th>{e(CAUSE_TITLES.get(c, c))}</th>" for c in cols)
                + "</tr>"
            )
            for r in rows:
                parts.append(
                    f"<tr><td>{e(r[0])}</td>"
                    + "".join(f"<td class=n>{x}</td>" for x in r[1:])
                    + "</tr>"
                )
            parts.append("</table><p></p>")
        share = causes.get("unknown_share", 0.0)
        cls = "bad" if causes.get("unknown_flagged") else "dim"
        parts.append(
            f"<p class={cls}>Unknown: {causes.get('unknown', 0)} of {causes.get('attributed', 0)} "
            f"({share:.1%}; bound {causes.get('unknown_bound', 0):.0%}).</p>"
        )
    if "singled_out" in report:
        parts.append("<h2>Singled out</h2><ul>")
        out = report.get("singled_out") or []
        parts += [
            f"<li><b>{e(s['client'])}</b> ({e(str(s.get('transport')))}): {e(s['why'])}</li>"
            for s in out
        ]
        if not out:
            parts.append("<li>No subscriber stands out against the others of its transport.</li>")
        parts.append("</ul>")
        normal = report.get("normal_behaviour_detail") or {}
        if normal:
            parts.append(
                "<p>Uniform across the tabs of this run, so the target's normal behaviour:</p><ul>"
                + "".join(f"<li>{e(k)}: {e(v)}</li>" for k, v in normal.items())
                + "</ul>"
            )
    return "".join(parts)


def render_html(report: dict[str, Any], pngs: list[Path], run_dir: Path | None = None) -> str:
    t = report.get("target") or {}
    tot = report.get("totals") or {}
    mem = report.get("memory") or {}
    e = escape
    parts = [
        "<!doctype html><html lang=en><head><meta charset=utf-8>",
        f"<title>visdom-chaos · {e(str(report.get('scenario')))}</title><style>{STYLE}</style></head><body>",
        f"<h1>visdom-chaos report: {e(str(report.get('scenario')))}</h1>",
        f"<p>Target <b>{e(str(t.get('version')))} {e(str(t.get('variant') or ''))}</b> at <code>{e(str(t.get('url')))}"
        f"</code>, {_fmt(report.get('duration_s'))} s, status {e(str(report.get('status')))}. Sent {tot.get('sent')}, "
        f"acked {tot.get('acked')}, delivered {tot.get('delivered')}, {tot.get('subscribers')} subscribers.</p>",
        "<h2>Findings</h2><table><tr><th>finding</th><th>count</th><th>first evidence</th></tr>",
    ]
    evidence = report.get("evidence") or []
    for kind in FINDING_KINDS:
        n = (report.get("findings") or {}).get(kind, 0)
        first = next((x["message"] for x in evidence if x["kind"] == kind), "")
        parts.append(
            f"<tr><td>{e(KIND_TITLES.get(kind, kind))}</td><td class='n {'bad' if n else 'ok'}'>{n}</td>"
            f"<td>{e(first)}</td></tr>"
        )
    parts.append(
        f"<tr><td>memory slope (MiB/min)</td><td class='n {'bad' if mem.get('growth_flagged') else 'ok'}'>"
        f"{_fmt(mem.get('slope_mib_per_min'))}</td><td>≈ {_fmt(mem.get('implied_mib_per_hour'))} MiB/h; RSS "
        f"{_fmt(mem.get('rss_start_mib'))} → {_fmt(mem.get('rss_end_mib'))} MiB, peak {_fmt(mem.get('rss_peak_mib'))}"
        f"; bound {_fmt(mem.get('bound_mib_per_min'))}</td></tr>"
    )
    untrusted = " (untrusted)" if (report.get("trust") or {}).get("timing") == "untrusted" else ""
    for label, key in (
        ("latency p99, view (ms)", "latency_ms"),
        ("latency p99, wire (ms)", "latency_wire_ms"),
    ):
        lat = report.get(key) or {}
        parts.append(
            f"<tr><td>{label}{untrusted}</td><td class=n>{_fmt(lat.get('p99'))}</td><td>p50 "
            f"{_fmt(lat.get('p50'))} · p95 {_fmt(lat.get('p95'))} · max {_fmt(lat.get('max'))}</td></tr>"
        )
    obs = report.get("observer")
    if obs:
        cls = (
            "ok"
            if obs["verdict"] == "healthy"
            else "bad"
            if obs["verdict"] == "lost_headroom"
            else ""
        )
        parts.append(
            f"<tr><td>observer</td><td class='n {cls}'>{e(obs['verdict'])}</td>"
            f"<td>{e(observer_summary(obs))}</td></tr>"
        )
    causes = report.get("causes") or {}
    if causes:
        unknown = causes.get("unknown_flagged")
        parts.append(
            f"<tr><td>reloads by cause</td><td class='n {'bad' if unknown else 'ok'}'>"
            f"{sum((causes.get('reload') or {}).values())}</td><td>{e(causes_line(causes.get('reload')))}</td></tr>"
        )
    if "singled_out" in report:
        n = len(report["singled_out"])
        parts.append(
            f"<tr><td>singled out</td><td class='n {'bad' if n else 'ok'}'>{n}</td>"
            f"<td>{e(singled_line(report))}</td></tr>"
        )
    parts.append("</table>")
    parts.append(render_causes(report))
    if obs:
        parts.append(render_observer(obs))
    parts.append("<h2>Plots</h2>" + "".join(_img(p) for p in pngs))
    if evidence:
        parts.append("<h2>Evidence</h2><ul>")
        for x in evidence[:100]:
            ids = ", ".join(f"{s}#{q}" for s, q in x.get("ids", [])[:20])
            parts.append(
                f"<li>{e(x['message'])}"
                + (f" <span class=dim>ids {e(ids)}</span>" if ids else "")
                + "</li>"
            )
        parts.append("</ul>")
    subs = report.get("subscribers") or []
    if subs:
        parts.append(
            "<h2>Subscribers</h2><table><tr><th>id</th><th>transport</th><th>conns</th><th>delivered</th>"
            + "".join(f"<th>{e(k)}</th>" for k in FINDING_KINDS)
            + "</tr>"
        )
        for s in subs:
            parts.append(
                f"<tr><td>{e(s['id'])}</td><td>{e(s['transport'])}</td><td class=n>{s.get('conns', '')}</td>"
                f"<td class=n>{s.get('delivered', '')}</td>"
                + "".join(f"<td class=n>{s['findings'].get(k, 0)}</td>" for k in FINDING_KINDS)
                + "</tr>"
            )
        parts.append("</table>")
    if report.get("browser"):
        parts.append(render_browser(report["browser"], run_dir))
    faults = report.get("faults") or []
    if faults:
        parts.append(
            "<h2>Injected faults</h2><ul>"
            + "".join(f"<li>{e(fault_line(f))}</li>" for f in faults[:100])
            + "</ul>"
        )
    notes = report.get("notes") or []
    if notes:
        parts.append("<h2>Notes</h2><ul>" + "".join(f"<li>{e(n)}</li>" for n in notes) + "</ul>")
    parts.append("</body></html>\n")
    return "".join(parts)


def write_html(run_dir: str | os.PathLike[str], report: dict[str, Any], pngs: list[Path]) -> Path:
    path = Path(run_dir) / "report.html"
    path.write_text(render_html(report, pngs, Path(run_dir)), encoding="utf-8")
    return path
