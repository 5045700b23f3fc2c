"""Writing a report: report.json, report.md, plots/, report.html, junit.xml.

`write_reports(run_dir, report)` and `findings_table(report)` are what
`visdom-chaos run` calls; everything here renders from the report dict alone.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
from pathlib import Path
from typing import Any

from rich.table import Table

from visdom_chaos.journal import atomic_write
from visdom_chaos.reports.client_socket import client_socket_markdown
from visdom_chaos.reports.escape import md, term
from visdom_chaos.reports.page import page_markdown
from visdom_chaos.reports.summary import FINDING_KINDS, fault_label

log = logging.getLogger("visdom_chaos.reports")

KIND_TITLES = {
    "duplicate": "duplicate ids (id × subscriber)",
    "missing": "missing ids (id × subscriber)",
    "reorder": "reordered ids (id × subscriber)",
    "stale": "stale ids (id × subscriber)",
    "protocol_error": "protocol errors",
    "reload": "full reloads (non-initial resyncs)",
    "ghost_subscribers": "ghost subscribers (sockets)",
    "wire_duplicate": "wire duplicates (id × subscriber)",
    "wire_reorder": "wire reorders (id × subscriber)",
    "wire_gap": "wire gaps (id × subscriber)",
    "undecodable": "undecodable frames",
}
CAUSE_TITLES = {
    "wire_gap": "wire gap",
    "wire_reorder": "wire reorder",
    "wire_duplicate": "wire duplicate",
    "wire_undecodable": "undecodable frame",
    "render_writeback": "render write-back (0.2.4 Plotly)",
    "relayout": "relayout (0.2.4)",
    "render_batch_race": "render-batch race",
    "version_gap": "version gap (0.3.0 server numbering)",
    "user_action": "user action (open, refresh, reconnect, env switch)",
    "unknown": "unknown",
    "not_observed": "not observed (real browser)",
}


def causes_line(counts: dict[str, int] | None, limit: int = 6) -> str:
    """`render_writeback 4,012 · wire_gap 3 · unknown 12`, largest first."""
    items = sorted((counts or {}).items(), key=lambda kv: -kv[1])
    text = " · ".join(f"{c} {n:,}" for c, n in items[:limit] if n)
    return text + (f" · … {len(items) - limit} more" if len(items) > limit else "")


def singled_line(report: dict[str, Any]) -> str:
    out = report.get("singled_out") or []
    if out:

        def one(s: dict[str, Any]) -> str:
            reasons = s.get("reasons") or [s["why"]]
            return f"{s['client']}: {reasons[0]}" + (
                f" (+{len(reasons) - 1} more)" if len(reasons) > 1 else ""
            )

        return "; ".join(one(s) for s in out)
    normal = report.get("normal_behaviour") or []
    return "none" + (
        f"; uniform across tabs (the target's normal behaviour): {', '.join(normal)}"
        if normal
        else ""
    )


def _fmt(v: Any, unit: str = "") -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return f"{v:,.3f}".rstrip("0").rstrip(".") + unit
    return f"{v}{unit}"


def findings_table(report: dict[str, Any]) -> Table:
    """A rich table: one row per finding kind plus memory and latency.

    Rich reads markup in every string it is given: text from the run goes through `term`."""
    target = report.get("target") or {}
    title = term(
        f"visdom-chaos · {report.get('scenario')} · {target.get('version')} {target.get('variant') or ''}".strip()
    )
    table = Table(title=title, show_lines=False)
    table.add_column("finding")
    table.add_column("count", justify="right")
    table.add_column("evidence")
    evidence = report.get("evidence") or []
    for kind in FINDING_KINDS:
        n = (report.get("findings") or {}).get(kind, 0)
        first = next((e["message"] for e in evidence if e["kind"] == kind), "")
        style = "bold red" if n else "green"
        table.add_row(term(KIND_TITLES.get(kind, kind)), f"[{style}]{n}[/]", term(first))
    causes = report.get("causes") or {}
    if causes:
        unknown = causes.get("unknown_flagged")
        table.add_row(
            "reloads by cause",
            f"[{'bold red' if unknown else 'green'}]{sum((causes.get('reload') or {}).values())}[/]",
            term(causes_line(causes.get("reload")))
            + (
                f" [bold red](unknown {causes['unknown_share']:.0%} of errors and reloads)[/]"
                if unknown
                else ""
            ),
        )
    if "singled_out" in report:
        n = len(report["singled_out"])
        table.add_row(
            "singled out", f"[{'bold red' if n else 'green'}]{n}[/]", term(singled_line(report))
        )
    mem = report.get("memory") or {}
    flagged = mem.get("growth_flagged")
    table.add_row(
        "memory slope (MiB/min)",
        f"[{'bold red' if flagged else 'green'}]{_fmt(mem.get('slope_mib_per_min'))}[/]",
        f"RSS {_fmt(mem.get('rss_start_mib'))} → {_fmt(mem.get('rss_end_mib'))} MiB, peak "
        f"{_fmt(mem.get('rss_peak_mib'))}; bound {_fmt(mem.get('bound_mib_per_min'))}",
    )
    untrusted = (report.get("trust") or {}).get("timing") == "untrusted"
    mark = " [bold yellow](untrusted)[/]" if untrusted else ""
    for label, key in (
        ("latency p99, view (ms)", "latency_ms"),
        ("latency p99, wire (ms)", "latency_wire_ms"),
    ):
        lat = report.get(key) or {}
        table.add_row(
            label + mark,
            _fmt(lat.get("p99")),
            f"p50 {_fmt(lat.get('p50'))} · p95 {_fmt(lat.get('p95'))} · max {_fmt(lat.get('max'))}",
        )
    obs = report.get("observer")
    if obs:
        style = {"healthy": "green", "lost_headroom": "bold yellow"}.get(obs["verdict"], "")
        table.add_row(
            "observer",
            f"[{style}]{term(obs['verdict'])}[/]" if style else term(obs["verdict"]),
            term(observer_summary(obs)),
        )
    user_rows(table, report)
    tot = report.get("totals") or {}
    table.caption = (
        f"sent {tot.get('sent')} · acked {tot.get('acked')} · delivered {tot.get('delivered')}"
        f" · subscribers {tot.get('subscribers')}"
    )
    return table


def user_rows(table: Table, report: dict[str, Any]) -> None:
    """Rows for a user's own Visdom (issue 19): its windows' verdicts, the server process."""
    uw = report.get("user_windows")
    if uw:
        pairs = sum((uw.get("verdicts") or {}).values())
        found = sum((uw.get("findings") or {}).values())
        names = ", ".join(
            f"{w.get('title') or w['win']} ({w.get('type')})" for w in uw.get("windows") or []
        )
        bad = [
            f"{c}: {w.get('title') or w['win']} {f['detail']}"
            for w in uw.get("windows") or []
            for c, t in w["tabs"].items()
            for f in t["findings"]
        ]
        text = ("; ".join(bad[:3]) + (f"; … {len(bad) - 3} more" if len(bad) > 3 else "")) or (
            f"clean in every tab: {names}"
        )
        if uw.get("not_judged"):
            text += "; not judged: " + ", ".join(uw["not_judged"])
        style = "bold red" if found else "green"
        # titles and ids are the user's text: shown, never read as markup
        table.add_row("user windows (tab × window)", f"[{style}]{found}[/]/{pairs}", term(text))
    process = (report.get("server") or {}).get("process")
    if process:
        if process.get("pid") is not None:
            table.add_row(
                "server process",
                str(process["pid"]),
                term(
                    f"found by port {process.get('port')} ({process.get('found_by')}); "
                    f"{process.get('name')} on {process.get('listen')}"
                ),
            )
        else:
            table.add_row("server process", "[bold yellow]n/a[/]", term(process.get("note") or ""))


def observer_summary(obs: dict[str, Any]) -> str:
    """One line: the busiest harness process, the worst receive backlog, the drain, or why not trusted."""
    if obs.get("reasons"):
        return "; ".join(obs["reasons"])
    parts = []
    procs = [p for p in obs.get("processes") or [] if p.get("cpu_p90_pct") is not None]
    if procs:
        top = max(procs, key=lambda p: p["cpu_p90_pct"])
        parts.append(f"busiest {top['name']} CPU p90 {_fmt(top['cpu_p90_pct'])} % of a core")
    subs = [s for s in obs.get("subscribers") or [] if s.get("backlog_p99_ms") is not None]
    if subs:
        worst = max(subs, key=lambda s: s["backlog_p99_ms"])
        parts.append(f"worst backlog p99 {_fmt(worst['backlog_p99_ms'])} ms ({worst['client']})")
    drain = obs.get("drain") or {}
    if drain.get("harness_behind_at_end_s") is not None:
        parts.append(
            f"last frame handled {_fmt(drain['harness_behind_at_end_s'])} s after it was read"
        )
    return " · ".join(parts) or "no observer figures"


def observer_markdown(obs: dict[str, Any]) -> list[str]:
    rule = obs.get("rule") or {}
    lines = [
        "## Observer",
        "",
        f"Verdict: **{md(obs['verdict'])}**"
        + (": " + md("; ".join(obs["reasons"])) if obs.get("reasons") else "")
        + f". Rule: a harness process at ≥ {_fmt(rule.get('cpu_pct'))} % of a core for "
        f"{_fmt(rule.get('cpu_sustained_s'))} s, a receive backlog p99 above "
        f"{_fmt(rule.get('backlog_p99_ms'))} ms, or the last frame handled more than "
        f"{_fmt(rule.get('end_lag_s'))} s after it was read makes the timing findings untrusted.",
        "",
    ]
    procs = obs.get("processes") or []
    if procs:
        lines += [
            "| harness process | CPU mean | p90 | max (% of a core) | longest ≥ bound (s) |",
            "|---|---:|---:|---:|---:|",
        ]
        for p in procs:
            lines.append(
                f"| {md(p['name'])} | {_fmt(p['cpu_mean_pct'])} | {_fmt(p['cpu_p90_pct'])} | "
                f"{_fmt(p['cpu_max_pct'])} | {_fmt(p['above_threshold_longest_s'])} |"
            )
        lines.append("")
    subs = obs.get("subscribers") or []
    if subs:
        lines += [
            "| subscriber | frames | receive backlog p50 | p99 | max (ms) | kernel backlog max (bytes) |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for r in subs:
            lines.append(
                f"| {md(r['client'])} | {r['frames']} | {_fmt(r['backlog_p50_ms'])} | "
                f"{_fmt(r['backlog_p99_ms'])} | {_fmt(r['backlog_max_ms'])} | "
                f"{_fmt(r['kernel_backlog_max_bytes'])} |"
            )
        lines.append("")
    d = obs.get("drain") or {}
    if d:
        lines += [
            f"Drain: last ack t={_fmt(d.get('last_ack_s'))} s, server busy until "
            f"t={_fmt(d.get('server_busy_until_s'))} s, last frame read t={_fmt(d.get('last_frame_read_s'))} s "
            f"and handled t={_fmt(d.get('last_frame_handled_s'))} s (drain {_fmt(d.get('drain_s'))} s, "
            f"harness behind at the end {_fmt(d.get('harness_behind_at_end_s'))} s).",
            "",
        ]
    return lines


def cause_table(causes: dict[str, Any], klass: str) -> tuple[list[str], list[list[str]]]:
    """Columns and rows (one per subscriber, then the total) of one class's counts by cause."""
    total = causes.get(klass) or {}
    cols = [c for c in CAUSE_TITLES if total.get(c)] + sorted(
        c for c in total if c not in CAUSE_TITLES
    )
    rows = []
    for client, per in (causes.get("by_subscriber") or {}).items():
        counts = per.get(klass) or {}
        if counts:
            rows.append([client, str(sum(counts.values()))] + [str(counts.get(c, 0)) for c in cols])
    rows.append(["all", str(sum(total.values()))] + [str(total.get(c, 0)) for c in cols])
    return cols, rows


