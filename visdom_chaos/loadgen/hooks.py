"""The Locust event listeners: knobs on the command line, a session per test, the stop sequence.

Imported by loadtests/visdom_users.py; listeners are registered once per process
(module import), whichever locustfiles import it.
"""

from __future__ import annotations

import logging
import sys
import traceback
from pathlib import Path
from typing import Any

from locust import events
from locust.runners import MasterRunner, WorkerRunner

from visdom_chaos.loadgen import distributed, finish, knobs
from visdom_chaos.loadgen import session as sessions
from visdom_chaos.netguard import RemoteTargetError, check_url

log = logging.getLogger("visdom_chaos.loadgen")

ROLE_KNOB = {"training": "training_users", "polling": "polling_users", "chromium": "browsers"}


@events.init_command_line_parser.add_listener
def _add_knobs(parser: Any) -> None:
    knobs.add_arguments(parser)


def _refuse(message: str) -> None:
    sys.stderr.write(f"visdom-chaos: {message}\n")
    sys.exit(2)


@events.init.add_listener
def _on_init(environment: Any, **_: Any) -> None:
    opts = environment.parsed_options
    if opts is None:  # Locust used as a library without our arguments
        return
    try:
        knobs.apply_scenario(opts)
        knobs.Knobs.from_options(opts).kind_list  # noqa: B018 - validates --vc-kinds now
    except knobs.ScenarioError as exc:
        _refuse(str(exc))
    if environment.host and not isinstance(environment.runner, WorkerRunner):
        try:
            check_url(environment.host, allow_remote=bool(opts.vc_allow_remote))
        except RemoteTargetError as exc:
            _refuse(f"{exc} (Locust: --vc-allow-remote)")
    opts._vc_auto_out = not opts.vc_out
    _warn_open_web_ui(environment, opts)
    if not isinstance(environment.runner, WorkerRunner):
        _drop_unused_classes(environment, knobs.Knobs.from_options(opts))
    if isinstance(environment.runner, MasterRunner):
        distributed.setup_master(environment)
    elif isinstance(environment.runner, WorkerRunner):
        distributed.setup_worker(environment)


def _warn_open_web_ui(environment: Any, opts: Any) -> None:
    """Locust's web UI binds every interface by default, and anyone who reaches it can start load."""
    host = getattr(opts, "web_host", "")
    if getattr(environment, "web_ui", None) is not None and host in ("", "*", "0.0.0.0", "::"):
        log.warning(
            "the Locust web UI listens on all interfaces (--web-host %r): anyone who can reach "
            "it can start a test; pass --web-host 127.0.0.1 (visdom-chaos locust does)",
            host,
        )


def _drop_unused_classes(environment: Any, k: knobs.Knobs) -> None:
    """A fixed_count of 0 means "weighted" to Locust, so a role asked for 0 users leaves the list.

    Done once at init (the master builds its dispatcher before test_start); workers keep
    every class, since the master names the classes they spawn.
    """
    keep = [
        c
        for c in environment.user_classes
        if getattr(c, "vc_role", None) not in ROLE_KNOB or int(getattr(k, ROLE_KNOB[c.vc_role])) > 0
    ]
    if keep and len(keep) != len(environment.user_classes):
        environment.user_classes[:] = keep


def _apply_user_counts(environment: Any, k: knobs.Knobs) -> None:
    """Training, polling and Chromium users are fixed counts; WebSocket browsers take the rest of -u."""
    for cls in environment.user_classes:
        role = getattr(cls, "vc_role", None)
        if role in ROLE_KNOB:
            n = int(getattr(k, ROLE_KNOB[role]))
            if n > 0:
                cls.fixed_count = n
            else:
                log.warning(
                    "%s: 0 requested after start-up; Locust cannot drop a class then", cls.__name__
                )


