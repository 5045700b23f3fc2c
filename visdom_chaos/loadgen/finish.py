"""Test stop, in the order `visdom-chaos run` uses: sources stop, quiescence, truth, analysis.

Split in steps because distributed mode runs them under a barrier: every worker's
sources must be quiet before any worker reads server truth, or a worker would read
a truth older than its subscribers' final views.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from visdom_chaos import quiescence
from visdom_chaos.loadgen.clients import DeliveryFailure
from visdom_chaos.loadgen.session import Session
from visdom_chaos.reports.analyze import config_for
from visdom_chaos.reports.render import findings_table
from visdom_chaos.wire.subscriber import Subscriber as ReplicaSubscriber

log = logging.getLogger("visdom_chaos.loadgen")

INFLIGHT_TIMEOUT_S = 15.0
FAILURE_EVENTS_PER_ROW = 10_000  # bound on Locust failure events one finding row fires
LOCUST_KINDS = (
    "duplicate",
    "missing",
    "stale",
)  # delivery findings; protocol errors and reloads stay in the report


def stop_sources(session: Session) -> None:
    """Training users stop sending; browser scripts pause; every browser gets back online."""
    session.finishing.set()
    deadline = time.monotonic() + INFLIGHT_TIMEOUT_S
    while session.inflight > 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    for s in list(session.subscribers):
        if getattr(s, "_stopped", False):
            continue
        if isinstance(s, ReplicaSubscriber):  # a Chromium page cannot stall
            s.unstall()  # a stalled tab catches up before the final view
        if not s.connected:
            s.reconnect()
    session.phase("sources_stopped", inflight=session.inflight)


def wait_quiescent(session: Session) -> bool:
    """No message to any of this process's browsers for quiet_s (bounded)."""
    return quiescence.wait_quiescent(
        session.subscribers,
        session.phase,
        float(session.knobs.quiet_s),
        float(session.knobs.quiescence_timeout_s),
    )


def fetch_truth(session: Session) -> None:
    """Server truth at quiescence: /win_data of every env the knobs use."""
    quiescence.fetch_truth(session.base_url, session.env_names, session.orch)


def quiesce_and_truth(session: Session) -> None:
    wait_quiescent(session)
    fetch_truth(session)


def analysis_config(meta: dict[str, Any]) -> Any:
    """The analyzers' thresholds, with the knobs' overrides (recorded in run.json params)."""
    bound = float((meta.get("params") or {}).get("stale_bound_ms") or 0)
    return config_for(meta, stale_bound_ms=bound) if bound > 0 else config_for(meta)


def summarize(session: Session) -> tuple[Any, dict[str, Any], Any]:
    """(Summary, run.json, read stats) of this process's run folder; the folder must be closed first."""
    return session.folder.summarize(analysis_config(session.meta.to_dict()))


def assemble(
    session: Session, summary: Any, meta: dict[str, Any], stats: Any, *, browser: bool = True
) -> dict[str, Any]:
    """The report, assembled as `visdom-chaos run`'s is (RunFolder.assemble): with `input`,
    `server` and, where present, `security`; `browser` from this process's own Chromium
    journals unless browser=False (a master's merged summary has no journals of the
    workers' pages)."""
    return session.folder.assemble(summary, meta, analysis_config(meta), stats, browser=browser)


def write_and_print(session: Session, report: dict[str, Any]) -> None:
    from rich.console import Console

    session.folder.write_report(report)
    console = Console(stderr=False)
    console.print(findings_table(report))
    console.print(f"report: {session.run_dir}/report.json")


def fire_findings(fire: Any, summary: Any) -> int:
    """Report findings as Locust failures (request type DELIVER, name = window kind).

    One failure event per affected (id, subscriber) of each finding group, bounded per
    row, with "<finding>: <detail>" as the reason; returns how many events were fired.
    Read from the summary (complete), not the report's evidence (truncated).
    """
    from visdom_chaos.loadgen.clients import kind_of_window

    rows: dict[tuple[str, str], int] = {}
    for g in summary.groups.values():
        if g.kind not in LOCUST_KINDS:
            continue
        n = g.count() if g.ids else g.observations
        key = (kind_of_window(g.win) if g.win else "connection", f"{g.kind}: {g.detail}")
        rows[key] = rows.get(key, 0) + n
    fired = 0
    for (name, reason), n in sorted(rows.items()):
        for _ in range(min(n, FAILURE_EVENTS_PER_ROW)):
            fire(
                request_type="DELIVER",
                name=name,
                response_time=0.0,
                response_length=0,
                exception=DeliveryFailure(reason),
                context={},
            )
            fired += 1
    return fired


def write_reports_quietly(session: Session, report: dict[str, Any]) -> None:
    """A worker's own report.json/report.md (no plots: the master's report has them)."""
    session.folder.write_report(report, plots=False)