def causes_markdown(report: dict[str, Any]) -> list[str]:
    causes = report.get("causes")
    if not causes or not (causes.get("reload") or causes.get("protocol_error")):
        return []
    lines = [
        "## Reloads and protocol errors by cause",
        "",
        "Each hash mismatch, version gap or other protocol error and each reload (a resync other than "
        "the initial load) is laid at one cause: a wire anomaly on that connection and window since its "
        "last snapshot, else the mechanism the browser replica saw, else a user action, else unknown "
        "(reports/README.md).",
        "",
    ]
    for klass, title in (("reload", "reloads"), ("protocol_error", "protocol errors")):
        cols, rows = cause_table(causes, klass)
        if len(rows) == 1 and rows[0][1] == "0":
            continue
        lines += [
            f"| {title} by subscriber | total | "
            + " | ".join(md(CAUSE_TITLES.get(c, c)) for c in cols)
            + " |",
            "|---|---:|" + "---:|" * len(cols),
        ]
        lines += ["| " + " | ".join(md(x) for x in r) + " |" for r in rows]
        lines.append("")
    share = causes.get("unknown_share", 0.0)
    lines += [
        f"Unknown: {causes.get('unknown', 0)} of {causes.get('attributed', 0)} ({share:.1%}; bound "
        f"{causes.get('unknown_bound', 0):.0%})"
        + (
            " — **a finding: the report cannot say why these happened**"
            if causes.get("unknown_flagged")
            else ""
        )
        + ".",
        "",
    ]
    return lines


