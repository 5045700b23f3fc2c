"""report.html: one self-contained file (plots embedded as base64 PNG, no external assets)."""

from __future__ import annotations

import base64
import os
from html import escape
from pathlib import Path
from typing import Any

from reports.render import KIND_TITLES, _fmt, fault_line
from reports.summary import FINDING_KINDS

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


def render_html(report: dict[str, Any], pngs: list[Path]) -> str:
    t = report.get("target") or {}
    tot = report.get("totals") or {}
    mem = report.get("memory") or {}
    lat = report.get("latency_ms") or {}
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
        parts.append(f"<tr><td>{e(KIND_TITLES.get(kind, kind))}</td><td class='n {'bad' if n else 'ok'}'>{n}</td>"
                     f"<td>{e(first)}</td></tr>")
    parts.append(
        f"<tr><td>memory slope (MiB/min)</td><td class='n {'bad' if mem.get('growth_flagged') else 'ok'}'>"
        f"{_fmt(mem.get('slope_mib_per_min'))}</td><td>≈ {_fmt(mem.get('implied_mib_per_hour'))} MiB/h; RSS "
        f"{_fmt(mem.get('rss_start_mib'))} → {_fmt(mem.get('rss_end_mib'))} MiB, peak {_fmt(mem.get('rss_peak_mib'))}"
        f"; bound {_fmt(mem.get('bound_mib_per_min'))}</td></tr>"
        f"<tr><td>latency p99 (ms)</td><td class=n>{_fmt(lat.get('p99'))}</td><td>p50 {_fmt(lat.get('p50'))} · "
        f"p95 {_fmt(lat.get('p95'))} · max {_fmt(lat.get('max'))}</td></tr></table>"
    )
    parts.append("<h2>Plots</h2>" + "".join(_img(p) for p in pngs))
    if evidence:
        parts.append("<h2>Evidence</h2><ul>")
        for x in evidence[:100]:
            ids = ", ".join(f"{s}#{q}" for s, q in x.get("ids", [])[:20])
            parts.append(f"<li>{e(x['message'])}" + (f" <span class=dim>ids {e(ids)}</span>" if ids else "") + "</li>")
        parts.append("</ul>")
    subs = report.get("subscribers") or []
    if subs:
        parts.append("<h2>Subscribers</h2><table><tr><th>id</th><th>transport</th><th>conns</th><th>delivered</th>"
                     + "".join(f"<th>{e(k)}</th>" for k in FINDING_KINDS) + "</tr>")
        for s in subs:
            parts.append(f"<tr><td>{e(s['id'])}</td><td>{e(s['transport'])}</td><td class=n>{s.get('conns', '')}</td>"
                         f"<td class=n>{s.get('delivered', '')}</td>"
                         + "".join(f"<td class=n>{s['findings'].get(k, 0)}</td>" for k in FINDING_KINDS) + "</tr>")
        parts.append("</table>")
    faults = report.get("faults") or []
    if faults:
        parts.append("<h2>Injected faults</h2><ul>" + "".join(
            f"<li>{e(fault_line(f))}</li>" for f in faults[:100]) + "</ul>")
    notes = report.get("notes") or []
    if notes:
        parts.append("<h2>Notes</h2><ul>" + "".join(f"<li>{e(n)}</li>" for n in notes) + "</ul>")
    parts.append("</body></html>\n")
    return "".join(parts)


def write_html(run_dir: str | os.PathLike[str], report: dict[str, Any], pngs: list[Path]) -> Path:
    path = Path(run_dir) / "report.html"
    path.write_text(render_html(report, pngs), encoding="utf-8")
    return path
