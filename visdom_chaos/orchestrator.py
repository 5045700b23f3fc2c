"""One experiment, end to end: target up, subscribers and sources, quiescence, truth, analysis.

Everything started here is stopped here, on success, error, Ctrl-C or SIGTERM; the
journals are line-buffered so an interrupted run is still analysable. The run folder
(run.json, journals, phases, notes, the report) is a `visdom_chaos.runfolder.RunFolder`.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from visdom_chaos.behaviours import BehaviourRunner
from visdom_chaos.chaos.schedule import ScheduleRunner, parse_entries
from visdom_chaos.localserver import describe, find_local_server
from visdom_chaos.monitor import HarnessMonitor, ServerMonitor
from visdom_chaos.proxyproc import PROXY_NAME, ProxyError, ProxyProcess
from visdom_chaos.quiescence import fetch_truth, wait_quiescent
from visdom_chaos.runfolder import RunFolder, RunMeta
from visdom_chaos.scenario import Scenario, SourceSpec
from visdom_chaos.targets import Target, TargetError, external_target, start_target
from visdom_chaos.wire.protocol import Subscriber
from visdom_chaos.wire.realclient import RealClientError, RealClientSource, client_python
from visdom_chaos.wire.subscriber import PollingSubscriber, WebSocketSubscriber
from visdom_chaos.wire.training import TrainingSource
from visdom_chaos.workers import SubscriberSpec, WorkerError, WorkerPool, worker_count


@dataclass
class RunOptions:
    scenario: Scenario = field(default_factory=lambda: Scenario("adhoc", "ad-hoc run"))
    target: str = "0.2.4"  # a version, or a URL of an external Visdom
    variant: str = "stock"
    bundle: str = "shipped"  # or "source": main.js rebuilt from the release's source map
    out: Path | None = None
    seed: int = 0
    allow_remote: bool = False
    workers: str | int | None = (
        "auto"  # replica subscribers in this many processes; None: in this one
    )
    observer_burn_ms: float = (
        0.0  # CPU spent per frame by worker-0's subscribers (starved-observer tests)
    )


@dataclass
class RunResult:
    run_dir: Path
    status: str  # complete | interrupted | failed
    report: dict | None
    error: str | None = None
    output_error: bool = False  # the run folder could not be written (bad output path, disk full)


class TargetDied(RuntimeError):
    pass


class BrowserStartError(RuntimeError):
    """A Chromium subscriber could not start (no chromium, no Playwright, page did not load)."""


class _SignalsToInterrupt:
    """Turn SIGTERM into KeyboardInterrupt in the main thread, so one cleanup path serves both."""

    def __enter__(self):
        self._old = None
        if threading.current_thread() is threading.main_thread():
            self._old = signal.signal(signal.SIGTERM, self._raise)
        return self

    @staticmethod
    def _raise(signum, frame):
        raise KeyboardInterrupt

    def __exit__(self, *exc):
        if self._old is not None:
            signal.signal(signal.SIGTERM, self._old)


class Experiment:
    def __init__(self, options: RunOptions, progress: Callable[[dict], None] | None = None) -> None:
        self.o = options
        self.progress = progress or (lambda state: None)
        self.sc = options.scenario
        self.folder = RunFolder.create(options.out, run_meta(options))
        self.run_dir = self.folder.path
        self.meta = self.folder.meta
        self.clients = self.folder.journal("clients")
        self.orch = self.folder.orchestrator
        self.target: Target | None = None
        self.monitor: ServerMonitor | None = None
        self.proxy: ProxyProcess | None = None
        self.behaviours: BehaviourRunner | None = None
        self.schedule: ScheduleRunner | None = None
        self.subscribers: list[Subscriber] = []
        self.pool: WorkerPool | None = None
        self.harness: HarnessMonitor | None = None
        self._deaths_noted: set[str] = set()
        self.sources: list[TrainingSource | RealClientSource] = []
        self._source_threads: list[threading.Thread] = []
        self._stop_sources = threading.Event()

    def phase(self, name: str, **detail) -> None:
        self.folder.phase(name, **detail)

    # -- steps ------------------------------------------------------------------------
    def start_target(self) -> None:
        o = self.o
        if o.target.startswith(("http://", "https://")):
            self.target = external_target(o.target, allow_remote=o.allow_remote)
        else:
            self.target = start_target(
                o.target,
                o.variant,
                self.run_dir,
                bundle=o.bundle,
                polling=self.sc.polling_frontend,
                env_overrides=self.sc.target_env,
            )
        self.meta.target["url"] = self.target.url
        self.meta.server = {
            "pid": self.target.pid,
            "port": self.target.port,
            "log": "server.log" if self.target.pid else None,
        }
        pid = self.target.pid
        if pid is None:  # the user's own Visdom: measured when it runs on this machine
            pid = self.find_external_server()
        self.folder.write_meta()
        if pid is not None:
            self.monitor = ServerMonitor(
                pid, self.target.port, self.folder.journal("monitor")
            ).start()

    def find_external_server(self) -> int | None:
        """The pid listening on an external target's loopback port (never stopped: it is the
        user's), recorded in run.json `server`; a note says when it cannot be measured."""
        found = find_local_server(self.started_target.url)
        info = found.to_dict()
        info.pop("url")
        self.meta.server = {**(self.meta.server or {}), "external": True, **info}
        self.folder.note(describe(found))
        return found.pid

    @property
    def started_target(self) -> Target:
        """The target, for the steps that run after start_target."""
        if self.target is None:
            raise RuntimeError("the target is not started yet (start_target comes first)")
        return self.target

    def start_harness_monitor(self) -> None:
        self.harness = HarnessMonitor(self.folder.journal("observer")).start()
        self.harness.watch(os.getpid(), "orchestrator", "orchestrator")

    def start_proxy(self) -> None:
        """Subscribers reach Visdom through the chaos proxy; training sources go direct."""
        if not self.sc.via_proxy:
            return
        self.proxy = ProxyProcess(self.run_dir, self.started_target.port)
        self.meta.proxy = {
            "api": self.proxy.api,
            "listen": self.proxy.listen,
            "pid": self.proxy.proc.pid,
        }
        if self.sc.path_prefix:  # before anyone connects: the mount point is the proxy's mode
            self.proxy.client.add_toxic(
                PROXY_NAME,
                "path_prefix",
                name="path_prefix",
                stream="upstream",
                attributes={"prefix": self.sc.path_prefix},
            )
            self.meta.proxy["path_prefix"] = self.sc.path_prefix
        self.folder.write_meta()
        if self.harness is not None:
            self.harness.watch(self.proxy.proc.pid, "proxy", "proxy")

    @property
    def subscriber_url(self) -> str:
        if self.proxy:
            return self.proxy.url + self.sc.path_prefix
        return self.started_target.url

    def start_timelines(self) -> None:
        """Faults (through the proxy) and scripted behaviours share one clock from here."""
        horizon = self.sc.duration_s
        if self.sc.behaviours:
            self.behaviours = BehaviourRunner(
                self.subscribers, self.sc.behaviours, horizon, self.clients
            ).start()
        if self.proxy and self.sc.faults:
            steps = parse_entries(self.sc.faults, horizon=horizon)
            log = self.folder.fault_log("schedule", scenario=self.sc.name)
            self.schedule = ScheduleRunner(self.proxy.client, steps, log).start()

    def stop_timelines(self) -> None:
        if self.behaviours is not None:
            self.behaviours.stop()
        if self.schedule is not None:
            self.schedule.stop()
            if self.schedule.log is not None:
                self.schedule.log.close()
            self.schedule = None
        # Toxics stay as the schedule left them (entries with `duration` heal themselves):
        # half-open connections must outlive the run for the ghost analysis.

    def subscriber_specs(self) -> list[SubscriberSpec]:
        version = self.o.target if not self.o.target.startswith("http") else "0.2.4"
        url = self.subscriber_url
        specs = [
            SubscriberSpec("websocket", f"ws-{i}", url, version, self.o.variant)
            for i in range(self.sc.websocket_subscribers)
        ]
        specs += [
            SubscriberSpec("polling", f"poll-{i}", url, version, self.o.variant)
            for i in range(self.sc.polling_subscribers)
        ]
        return specs

    def start_subscribers(self) -> None:
        specs = self.subscriber_specs()
        n = 0
        if self.o.workers is not None:
            n, note = worker_count(self.o.workers, len(specs))
            if note:
                self.folder.note(note)
        if n:
            if self.o.observer_burn_ms:  # worker-0 gets specs 0, n, 2n, ... (round robin)
                specs = [
                    dataclasses.replace(s, burn_ms=self.o.observer_burn_ms) if i % n == 0 else s
                    for i, s in enumerate(specs)
                ]
            self.pool = WorkerPool(self.run_dir, specs, n)
            try:
                self.pool.start()
            finally:
                self.meta.workers = self.pool.describe()
                self.folder.write_meta()
            for h in self.pool.handles:
                self.orch.write(
                    "worker",
                    "orchestrator",
                    0,
                    event="start",
                    name=h.name,
                    pid=h.pid,
                    clients=h.clients,
                )
                if self.harness is not None:
                    self.harness.watch(h.pid, "worker", h.name)
            self.subscribers.extend(self.pool.subscribers)
        else:
            for spec in specs:
                cls = WebSocketSubscriber if spec.transport == "websocket" else PollingSubscriber
                sub = cls(
                    spec.url,
                    spec.client,
                    self.clients,
                    version=spec.version,
                    variant=spec.variant,
                    burn_ms=self.o.observer_burn_ms,
                )
                self.subscribers.append(sub)
                sub.start()
        self.start_browsers(self.subscriber_url)
        # Wait (bounded) until each has registered, so no subscriber starts mid-stream by accident.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not all(s.sid for s in self.subscribers):
            time.sleep(0.05)

    def check_workers(self) -> None:
        """A worker that died mid-run: say which, keep going with the others."""
        if self.pool is None:
            return
        for h in self.pool.died():
            if h.name in self._deaths_noted:
                continue
            self._deaths_noted.add(h.name)
            code = h.proc.poll()
            self.orch.write(
                "worker",
                "orchestrator",
                0,
                event="died",
                name=h.name,
                pid=h.pid,
                clients=h.clients,
                exitcode=code,
            )
            self.folder.note(
                f"{h.name} (pid {h.pid}, exit code {code}) died mid-run: its subscribers "
                f"{', '.join(h.clients)} stopped there; their journals are analysed up to that point"
            )
            self.meta.workers = self.pool.describe()
            self.folder.write_meta()

    def start_browsers(self, url: str) -> None:
        """Real Chromium tabs (`browser-<i>`) beside the replica subscribers, through the same URL.

        They join `self.subscribers`, so behaviours, quiescence, progress and the final
        views treat them like the others. Started in parallel: a launch takes seconds.
        """
        if self.sc.browsers <= 0:
            return
        from visdom_chaos.wire.browser import BrowserError, BrowserSubscriber

        tabs = [
            BrowserSubscriber(
                url, f"browser-{i}", self.clients, run_dir=self.run_dir, sample_interval_s=1.0
            )
            for i in range(self.sc.browsers)
        ]
        errors: list[str] = []

        def start(tab: BrowserSubscriber) -> None:
            try:
                tab.start()
            except BrowserError as exc:
                errors.append(str(exc))

        threads = [threading.Thread(target=start, args=(tab,), daemon=True) for tab in tabs]
        for th in threads:
            th.start()
        for th in threads:
            th.join(timeout=tabs[0].load_timeout_s + 45)
        self.subscribers.extend(tabs)  # also the failed ones: stop() is safe on them
        if errors:
            raise BrowserStartError("; ".join(errors))

    def _source_loop(
        self, src: TrainingSource | RealClientSource, spec: SourceSpec, deadline: float
    ) -> None:
        interval = 1.0 / spec.rate_hz if spec.rate_hz > 0 else 0.0
        next_at = time.monotonic()
        limit = self.sc.max_updates_per_source
        while not self._stop_sources.is_set() and time.monotonic() < deadline:
            if limit is not None and src.seq >= limit:
                break
            src.append()
            next_at += interval
            self._stop_sources.wait(max(0.0, next_at - time.monotonic()))

    def run_sources(self) -> None:
        python = None
        for i, spec in enumerate(self.sc.sources):
            if spec.client == "visdom":  # the real Python client, in a Python that has it
                if python is None:
                    version = self.o.target if not self.o.target.startswith("http") else "0.2.4"
                    python = client_python(version)
                    self.meta.params["client_python"] = python
                    self.folder.write_meta()
                self.sources.append(
                    RealClientSource(
                        self.started_target.url,
                        f"src-{i}",
                        self.clients,
                        python=python,
                        env=spec.env,
                        kind=spec.kind,
                    )
                )
                continue
            self.sources.append(
                TrainingSource(
                    self.started_target.url,
                    f"src-{i}",
                    self.clients,
                    env=spec.env,
                    kind=spec.kind,
                    pad_bytes=spec.pad_bytes,
                )
            )
        for src in self.sources:
            src.create()
        self.phase("steady")
        t0 = time.monotonic()
        deadline = t0 + self.sc.duration_s
        self.start_timelines()
        for src, spec in zip(self.sources, self.sc.sources, strict=True):
            th = threading.Thread(target=self._source_loop, args=(src, spec, deadline), daemon=True)
            th.start()
            self._source_threads.append(th)
        while any(t.is_alive() for t in self._source_threads):
            time.sleep(0.25)
            self.progress(self.state(time.monotonic() - t0))
            self.check_target_alive()
            self.check_workers()
        self.phase("sources_stopped")
        self.stop_timelines()

    def state(self, elapsed: float) -> dict:
        return {
            "elapsed": elapsed,
            "duration": self.sc.duration_s,
            "sent": sum(s.sent for s in self.sources),
            "acked": sum(s.acked for s in self.sources),
            "received": sum(s.received for s in self.subscribers),
            "connected": sum(s.connected for s in self.subscribers),
            "rss_mib": (self.monitor.last or {}).get("rss_mib") if self.monitor else None,
        }

    def wait_quiescent(self) -> bool:
        return wait_quiescent(self.subscribers, self.phase)

    def fetch_truth(self) -> None:
        fetch_truth(self.started_target.url, self.watched_envs(), self.orch)

    def watched_envs(self) -> set[str]:
        """Every env a source writes or a tab shows: a user's own windows are judged too."""
        envs = {s.env for s in self.sources} | {b.env for b in self.sc.behaviours if b.env}
        envs |= {e for s in self.subscribers if isinstance(e := getattr(s, "env", None), str)}
        return envs or {"main"}

    def check_target_alive(self) -> None:
        t = self.target
        if t is not None and t.pid is not None and not t.alive():
            code = t.proc.returncode if t.proc else None
            raise TargetDied(
                f"Visdom died during the run (exit code {code}); log tail: {t.log_tail(5)}"
            )

    def stop_clients(self) -> None:
        self._stop_sources.set()
        for t in self._source_threads:
            t.join(timeout=15)
        for src in self.sources:
            if isinstance(src, RealClientSource):
                src.close()
        if self.pool is not None:
            self.check_workers()
            self.pool.stop()
            self.meta.workers = self.pool.describe()
        for s in self.subscribers:
            try:
                s.stop()
            except Exception as exc:  # noqa: BLE001 - one bad client must not block cleanup
                self.meta.cleanup_errors.append(f"{s.client_id}: {exc}")

    def settle(self) -> None:
        end = time.monotonic() + self.sc.settle_s
        while time.monotonic() < end:
            time.sleep(0.2)

    def probe(self) -> None:
        if self.sc.probe == "page":
            self.page_probe()
            return
        if self.sc.probe == "client_socket":
            self.client_socket_probe()
            return
        if self.sc.probe != "security" or self.target is None:
            return
        if self.target.pid is None:
            self.folder.note("security probe skipped: external target")
            return
        from visdom_chaos.security.probe import run_security_probe

        self.phase("probe", kind="security")
        run_security_probe(
            self.target.url,
            self.run_dir,
            self.o.target,
            self.o.variant,
            server_pid=self.target.pid,
            # the toolkit's checks ask this run's own proxy, when it has one
            proxy_api=f"http://{self.proxy.api}" if self.proxy is not None else None,
        )

    def page_probe(self) -> None:
        """One fresh Chromium page loads the UI where the subscribers reach Visdom (through the
        proxy, under its path prefix): page.json, the report's `page` section."""
        from visdom_chaos.wire.browser import BrowserError
        from visdom_chaos.wire.browser.pageprobe import probe_page, write_page

        url = self.subscriber_url + "/"
        self.phase("probe", kind="page", url=url)
        try:
            result = probe_page(url, screenshot=self.run_dir / "screenshots" / "page-probe.png")
        except BrowserError as exc:
            self.folder.note(f"page probe not run: {exc}")
            return
        write_page(self.run_dir, result)

    def restart_target(self, built) -> None:
        """Stop the Visdom process and start it again on the same port (visdom #497); the
        restart is a phase of the run, and server.log gets both processes' output."""
        from visdom_chaos.targets import start_built

        old = self.started_target
        self.phase("target_restart", event="stop", pid=old.pid)
        old.stop()
        self.target = start_built(
            built,
            self.run_dir,
            port=old.port,
            polling=self.sc.polling_frontend,
            env_overrides=self.sc.target_env,
        )
        self.phase("target_restart", event="start", pid=self.target.pid)

    def client_socket_probe(self) -> None:
        """The real Python client's event socket through this run's proxy, frozen half-open and
        healed for new links (visdom #796, #450): client_socket.json, the report's
        `client_socket` section. The client runs in the target's own Python (the patched
        overlay for a patched target), with the scenario's [target] env."""
        from visdom_chaos.targets import load_built
        from visdom_chaos.wire.clientsocket import (
            ClientSocketError,
            run_probe,
            write_client_socket,
        )

        built = load_built(self.o.target, self.o.variant)
        if self.proxy is None or self.target is None or built is None:
            self.folder.note("client-socket probe not run: needs a built target and the proxy")
            return
        self.phase("probe", kind="client_socket")
        try:
            result = run_probe(
                target_url=self.target.url,
                proxy_url=self.proxy.url,
                proxy_port=int(self.proxy.listen.rsplit(":", 1)[1]),
                proxy=self.proxy.client,
                proxy_name=PROXY_NAME,
                python=built.python,
                env={**built.env(), **self.sc.target_env},
                fault=self.sc.probe_fault,
                restart=lambda: self.restart_target(built),
            )
        except ClientSocketError as exc:
            self.folder.note(f"client-socket probe failed: {exc}")
            return
        write_client_socket(self.run_dir, result)

    def shutdown(self) -> None:
        """Every step in its own try: a failing step must not leave a child running."""
        steps = [self.stop_timelines]
        if self.pool is not None:
            steps.append(self.pool.stop)
        if self.harness is not None:
            steps += [self.harness.stop, self.harness.journal.close]
        if self.proxy is not None:
            steps.append(self.proxy.stop)
        if self.monitor is not None:
            steps += [self.monitor.stop, self.monitor.journal.close]
        if self.target is not None:
            steps += [self.check_target_alive, self.target.stop]
        for step in steps:
            try:
                step()
            except TargetDied as exc:
                self.meta.error = self.meta.error or str(exc)
            except Exception as exc:  # noqa: BLE001 - keep stopping the rest
                self.meta.cleanup_errors.append(f"{getattr(step, '__name__', step)}: {exc}")

    # -- the whole thing -----------------------------------------------------------
    def run(self) -> RunResult:
        status = "complete"
        with _SignalsToInterrupt():
            try:
                self.phase("start")
                self.start_harness_monitor()
                self.start_target()
                self.start_proxy()
                self.start_subscribers()
                self.run_sources()
                self.wait_quiescent()
                self.fetch_truth()
                self.stop_clients()
                self.settle()
                self.probe()
            except KeyboardInterrupt:
                status = "interrupted"
                self.phase("interrupted")
            except (
                TargetError,
                ProxyError,
                TargetDied,
                BrowserStartError,
                WorkerError,
                RealClientError,
            ) as exc:
                status, self.meta.error = "failed", str(exc)
            except Exception as exc:
                status, self.meta.error = "failed", f"{type(exc).__name__}: {exc}"
                raise
            finally:
                # Cleanup must finish even if a second Ctrl-C arrives.
                old = signal.signal(signal.SIGINT, signal.SIG_IGN) if _main() else None
                try:
                    self.stop_clients()
                    self.shutdown()
                    if status == "complete" and self.meta.error:
                        status = "failed"  # e.g. the target died at the very end
                    output_error = self.folder.close(status)
                    status = self.meta.status
                finally:
                    if old is not None:
                        signal.signal(signal.SIGINT, old)
        try:
            report = self.folder.report()
        except OSError as exc:
            report, output_error = None, output_error or exc
            self.meta.error = self.meta.error or f"cannot write the report: {exc}"
        return RunResult(self.run_dir, status, report, self.meta.error, output_error is not None)


def _main() -> bool:
    return threading.current_thread() is threading.main_thread()


def run_meta(o: RunOptions) -> RunMeta:
    """run.json of a `visdom-chaos run`: the scenario's load knobs and the observer's."""
    sc = o.scenario
    return RunMeta(
        scenario=sc.name,
        scenario_file=str(sc.path) if sc.path else None,
        target={"version": o.target, "variant": o.variant, "bundle": o.bundle, "url": None},
        duration_s=sc.duration_s,
        seed=o.seed,
        params={
            "sources": [asdict(s) for s in sc.sources],
            "websocket_subscribers": sc.websocket_subscribers,
            "polling_subscribers": sc.polling_subscribers,
            "browsers": sc.browsers,
            "polling_frontend": sc.polling_frontend,
            "via_proxy": sc.via_proxy,
            "path_prefix": sc.path_prefix,
            "behaviours": [asdict(b) for b in sc.behaviours],
            "faults": sc.faults,
            "settle_s": sc.settle_s,
            "max_updates_per_source": sc.max_updates_per_source,
            "target_env": sc.target_env,
        },
        observer={"workers": o.workers, "observer_burn_ms": o.observer_burn_ms},
    )
