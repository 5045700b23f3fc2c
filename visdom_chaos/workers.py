"""Replica subscribers in worker processes, so the observer is never held to one GIL.

    pool = WorkerPool(run_dir, specs, workers=2).start()
    pool.subscribers          # RemoteSubscriber stand-ins, one per spec, in spec order
    pool.stop("end")          # final views journaled by each worker, processes gone

Each worker (visdom_chaos.workerproc) journals its subscribers into
`journal/clients-w<N>.jsonl` and answers requests over a pipe. A worker that dies
mid-run is noted with its exit code; its subscribers go quiet and everything the
others (and it, up to then) journaled is still analysed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import orjson

from visdom_chaos.targets import spawn, stop_pid

START_TIMEOUT_S = 60.0  # importing the replica and opening every connection
CALL_TIMEOUT_S = 30.0  # a behaviour (a refresh opens a connection: up to 10 s)
STATUS_TIMEOUT_S = 2.0
STOP_TIMEOUT_S = 30.0
STATUS_MAX_AGE_S = 0.05  # status reads within this of the last answer reuse it


class WorkerError(RuntimeError):
    pass


@dataclass(frozen=True)
class SubscriberSpec:
    """What a worker needs to build one replica subscriber (picklable, JSON-able)."""

    transport: str  # websocket | polling
    client: str
    url: str
    version: str
    variant: str = "stock"
    env: str = "main"
    poll_interval: float | None = None
    burn_ms: float = 0.0


def worker_count(requested: str | int | None, subscribers: int) -> tuple[int, str | None]:
    """Workers for `subscribers` replica subscribers: `auto` = one per core. Returns (n, note)."""
    if subscribers <= 0:
        return 0, None
    if requested in (None, "auto"):
        n = max(1, os.cpu_count() or 1)
    else:
        try:
            n = int(requested)
        except (TypeError, ValueError):
            raise WorkerError(
                f"--workers must be a positive number or 'auto', not {requested!r}"
            ) from None
        if n < 1:
            raise WorkerError(f"--workers must be at least 1 (or 'auto'), not {n}")
    if n > subscribers:
        note = f"{n} workers asked for {subscribers} replica subscriber(s): using {subscribers}"
        return subscribers, note if requested not in (None, "auto") else None
    return n, None


class WorkerHandle:
    """One worker process and its request/answer pipe."""

    def __init__(self, index: int, run_dir: Path, specs: list[SubscriberSpec]) -> None:
        self.index = index
        self.name = f"worker-{index}"
        self.specs = specs
        self.clients = [s.client for s in specs]
        self.journal = run_dir / "journal" / f"clients-w{index}.jsonl"
        self.log_path = run_dir / f"{self.name}.log"
        self._pending: dict[int, Future] = {}
        self._ids = 0
        self._lock = threading.Lock()
        self.dead = False  # not running any more (stopped, or died)
        self.stopped = False  # asked to stop: its end is not a death
        self._died_unasked = False
        self.exitcode: int | None = None
        self.status: dict[str, dict[str, Any]] = {}
        self.status_at = 0.0
        self._status_lock = threading.Lock()
        with open(self.log_path, "ab") as log:
            self.proc: subprocess.Popen = spawn(
                [sys.executable, "-m", "visdom_chaos.workerproc"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
            )
        self.pid = self.proc.pid
        self._reader = threading.Thread(target=self._read, name=f"{self.name}-pipe", daemon=True)
        self._reader.start()
        setup = {
            "name": self.name,
            "journal": str(self.journal),
            "subscribers": [asdict(s) for s in specs],
        }
        self._started = self._expect(0)
        self._write(setup)

    # -- the pipe ---------------------------------------------------------------------
    def _expect(self, rid: int) -> Future:
        fut: Future = Future()
        with self._lock:
            self._pending[rid] = fut
        return fut

    def _write(self, obj: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        try:
            with self._lock:
                self.proc.stdin.write(orjson.dumps(obj, option=orjson.OPT_APPEND_NEWLINE))
                self.proc.stdin.flush()
        except (BrokenPipeError, OSError, ValueError) as exc:
            self._died(f"pipe: {exc}")

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                msg = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            with self._lock:
                fut = self._pending.pop(msg.get("id"), None)
            if fut is not None and not fut.done():
                if "error" in msg:
                    fut.set_exception(WorkerError(f"{self.name}: {msg['error']}"))
                else:
                    fut.set_result(msg.get("ok"))
        self._died("pipe closed")

    def _died(self, why: str) -> None:
        if self.dead:
            return
        self._died_unasked = not self.stopped
        try:
            self.exitcode = self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            self.exitcode = None
        self.dead = True
        with self._lock:
            pending, self._pending = list(self._pending.values()), {}
        for fut in pending:
            if not fut.done():
                fut.set_exception(
                    WorkerError(f"{self.name} died ({why}, exit code {self.exitcode})")
                )

    def request(self, op: str, timeout: float, **fields: Any) -> Any:
        if self.dead:
            raise WorkerError(f"{self.name} is not running (exit code {self.exitcode})")
        with self._lock:
            self._ids += 1
            rid = self._ids
        fut = self._expect(rid)
        self._write({"id": rid, "op": op, **fields})
        try:
            return fut.result(timeout=timeout)
        except FutureTimeout:
            with self._lock:
                self._pending.pop(rid, None)
            raise WorkerError(f"{self.name}: no answer to {op!r} within {timeout:g} s") from None

    @property
    def died(self) -> bool:
        """Gone without being asked to stop (killed, crashed)."""
        return self._died_unasked or (not self.stopped and self.proc.poll() is not None)

    # -- what the pool asks -------------------------------------------------------------
    def wait_started(self, timeout: float = START_TIMEOUT_S) -> dict[str, Any]:
        try:
            return self._started.result(timeout=timeout) or {}
        except FutureTimeout:
            raise WorkerError(
                f"{self.name} did not start within {timeout:g} s (see {self.log_path})"
            ) from None

    def refresh_status(self) -> dict[str, dict[str, Any]]:
        if self.dead or time.monotonic() - self.status_at < STATUS_MAX_AGE_S:
            return self.status
        if not self._status_lock.acquire(blocking=False):
            return self.status  # another thread is asking right now: its answer will do
        try:
            self.status = self.request("status", STATUS_TIMEOUT_S) or self.status
            self.status_at = time.monotonic()
        except WorkerError:
            pass
        finally:
            self._status_lock.release()
        return self.status

    def stop(self, reason: str) -> dict[str, Any] | None:
        answer = None
        if self.proc.poll() is not None and not self.stopped:
            self._died_unasked = True  # gone before it was asked
        self.stopped = True
        if not self.dead:
            try:
                answer = self.request("stop", STOP_TIMEOUT_S, reason=reason)
            except WorkerError:
                answer = None
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        stop_pid(self.pid, self.proc)
        self.exitcode = self.proc.returncode if self.exitcode is None else self.exitcode
        return answer

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "pid": self.pid,
            "clients": self.clients,
            "died": self.died,
            "exitcode": self.exitcode,
            "journal": self.journal.name,
            "log": self.log_path.name,
        }


class RemoteSubscriber:
    """A replica subscriber living in a worker: the orchestrator's view of it (a
    visdom_chaos.wire.protocol.Subscriber, its figures from the worker's last status answer)."""

    def __init__(self, worker: WorkerHandle, spec: SubscriberSpec) -> None:
        self.worker = worker
        self.client_id = spec.client
        self.transport = spec.transport
        self.env = spec.env

    def _status(self) -> dict[str, Any]:
        return self.worker.refresh_status().get(self.client_id, {})

    @property
    def received(self) -> int:
        return int(self._status().get("received", 0))

    @property
    def connected(self) -> bool:
        return bool(self._status().get("connected")) and not self.worker.dead

    @property
    def sid(self) -> str | None:
        return self._status().get("sid")

    @property
    def busy(self) -> bool:
        return bool(self._status().get("busy")) and not self.worker.dead

    @property
    def conn(self) -> int:
        return int(self._status().get("conn", 0))

    def _call(self, method: str, *args: Any) -> None:
        try:
            self.worker.request(
                "call", CALL_TIMEOUT_S, client=self.client_id, method=method, args=list(args)
            )
        except WorkerError:
            pass  # a dead or stuck worker: the run notes it, the timeline goes on

    def drop(self, abrupt: bool = True) -> None:
        self._call("drop", abrupt)

    def reconnect(self) -> None:
        self._call("reconnect")

    def refresh(self) -> None:
        self._call("refresh")

    def stall(self, seconds: float) -> None:
        self._call("stall", seconds)

    def switch_env(self, env: str) -> None:
        self.env = env
        self._call("switch_env", env)

    def forward_after_close(self) -> None:
        self._call("forward_after_close")

    def delete_env(self, env: str) -> None:
        self._call("delete_env", env)

    def stop(self, reason: str = "end") -> None:
        """Workers stop all their subscribers at once (WorkerPool.stop)."""


