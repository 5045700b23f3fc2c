"""Distributed mode: workers summarise their own clients; the master merges the summaries.

No raw journal travels: each worker analyses its own run folder into a mergeable
`visdom_chaos.reports.summary.Summary` and sends it with a Locust custom message. The stop is a
barrier, driven by the master at `test_stopping` (Locust's headless `--run-time`
quits the master without waiting for workers, so the master must ask and wait):

  master -> vc_quiesce     every worker stops its sources       -> vc_quiet
  master -> vc_truth       (all quiet) quiescence, server truth, then the worker
                           stops its users and summarises      -> vc_summary
  master merges the summaries with its own (server monitor, phases) at `test_stop`.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from visdom_chaos.loadgen import finish
from visdom_chaos.loadgen import session as sessions
from visdom_chaos.reports.summary import Summary, merge

log = logging.getLogger("visdom_chaos.loadgen")

QUIET_TIMEOUT_S = 30.0


@dataclass
class MasterState:
    expect: set[str] = field(default_factory=set)
    quiet: set[str] = field(default_factory=set)
    summaries: dict[str, dict[str, Any]] = field(default_factory=dict)  # worker id -> message data


_master: dict[int, MasterState] = {}


def master_state(environment: Any) -> MasterState:
    return _master.setdefault(id(environment), MasterState())


# -- master ---------------------------------------------------------------------------------


def setup_master(environment: Any) -> None:
    runner = environment.runner
    state = master_state(environment)

    def on_quiet(environment: Any, msg: Any, **_: Any) -> None:
        state.quiet.add(msg.node_id)

    def on_summary(environment: Any, msg: Any, **_: Any) -> None:
        state.summaries[msg.node_id] = msg.data
        log.info("summary from worker %s (%d bytes)", msg.node_id, len(msg.data.get("summary", "")))

    runner.register_message("vc_quiet", on_quiet)
    runner.register_message("vc_summary", on_summary)


def _alive(environment: Any) -> set[str]:
    return set(environment.runner.clients.keys())


def _wait(environment: Any, done: Any, timeout: float, what: str) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if done():
            return True
        time.sleep(0.1)
    log.error("timed out after %.0f s waiting for workers to %s", timeout, what)
    return False


def master_finish(environment: Any) -> None:
    """At the master's test_stopping: run the barrier; returns when every summary is in (bounded)."""
    state = master_state(environment)
    state.expect = _alive(environment)
    state.quiet.clear()
    state.summaries.clear()
    if not state.expect:
        return
    own = sessions.get(environment)
    knobs = own.knobs if own is not None else None
    runner = environment.runner
    for wid in state.expect:
        runner.send_message("vc_quiesce", None, client_id=wid)
    _wait(
        environment,
        lambda: state.expect & _alive(environment) <= state.quiet,
        QUIET_TIMEOUT_S,
        "stop their sources",
    )
    for wid in state.expect:
        runner.send_message("vc_truth", None, client_id=wid)
    timeout = float(knobs.summary_timeout_s) if knobs else 120.0
    _wait(
        environment,
        lambda: state.expect & _alive(environment) <= set(state.summaries),
        timeout,
        "send summaries",
    )


def merged_summary(environment: Any, own: Any) -> tuple[Any, list[dict[str, Any]]]:
    """The master's own summary merged with every worker's; and the workers' totals."""
    state = master_state(environment)
    merged = own
    workers = []
    for wid, data in sorted(state.summaries.items()):
        if data.get("summary"):
            try:
                merged = merge(merged, Summary.from_dict(json.loads(data["summary"])))
            except (ValueError, KeyError, TypeError) as exc:
                merged.note(
                    f"worker {wid}: summary could not be merged ({type(exc).__name__}: {exc})"
                )
        else:
            merged.note(f"worker {wid} could not summarise: {data.get('error')}")
        workers.append(
            {
                "worker": wid,
                "index": data.get("index"),
                "run_dir": data.get("run_dir"),
                "totals": data.get("totals"),
                "error": data.get("error"),
            }
        )
    missing = sorted(state.expect - set(state.summaries))
    if missing:
        merged.note(
            f"no summary from worker(s) {', '.join(missing)}: their clients are not in this report"
        )
    return merged, workers


# -- worker ---------------------------------------------------------------------------------


def setup_worker(environment: Any) -> None:
    runner = environment.runner

    def on_quiesce(environment: Any, msg: Any, **_: Any) -> None:
        s = sessions.get(environment)
        if s is not None:
            finish.stop_sources(s)
        runner.send_message("vc_quiet", None)

    def on_truth(environment: Any, msg: Any, **_: Any) -> None:
        s = sessions.get(environment)
        if s is not None and not s.truth_done:
            finish.quiesce_and_truth(s)
            s.truth_done = True
        # Stopping the users writes their final views; test_stop then sends the summary.
        environment.runner.stop()

    # concurrent: these block for seconds and must not hold up the worker's message loop
    runner.register_message("vc_quiesce", on_quiesce, concurrent=True)
    runner.register_message("vc_truth", on_truth, concurrent=True)


def send_summary(
    environment: Any, s: Any, summary: Any, totals: dict[str, Any] | None, error: str | None = None
) -> None:
    data = {
        "index": getattr(environment.runner, "worker_index", None),
        "run_dir": str(s.run_dir),
        "summary": json.dumps(summary.to_dict(), default=list) if summary is not None else "",
        "totals": totals,
        "error": error,
    }
    environment.runner.send_message("vc_summary", data)