def singled_markdown(report: dict[str, Any]) -> list[str]:
    if "singled_out" not in report:
        return []
    lines = ["## Singled out", ""]
    out = report.get("singled_out") or []
    if out:
        for s in out:
            lines.append(f"- **{md(s['client'])}** ({md(s.get('transport'))}): {md(s['why'])}")
    else:
        lines.append("- No subscriber stands out against the others of its transport.")
    normal = report.get("normal_behaviour_detail") or {}
    if normal:
        lines += [
            "",
            "Uniform across the tabs of this run, so the target's normal behaviour, not one tab's fault:",
            "",
        ]
        lines += [f"- {md(kind)}: {md(why)}" for kind, why in normal.items()]
    lines.append("")
    return lines


def render_markdown(report: dict[str, Any], plots: list[str] | None = None) -> str:
    target = report.get("target") or {}
    tot = report.get("totals") or {}
    mem = report.get("memory") or {}
    lat = report.get("latency_ms") or {}
    wire = report.get("latency_wire_ms") or {}
    untrusted = " **untrusted**" if (report.get("trust") or {}).get("timing") == "untrusted" else ""
    lines = [
        f"# visdom-chaos report: {md(report.get('scenario'))}",
        "",
        # the URL is not in a code span: untrusted text never is (escape.md)
        f"Target **{md(target.get('version'))} {md(target.get('variant') or '')}** at "
        f"{md(target.get('url'))}, {_fmt(report.get('duration_s'))} s, status {md(report.get('status'))}.",
        "",
        f"Sent {tot.get('sent')}, acked {tot.get('acked')}, delivered {tot.get('delivered')} "
        f"(id × subscriber), {tot.get('subscribers')} subscribers.",
        "",
        "## Findings",
        "",
        "| finding | count | details |",
        "|---|---:|---|",
    ]
    detail = report.get("findings_detail") or {}
    for kind in FINDING_KINDS:
        d = ", ".join(f"{md(k)} {v}" for k, v in sorted((detail.get(kind) or {}).items()) if v)
        lines.append(f"| {KIND_TITLES.get(kind, kind)} | {report['findings'].get(kind, 0)} | {d} |")
    lines += [
        f"| memory slope (MiB/min, {mem.get('slope_phase', 'all')} phase) | "
        f"{_fmt(mem.get('slope_mib_per_min'))} | {'**flagged** ' if mem.get('growth_flagged') else ''}"
        f"≈ {_fmt(mem.get('implied_mib_per_hour'))} MiB/h; RSS {_fmt(mem.get('rss_start_mib'))} → "
        f"{_fmt(mem.get('rss_end_mib'))}, peak {_fmt(mem.get('rss_peak_mib'))} MiB; "
        f"{mem.get('slow_subscribers', 0)} slow subscriber(s) |",
        f"| latency, view (ms){untrusted} | p99 {_fmt(lat.get('p99'))} | p50 {_fmt(lat.get('p50'))}, p95 "
        f"{_fmt(lat.get('p95'))}, max {_fmt(lat.get('max'))}, n {lat.get('count', 0)} (send → visible in the tab) |",
        f"| latency, wire (ms){untrusted} | p99 {_fmt(wire.get('p99'))} | p50 {_fmt(wire.get('p50'))}, p95 "
        f"{_fmt(wire.get('p95'))}, max {_fmt(wire.get('max'))}, n {wire.get('count', 0)} (send → bytes read "
        "off the socket) |",
        "",
    ]
    lines += causes_markdown(report) + singled_markdown(report)
    if report.get("page"):
        lines += page_markdown(report["page"], md)
    if report.get("client_socket"):
        lines += client_socket_markdown(report["client_socket"])
    if report.get("observer"):
        lines += observer_markdown(report["observer"])
    evidence = report.get("evidence") or []
    if evidence:
        lines += ["## Evidence", ""]
        for e in evidence[:50]:
            ids = ", ".join(f"{s}#{q}" for s, q in e.get("ids", [])[:10])
            more = f" … ({e['ids_total']} ids)" if e.get("ids_total", 0) > 10 else ""
            lines.append(f"- {md(e['message'])}" + (f" — ids {md(ids)}{more}" if ids else ""))
        if len(evidence) > 50:
            lines.append(f"- … {len(evidence) - 50} more in report.json")
        lines.append("")
    subs = report.get("subscribers") or []
    if subs:
        kinds = [k for k in FINDING_KINDS if k != "ghost_subscribers"] + ["ghost_subscribers"]
        lines += [
            "## Subscribers",
            "",
            "| id | transport | conns | delivered | " + " | ".join(kinds) + " |",
            "|---|---|---:|---:|" + "---:|" * len(kinds),
        ]
        for s in subs:
            lines.append(
                f"| {md(s['id'])} | {md(s['transport'])} | {s.get('conns', '')} | {s.get('delivered', '')} | "
                + " | ".join(str(s["findings"].get(k, 0)) for k in kinds)
                + " |"
            )
        lines.append("")
    faults = report.get("faults") or []
    if faults:
        lines += ["## Injected faults", ""]
        for f in faults[:30]:
            lines.append(f"- {md(fault_line(f))}")
        if len(faults) > 30:
            lines.append(f"- … {len(faults) - 30} more in report.json")
        lines.append("")
    if report.get("browser"):
        from visdom_chaos.reports.browser import render_markdown as browser_markdown

        lines += browser_markdown(report["browser"])
    if plots:
        lines += ["## Plots", ""] + [f"![{Path(p).stem}]({p})" for p in plots] + [""]
    notes = report.get("notes") or []
    if notes:
        lines += ["## Notes", ""] + [f"- {md(n)}" for n in notes] + [""]
    return "\n".join(lines)