class WorkerPool:
    def __init__(self, run_dir: Path, specs: list[SubscriberSpec], workers: int) -> None:
        self.run_dir = Path(run_dir)
        self.specs = specs
        self.n = max(1, min(workers, len(specs)))
        self.handles: list[WorkerHandle] = []
        self.subscribers: list[RemoteSubscriber] = []
        self.start_errors: dict[str, str] = {}
        self._stopped = False

    def start(self) -> WorkerPool:
        # round robin: each worker gets a share of every transport
        shares: list[list[SubscriberSpec]] = [self.specs[i :: self.n] for i in range(self.n)]
        try:
            for i, share in enumerate(shares):
                self.handles.append(WorkerHandle(i, self.run_dir, share))
            by_client: dict[str, RemoteSubscriber] = {}
            for h in self.handles:
                started = h.wait_started()
                self.start_errors.update(started.get("errors") or {})
                for spec in h.specs:
                    by_client[spec.client] = RemoteSubscriber(h, spec)
        except BaseException:
            self.stop("error")
            raise
        self.subscribers = [by_client[s.client] for s in self.specs]
        return self

    def died(self) -> list[WorkerHandle]:
        return [h for h in self.handles if h.died]

    def stop(self, reason: str = "end") -> None:
        """Every worker journals its subscribers' final views and exits (in parallel, bounded)."""
        if self._stopped:
            return
        self._stopped = True
        threads = [
            threading.Thread(target=h.stop, args=(reason,), daemon=True) for h in self.handles
        ]
        for th in threads:
            th.start()
        for th in threads:
            th.join(timeout=STOP_TIMEOUT_S + 15)

    def describe(self) -> list[dict[str, Any]]:
        return [h.describe() for h in self.handles]
