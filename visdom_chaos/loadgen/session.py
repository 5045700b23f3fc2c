"""One Locust process's share of a run: its run folder, journals and live clients.

A local run (or a worker) journals into `<out>/journal/` (a worker into
`<out>/workers/w<index>/journal/`): client ids carry the worker tag, so lineages and
sources stay distinct when the master merges the workers' summaries. The folder is a
`visdom_chaos.runfolder.RunFolder`, as `visdom-chaos run`'s is.
"""

from __future__ import annotations

import itertools
import logging
import os
import random
import threading
import time
from pathlib import Path
from typing import Any

import psutil
import requests

from visdom_chaos.loadgen.clients import DeliveryObserver
from visdom_chaos.loadgen.knobs import Knobs
from visdom_chaos.loadgen.scenario import Plan, load_plan
from visdom_chaos.localserver import describe, find_local_server
from visdom_chaos.monitor import HarnessMonitor, ServerMonitor
from visdom_chaos.netguard import check_url
from visdom_chaos.runfolder import RunFolder, RunMeta, new_run_dir
from visdom_chaos.wire.protocol import Subscriber
from visdom_chaos.wire.training import TrainingSource

log = logging.getLogger("visdom_chaos.loadgen")


OLD_ID_SLACK_NS = 5_000_000_000  # workers start a little apart; ids older than this are leftovers


def default_out() -> Path:
    return new_run_dir(None, "locust")


def worker_run_dir(out: str | None, tag: str) -> Path:
    """A distributed worker's folder: `<out>/workers/<tag>/` (no --vc-out: under a new run folder)."""
    return Path(out or default_out()) / "workers" / tag


class Session:
    """The live state of one Locust process during one test (created at test_start)."""

    def __init__(
        self,
        environment: Any,
        knobs: Knobs,
        run_dir: Path,
        tag: str = "",
        monitor: bool = True,
        meta_extra: dict[str, Any] | None = None,
        worker_index: int = 0,
    ) -> None:
        self.environment = environment
        self.knobs = knobs
        self.tag = tag
        self.worker_index = worker_index
        self.base_url = check_url(environment.host or "", allow_remote=bool(knobs.allow_remote))
        started_ns = time.time_ns()
        self.folder = RunFolder(
            run_dir,
            RunMeta(
                scenario=Path(knobs.scenario).stem if knobs.scenario else "locust",
                locust_scenario_file=knobs.scenario or None,
                target={
                    "version": knobs.visdom_version,
                    "variant": "external",
                    "url": self.base_url,
                },
                duration_s=_run_time(environment),
                started_ns=started_ns,
                seed=knobs.seed,
                params=dict(knobs.values),
                locust={"role": tag or "local", **(meta_extra or {})},
            ),
            locust=tag or "local",
        )
        self.run_dir = self.folder.path
        self.meta = self.folder.meta
        self.journal = self.folder.journal("clients")
        self.orch = self.folder.orchestrator
        self.sources: list[TrainingSource] = []
        self.subscribers: list[Subscriber] = []
        self.finishing = threading.Event()  # sources stop sending, browser scripts pause
        self.inflight = 0  # training requests under way (bounded wait at stop)
        self.rng = random.Random(f"{knobs.seed}/{tag}")
        self.t0_mono = time.monotonic()
        self.plan: Plan | None = load_plan(knobs.scenario)
        self._ids: dict[str, itertools.count] = {}
        self._lock = threading.Lock()
        # Windows left over from earlier runs carry old send times: not deliveries of this run.
        self.observer = DeliveryObserver(
            environment.events.request.fire, min_send_ns=started_ns - OLD_ID_SLACK_NS
        )
        self.monitor: ServerMonitor | None = None
        # the Locust process is the observer here: its CPU goes into every report's observer section
        self.harness = HarnessMonitor(self.folder.journal("observer"))
        self.harness.watch(os.getpid(), "locust", f"locust-{tag}" if tag else "locust")
        self.harness.start()
        self.report: dict[str, Any] | None = None
        self.truth_done = False  # quiescence and server truth are read once per test (stop hooks)
        if monitor:
            self._start_monitor()
        self.folder.write_meta()
        self.phase("start")

    @property
    def env_names(self) -> list[str]:
        """The envs this run watches: the scenario's sources', else the knobs', and the
        user's own (`--vc-user-env`: browsers watch it, training users never write it)."""
        envs = list(self.plan.envs if self.plan is not None else self.knobs.env_names)
        user = str(self.knobs.values.get("user_env") or "")
        return envs + [user] if user and user not in envs else envs

    # -- ids and bookkeeping --------------------------------------------------------
    def next_id(self, prefix: str) -> str:
        with self._lock:
            n = next(self._ids.setdefault(prefix, itertools.count()))
        return f"{prefix}-{self.tag}-{n}" if self.tag else f"{prefix}-{n}"

    def phase(self, name: str, **detail: Any) -> None:
        self.folder.phase(name, **detail)

    def _start_monitor(self) -> None:
        """The server behind --host, found by its port when it runs on this machine
        (visdom_chaos/localserver.py); run.json `server` says which pid, or why none."""
        found = find_local_server(self.base_url, exclude_pids=(os.getpid(),))
        info = found.to_dict()
        info.pop("url")
        self.meta.server = {"log": None, "external": True, **info}
        self.folder.note(describe(found))
        if found.pid is None:
            return
        try:
            self.monitor = ServerMonitor(
                found.pid, found.port, self.folder.journal("monitor")
            ).start()
        except psutil.Error as exc:
            self.meta.server["pid"] = None
            self.folder.note(f"server monitor unavailable: {exc}")

    # -- end ------------------------------------------------------------------------
    def stop_clients(self) -> None:
        for s in list(self.subscribers):
            try:
                s.stop()
            except Exception as exc:  # noqa: BLE001 - one bad client must not block the others
                log.warning("stopping %s: %s", s.client_id, exc)

    def close(self, status: str = "complete", error: str | None = None) -> None:
        self.stop_clients()
        if self.monitor is not None:
            # Sockets the server keeps after its clients left are ghosts: give them time to show.
            self.phase("settle", seconds=float(self.knobs.settle_s))
            end = time.monotonic() + float(self.knobs.settle_s)
            while time.monotonic() < end and not self.monitor.gone:
                time.sleep(0.2)
            self.monitor.stop()
            self.monitor.journal.close()
        self.harness.stop()
        self.harness.journal.close()
        self.folder.close(status, error)


def _run_time(environment: Any) -> float | None:
    opts = environment.parsed_options
    rt = getattr(opts, "run_time", None) if opts is not None else None
    return float(rt) if rt else None


def clear_envs(base_url: str, envs: list[str]) -> None:
    """Close every window of our envs, so a run starts from empty envs (POST /close, win null)."""
    for env in envs:
        try:
            requests.post(f"{base_url}/close", json={"eid": env, "win": None}, timeout=10)
        except requests.RequestException as exc:
            log.warning("could not clear env %s: %s", env, exc)


# The session of each Locust environment (one per process; a test restarted from the web UI gets a new one).
_sessions: dict[int, Session] = {}


def get(environment: Any) -> Session | None:
    return _sessions.get(id(environment))


def put(environment: Any, session: Session | None) -> None:
    if session is None:
        _sessions.pop(id(environment), None)
    else:
        _sessions[id(environment)] = session