def fault_line(f: dict[str, Any]) -> str:
    """One fault for people: time, what, where, and its detail as compact JSON."""
    where = ", ".join(
        str(x) for x in (f.get("client"), f.get("proxy"), f.get("stream")) if x and x != "proxy"
    )
    detail = f.get("detail")
    detail_text = (
        json.dumps(detail, separators=(",", ":"), default=str)
        if isinstance(detail, dict | list)
        else (str(detail) if detail else "")
    )
    return (
        f"t={_fmt(f.get('t_s'))} s: {fault_label(f)}"
        + (f" [{where}]" if where else "")
        + (f" {detail_text[:160]}" if detail_text else "")
    )


def _plotting(report: dict[str, Any]) -> Any:
    """The plots module, or None with a note in the report when matplotlib cannot be imported
    (a dependency of visdom-chaos, so a broken install): the plots are missing, the rest is not."""
    try:
        return importlib.import_module("visdom_chaos.reports.plots")
    except ImportError as exc:
        note = (
            f"plots not drawn: matplotlib could not be imported ({type(exc).__name__}: {exc}); "
            "report.html and junit.xml are written without them (reinstall visdom-chaos to get them back)"
        )
        notes = report.setdefault("notes", [])
        if note not in notes:
            notes.append(note)
        log.warning("%s", note)
        return None


def write_reports(
    run_dir: str | os.PathLike[str], report: dict[str, Any], *, plots: bool = True
) -> list[Path]:
    """Write report.json, report.md and, unless plots=False, plots/*.png, report.html, junit.xml.

    Without a working matplotlib the plots are left out and the report's notes say so (also
    in report.html); report.html and junit.xml do not depend on it."""
    run = Path(run_dir)
    run.mkdir(parents=True, exist_ok=True)
    written = []
    plot_files: list[str] = []
    extra: list[Path] = []
    if plots:
        # imported here, not at the top: html imports this module
        from visdom_chaos.reports import html, junit

        plotting = _plotting(report)
        pngs = plotting.write_plots(run, report) if plotting is not None else []
        plot_files = [str(p.relative_to(run)) for p in pngs]
        extra = [*pngs, html.write_html(run, report, pngs), junit.write_junit(run, report)]
    atomic_write(run / "report.json", json.dumps(report, indent=2, default=str) + "\n")
    written.append(run / "report.json")
    atomic_write(run / "report.md", render_markdown(report, plot_files))
    written.append(run / "report.md")
    return written + extra