@events.test_start.add_listener
def _on_test_start(environment: Any, **_: Any) -> None:
    opts = environment.parsed_options
    runner = environment.runner
    old = sessions.get(environment)
    if old is not None:  # a previous test in the same process that did not stop cleanly
        old.close("interrupted")
    try:
        _start_session(environment, opts, runner)
    except (RemoteTargetError, knobs.ScenarioError) as exc:
        # e.g. a host typed into the web UI: no session, so the users stop at once
        log.error("visdom-chaos: not starting: %s", exc)


def _start_session(environment: Any, opts: Any, runner: Any) -> None:
    check_url(
        environment.host or "", allow_remote=bool(opts.vc_allow_remote)
    )  # before any folder exists
    if isinstance(runner, WorkerRunner):
        k = knobs.Knobs.from_options(opts)
        tag = f"w{runner.worker_index}"
        run_dir = sessions.worker_run_dir(k.out, tag)
        sessions.put(
            environment,
            sessions.Session(
                environment,
                k,
                run_dir,
                tag=tag,
                monitor=False,
                worker_index=int(runner.worker_index),
            ),
        )
        return
    knobs.apply_scenario(opts)  # the web UI form sends the defaults back: fill them again
    if getattr(opts, "_vc_auto_out", True):
        opts.vc_out = str(sessions.default_out())  # a new folder per test (web UI restarts)
    k = knobs.Knobs.from_options(opts)
    _apply_user_counts(environment, k)
    extra = {"workers": len(runner.clients)} if isinstance(runner, MasterRunner) else {}
    s = sessions.Session(
        environment,
        k,
        Path(k.out),
        tag="master" if extra else "",
        meta_extra=extra,
        monitor=bool(k.monitor),
    )
    if k.fresh_envs and s.plan is None:  # only our own <prefix><n> envs, never a scenario's "main"
        sessions.clear_envs(s.base_url, k.env_names)
    sessions.put(environment, s)
    log.info("visdom-chaos run folder: %s", s.run_dir)


@events.test_stopping.add_listener
def _on_test_stopping(environment: Any, **_: Any) -> None:
    s = sessions.get(environment)
    if s is None:
        return
    try:
        if isinstance(environment.runner, MasterRunner):
            distributed.master_finish(environment)
        elif not s.truth_done:
            finish.stop_sources(s)
            finish.quiesce_and_truth(s)
            s.truth_done = True
    except Exception:  # noqa: BLE001 - the stop must go on; the report notes the status
        log.error("visdom-chaos stop sequence failed:\n%s", traceback.format_exc())
        s.meta.error = "stop sequence failed (see log)"


@events.test_stop.add_listener
def _on_test_stop(environment: Any, **_: Any) -> None:
    s = sessions.get(environment)
    if s is None:
        return
    sessions.put(environment, None)
    runner = environment.runner
    s.close("complete" if not s.meta.error else "failed")
    try:
        summary, meta, stats = finish.summarize(s)
    except Exception as exc:  # noqa: BLE001
        log.error("visdom-chaos analysis failed:\n%s", traceback.format_exc())
        if isinstance(runner, WorkerRunner):
            distributed.send_summary(
                environment, s, None, None, error=f"{type(exc).__name__}: {exc}"
            )
        return
    if isinstance(runner, WorkerRunner):
        totals = None
        try:  # the worker's own report is a convenience; the summary must reach the master regardless
            report = finish.assemble(s, summary, meta, stats)
            totals = report["totals"]
            finish.write_reports_quietly(s, report)
        except Exception:  # noqa: BLE001
            log.error("visdom-chaos worker report failed:\n%s", traceback.format_exc())
        distributed.send_summary(environment, s, summary, totals)
        return
    workers: list[dict[str, Any]] = []
    if isinstance(runner, MasterRunner):
        summary, workers = distributed.merged_summary(environment, summary)
    # the same assembly as `visdom-chaos run`'s report; a merged summary has no pages of this folder
    report = finish.assemble(s, summary, meta, stats, browser=not workers)
    if workers:
        report["workers"] = workers
    s.report = report
    finish.write_and_print(s, report)
    # Findings become Locust failures, so the UI, --csv and --html show them.
    finish.fire_findings(environment.events.request.fire, summary)
