"""The findings matrix: scenarios × targets, each cell the key findings and whether expectations held."""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from visdom_chaos.reports.gate import RuleError, evaluate, parse_rules
from visdom_chaos.reports.summary import FINDING_KINDS

KEY_FINDINGS = FINDING_KINDS  # every finding kind of report.json, in its display order


@dataclass
class Cell:
    scenario: str
    target: str  # "0.2.4:stock"
    run_dir: str
    status: str
    findings: dict[str, int] = field(default_factory=dict)
    memory_slope: float | None = None
    memory_flagged: bool = False
    growth_mib: float | None = None
    server_exceptions: int | None = None
    server_closed: int = 0  # connections the server closed under a tab that did not leave
    vulnerable: list[str] = field(default_factory=list)  # security checks found vulnerable
    traffic_growth: float | None = None
    page: dict[str, Any] | None = None  # the page probe: online, bad_static, bad_requests
    client_socket: dict[str, Any] | None = None  # the client-socket probe: noticed, resumed
    singled_out: list[str] = field(
        default_factory=list
    )  # subscribers standing out against the others
    reload_causes: dict[str, int] = field(
        default_factory=dict
    )  # reloads by cause (reports/checkers/wire.py)
    expectations: list[dict[str, Any]] = field(default_factory=list)  # {rule, ok, value}
    error: str | None = None

    @property
    def expected_ok(self) -> bool | None:
        return None if not self.expectations else all(e["ok"] for e in self.expectations)

    def summary(self) -> str:
        if self.status not in ("complete", "interrupted") and self.error:
            return f"error: {self.error[:60]}"
        parts = [f"{k} {v}" for k, v in self.findings.items() if v]
        if self.findings.get("reload") and self.reload_causes:
            top = sorted(
                ((c, n) for c, n in self.reload_causes.items() if n), key=lambda kv: -kv[1]
            )[:2]
            parts.append("reloads by " + " · ".join(f"{c} {n}" for c, n in top))
        if self.singled_out:
            parts.append("singled out " + ", ".join(self.singled_out))
        if self.memory_flagged and self.memory_slope is not None:
            parts.append(f"RSS +{self.memory_slope:.0f} MiB/min")
        if self.server_exceptions:
            parts.append(f"server exceptions {self.server_exceptions}")
        if self.server_closed:
            parts.append(f"server closed {self.server_closed} tab(s)")
        if (
            self.traffic_growth and self.traffic_growth >= 30
        ):  # every text window grows; show the large
            parts.append(f"bytes/update ×{self.traffic_growth:.0f}")
        if self.vulnerable:
            parts.append("vulnerable: " + ", ".join(self.vulnerable))
        if self.page is not None:
            if self.page.get("online"):
                parts.append("page online")
            else:
                parts.append(
                    f"page offline ({self.page.get('bad_static', 0)} static 404s"
                    + ("" if self.page.get("ui") else ", no UI")
                    + ")"
                )
        if self.client_socket is not None:
            cs = self.client_socket
            parts.append(
                f"client noticed after {cs.get('noticed_after_s')} s"
                if cs.get("noticed")
                else "client never noticed"
            )
            parts.append(
                f"callbacks back {cs.get('resumed_after_heal_s')} s after heal"
                if cs.get("resumed")
                else "callbacks never back"
            )
        text = ", ".join(parts) or "clean"
        ok = self.expected_ok
        mark = "" if ok is None else (" ✓" if ok else " ✗")
        return text + mark


def cell_from_report(
    scenario: str,
    target: str,
    run_dir: Path,
    status: str,
    report: dict | None,
    rules: list[str],
    error: str | None,
) -> Cell:
    cell = Cell(scenario, target, str(run_dir), status, error=error)
    if report is None:
        return cell
    cell.findings = {k: int(report.get("findings", {}).get(k, 0) or 0) for k in KEY_FINDINGS}
    mem = report.get("memory", {})
    cell.memory_slope = mem.get("slope_mib_per_min")
    cell.memory_flagged = bool(mem.get("growth_flagged"))
    cell.growth_mib = mem.get("growth_mib")
    cell.server_exceptions = (report.get("server") or {}).get("exceptions")
    cell.server_closed = int((report.get("totals") or {}).get("server_closed") or 0)
    cell.vulnerable = list((report.get("security") or {}).get("vulnerable") or [])
    cell.traffic_growth = (report.get("traffic") or {}).get("bytes_per_update_growth")
    if isinstance(page := report.get("page"), dict):
        cell.page = {k: page.get(k) for k in ("online", "ui", "bad_static", "bad_requests")}
    if isinstance(cs := report.get("client_socket"), dict):
        keys = ("noticed", "noticed_after_s", "resumed", "resumed_after_heal_s")
        cell.client_socket = {k: cs.get(k) for k in keys}
    cell.singled_out = [s["client"] for s in report.get("singled_out") or []]
    cell.reload_causes = dict((report.get("causes") or {}).get("reload") or {})
    if rules:
        try:
            for outcome in evaluate(parse_rules("\n".join(rules)), report):
                cell.expectations.append(
                    {"rule": outcome.rule.text, "ok": outcome.ok, "value": outcome.value}
                )
        except RuleError as exc:
            cell.expectations.append({"rule": "; ".join(rules), "ok": False, "value": str(exc)})
    return cell


def write_matrix(
    out: Path, scenarios: list[str], targets: list[str], cells: list[Cell]
) -> dict[str, Path]:
    by = {(c.scenario, c.target): c for c in cells}
    data = {
        "schema": "visdom-chaos/matrix/1",
        "scenarios": scenarios,
        "targets": targets,
        "cells": [
            c.__dict__ | {"summary": c.summary(), "expected_ok": c.expected_ok} for c in cells
        ],
    }
    paths = {"json": out / "matrix.json", "md": out / "matrix.md", "html": out / "matrix.html"}
    paths["json"].write_text(json.dumps(data, indent=2, default=str))

    md = ["| scenario | " + " | ".join(targets) + " |", "|---|" + "---|" * len(targets)]
    for s in scenarios:
        row = [by[(s, t)].summary() if (s, t) in by else "—" for t in targets]
        md.append(f"| {s} | " + " | ".join(row) + " |")
    md.append("")
    md.append(
        "Cells list the non-zero findings (counts of affected (id, subscriber) pairs; "
        "reloads and protocol errors are events); ✓/✗: the scenario's expectations for that target held / failed."
    )
    paths["md"].write_text("\n".join(md) + "\n")

    rows = []
    for s in scenarios:
        tds = []
        for t in targets:
            c = by.get((s, t))
            if c is None:
                tds.append("<td>—</td>")
                continue
            cls = {True: "ok", False: "bad", None: ""}[c.expected_ok]
            link = html.escape(str(Path(c.run_dir) / "report.html"))
            tds.append(f'<td class="{cls}"><a href="{link}">{html.escape(c.summary())}</a></td>')
        rows.append(f"<tr><th>{html.escape(s)}</th>{''.join(tds)}</tr>")
    head = "".join(f"<th>{html.escape(t)}</th>" for t in targets)
    paths["html"].write_text(
        "<!doctype html><meta charset=utf-8><title>visdom-chaos matrix</title><style>"
        "body{font:14px sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;"
        "padding:.4em .6em;text-align:left}td.ok{background:#eaf7ea}td.bad{background:#fbeaea}</style>"
        f"<h1>Findings matrix</h1><table><tr><th>scenario</th>{head}</tr>{''.join(rows)}</table>"
        "<p>✓/✗: the scenario's expectations for that target held / failed. Click a cell for its report.</p>"
    )
    return paths
