"""JUnit XML: one test case per invariant (for CI test tabs), and the gate's outcomes."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from visdom_chaos.reports.escape import xml

INVARIANTS = (  # (test case, finding kind, what must hold)
    ("no_duplicates", "duplicate", "every id at most once in every view"),
    ("no_missing", "missing", "every acked id in every subscriber's final view"),
    ("in_order", "reorder", "ids applied in the order they were acked"),
    ("not_stale", "stale", "no view regressions, no late ids, final views equal the server's"),
    ("no_protocol_errors", "protocol_error", "no patch conflicts, hash mismatches or bad frames"),
    ("no_reload_storm", "reload", "no reload storms"),
    ("no_ghost_subscribers", "ghost_subscribers", "no server socket outlives its client"),
    ("wire_no_duplicates", "wire_duplicate", "every update frame at most once on every connection"),
    ("wire_in_order", "wire_reorder", "update frames arrive in ack order on every connection"),
    ("wire_no_gaps", "wire_gap", "no update frame skipped on any connection"),
    ("wire_decodable", "undecodable", "every frame is JSON with readable ids"),
)


SKIP = "skip: "  # a failure text starting so is a case that could not be judged


def _suite(name: str, cases: list[tuple[str, str | None, str]], report: dict[str, Any]) -> str:
    failures = sum(1 for _, f, _ in cases if f and not f.startswith(SKIP))
    skipped = sum(1 for _, f, _ in cases if f and f.startswith(SKIP))
    suite = ET.Element(
        "testsuite",
        name=name,
        tests=str(len(cases)),
        failures=str(failures),
        errors="0",
        skipped=str(skipped),
        time=str(report.get("duration_s") or 0),
    )
    classname = xml(f"visdom_chaos.{report.get('scenario')}")
    for case, failure, text in cases:
        # ElementTree escapes markup but writes control characters no XML parser reads back
        tc = ET.SubElement(suite, "testcase", classname=classname, name=xml(case))
        if failure and failure.startswith(SKIP):
            ET.SubElement(tc, "skipped", message=xml(failure[len(SKIP) :])).text = xml(text)
        elif failure:
            f = ET.SubElement(tc, "failure", message=xml(failure))
            f.text = xml(text)
        else:
            ET.SubElement(tc, "system-out").text = xml(text)
    ET.indent(suite)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suite, encoding="unicode") + "\n"
    )


def report_junit(report: dict[str, Any]) -> str:
    cases: list[tuple[str, str | None, str]] = []
    findings = report.get("findings") or {}
    evidence = report.get("evidence") or []
    storms = (report.get("findings_detail") or {}).get("reload", {}).get("storm_subscribers", 0)
    for case, kind, holds in INVARIANTS:
        n = storms if kind == "reload" else findings.get(kind, 0)
        lines = [e["message"] for e in evidence if e["kind"] == kind][:20]
        failure = f"{n} {kind} finding(s): {holds} does not hold" if n else None
        if failure and f"findings.{kind}" in (
            (report.get("trust") or {}).get("untrusted_metrics") or []
        ):
            failure = SKIP + f"{failure}, but the observer lost headroom (report.json trust)"
        cases.append((case, failure, "\n".join(lines) or holds))
    causes = report.get("causes") or {}
    if causes:
        cases.append(
            (
                "causes_known",
                f"{causes.get('unknown')} of {causes.get('attributed')} protocol errors and reloads have no known cause"
                f" ({causes.get('unknown_share', 0):.1%} > {causes.get('unknown_bound', 0):.0%})"
                if causes.get("unknown_flagged")
                else None,
                "reloads by cause: "
                + ", ".join(f"{k} {v}" for k, v in (causes.get("reload") or {}).items()),
            )
        )
    mem = report.get("memory") or {}
    cases.append(
        (
            "bounded_memory",
            f"RSS grows {mem.get('slope_mib_per_min')} MiB/min (bound {mem.get('bound_mib_per_min')})"
            if mem.get("growth_flagged")
            else None,
            f"slope {mem.get('slope_mib_per_min')} MiB/min over the {mem.get('slope_phase')} phase",
        )
    )
    return _suite("visdom-chaos invariants", cases, report)


def gate_junit(outcomes: list[Any], report: dict[str, Any]) -> str:
    cases = [
        (
            o.rule.text,
            SKIP + o.why
            if o.untrusted
            else None
            if o.ok
            else f"value {o.value} vs limit {o.rule.op} {o.limit}",
            f"value {o.value}, limit {o.rule.op} {o.limit}, baseline {o.baseline}",
        )
        for o in outcomes
    ]
    return _suite("visdom-chaos gate", cases, report)


def write_junit(run_dir: str | os.PathLike[str], report: dict[str, Any]) -> Path:
    path = Path(run_dir) / "junit.xml"
    path.write_text(report_junit(report), encoding="utf-8")
    return path
