"""Run a Visdom target as a child process on a free loopback port, and stop it again."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import requests

from visdom_chaos.netguard import check_url, free_port
from visdom_chaos.targets.build import BuiltTarget, TargetError, build_target

LAUNCHER = Path(__file__).with_name("launcher.py")
READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0
_DEFERRED = {signal.SIGINT, signal.SIGTERM}
_children: dict[int, subprocess.Popen] = {}  # every child spawned here and not yet stopped
_children_lock = threading.Lock()


def spawn(args: list[str], **popen_kw) -> subprocess.Popen:
    """Popen in its own session, with Ctrl-C/SIGTERM held back until the child is registered:
    a signal landing between fork and Popen's return would otherwise orphan the child.

    The child inherits that mask across exec: every program started here unblocks the two
    signals first thing (targets/launcher.py, `python -m visdom_chaos.chaos serve`)."""
    main = threading.current_thread() is threading.main_thread()
    old = signal.pthread_sigmask(signal.SIG_BLOCK, _DEFERRED) if main else None
    try:
        proc = subprocess.Popen(args, start_new_session=True, **popen_kw)
        with _children_lock:
            _children[proc.pid] = proc
    finally:
        if old is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)
    return proc


def detach(pid: int) -> None:
    """A child meant to outlive this process (`target start`): no longer ours to stop."""
    with _children_lock:
        _children.pop(pid, None)


def stop_all_children() -> None:
    """Last line of defence for entry points: stop whatever a spawn() left running."""
    with _children_lock:
        pending = list(_children.items())
    for pid, proc in pending:
        stop_pid(pid, proc)


@dataclass
class Target:
    """A running (or external) Visdom. `pid` is None for an external one."""

    url: str
    version: str
    variant: str
    port: int
    pid: int | None = None
    run_dir: Path | None = None
    log_path: Path | None = None
    proc: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def external(self) -> bool:
        return self.pid is None

    def alive(self) -> bool:
        if self.proc is not None:
            return self.proc.poll() is None
        return self.pid is not None and psutil.pid_exists(self.pid)

    def log_tail(self, lines: int = 20) -> str:
        if not self.log_path or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        if self.pid is not None:
            stop_pid(self.pid, self.proc)
        if self.run_dir is not None:
            (self.run_dir / "target.json").unlink(missing_ok=True)

    def describe(self) -> dict:
        return {
            "url": self.url,
            "version": self.version,
            "variant": self.variant,
            "port": self.port,
            "pid": self.pid,
            "log": str(self.log_path) if self.log_path else None,
        }

    def __enter__(self) -> Target:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def stop_pid(
    pid: int,
    proc: subprocess.Popen | None = None,
    timeout: float = STOP_TIMEOUT_S,
    *,
    group: bool = False,
) -> int | None:
    """Stop a process and everything it started: SIGTERM, a bounded wait, SIGKILL what is left.

    The one way the harness (and its tests and benches) stops a process, our own child or
    not (`target stop` stops a server another process started). `proc`, the Popen of a
    child of ours (else the one spawn() registered), is reaped through Popen so its
    returncode stays true; every other process is only watched, never reaped, so a child
    of this process that something else started and waits for (Playwright's driver and
    its Chromium) keeps its exit status for its owner. `group=True` also stops what is
    left of the process group the process leads (one started with start_new_session
    whose children outlived it). Returns `proc`'s exit code (None without a Popen or
    when it would not die within the bounds)."""
    with _children_lock:
        proc = proc or _children.get(pid)
        _children.pop(pid, None)
    family = _family(pid)
    if group:
        family += [p for p in _group(pid) if p not in family]
    stop_procs(family, timeout, popen=proc)
    if proc is not None:
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass
        return proc.returncode
    return None


def stop_procs(
    procs: list[psutil.Process],
    timeout: float = STOP_TIMEOUT_S,
    popen: subprocess.Popen | None = None,
) -> list[psutil.Process]:
    """SIGTERM every process, wait up to `timeout`, SIGKILL the survivors, wait again.

    For processes found rather than started (leftovers named by their command line);
    stop_pid's second half. Never signals this process; returns those still alive."""
    me = os.getpid()
    procs = [p for p in procs if p.pid != me]
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for p in procs:
            try:
                p.send_signal(sig)
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                pass
        procs = _wait_gone(procs, timeout, popen)
        if not procs:
            break
    return procs


def _family(pid: int) -> list[psutil.Process]:
    try:
        parent = psutil.Process(pid)
        return [parent, *parent.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _group(pgid: int) -> list[psutil.Process]:
    """The members of process group `pgid`; never this process's own group."""
    if pgid == os.getpgrp():
        return []
    out = []
    for p in psutil.process_iter():
        try:
            if os.getpgid(p.pid) == pgid:
                out.append(p)
        except (ProcessLookupError, PermissionError):
            continue
    return out


def _wait_gone(
    procs: list[psutil.Process], timeout: float, popen: subprocess.Popen | None
) -> list[psutil.Process]:
    """Those of `procs` still running after up to `timeout` s. Polls instead of
    psutil.wait_procs, which would reap (waitpid) any child of ours: only `popen`'s
    own process is reaped here, through Popen; a zombie counts as gone."""
    deadline = time.monotonic() + timeout
    while True:
        alive = [p for p in procs if _running(p, popen)]
        if not alive or time.monotonic() >= deadline:
            return alive
        time.sleep(0.05)


def _running(p: psutil.Process, popen: subprocess.Popen | None) -> bool:
    if popen is not None and p.pid == popen.pid:
        return popen.poll() is None
    try:
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return p.is_running()


def wait_ready(
    url: str,
    timeout: float = READY_TIMEOUT_S,
    proc: subprocess.Popen | None = None,
    ok_statuses: tuple[int, ...] = (200,),
) -> None:
    """Wait until Visdom answers a cheap API call (the index page may be 403 on some tornados;
    with login enabled the API answers 400/401 without the cookie, which also means "up")."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise TargetError(f"Visdom exited with code {proc.returncode} before answering")
        try:
            r = requests.post(
                f"{url}/win_exists", json={"win": "__probe__", "eid": "main"}, timeout=2
            )
            if r.status_code in ok_statuses:
                return
            last = f"HTTP {r.status_code}"
        except requests.RequestException as exc:
            last = type(exc).__name__
        time.sleep(0.1)
    raise TargetError(f"Visdom at {url} did not answer within {timeout:.0f} s ({last})")


def start_built(
    built: BuiltTarget,
    run_dir: Path,
    *,
    port: int | None = None,
    polling: bool = False,
    extra_args: list[str] | None = None,
    env_overrides: dict[str, str] | None = None,
) -> Target:
    run_dir = Path(run_dir).resolve()  # the server runs with cwd=run_dir: relative paths would nest
    run_dir.mkdir(parents=True, exist_ok=True)
    env_path = run_dir / "visdom-env"
    env_path.mkdir(exist_ok=True)
    log_path = run_dir / "server.log"
    attempts = 1 if port else 3
    last_error: Exception | None = None
    for _ in range(attempts):
        chosen = port or free_port()
        args = [
            built.python,
            str(LAUNCHER),
            "-port",
            str(chosen),
            "-env_path",
            f"{env_path}/",
            "-bind_local",
            "-logging_level",
            "INFO",
        ]
        if polling:
            args.append("-use_frontend_client_polling")
        args += extra_args or []
        env = built.env()
        env.update(env_overrides or {})
        log = open(log_path, "ab")  # noqa: SIM115 - handed to the child
        proc = spawn(
            args,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=run_dir,
        )
        log.close()
        url = f"http://127.0.0.1:{chosen}"
        target = Target(
            url, built.version, built.variant, chosen, proc.pid, run_dir, log_path, proc
        )
        login = "-enable_login" in (extra_args or [])
        try:
            wait_ready(url, proc=proc, ok_statuses=(200, 400, 401) if login else (200,))
        except TargetError as exc:
            target.stop()
            last_error = exc
            if "Address already in use" in target.log_tail(50):
                if port:
                    raise TargetError(f"port {port} is in use") from exc
                continue
            raise TargetError(f"{exc}; server log tail:\n{target.log_tail()}") from exc
        except BaseException:
            target.stop()  # Ctrl-C / SIGTERM while waiting: the caller never got the target
            raise
        (run_dir / "target.json").write_text(json.dumps(target.describe(), indent=2))
        return target
    raise TargetError(f"could not start Visdom on a free port: {last_error}")


def start_target(
    version: str = "0.2.4",
    variant: str = "stock",
    run_dir: str | os.PathLike[str] = ".",
    *,
    bundle: str = "shipped",
    **kwargs,
) -> Target:
    """Build if needed, then start. Usable as a context manager."""
    return start_built(build_target(version, variant, bundle=bundle), Path(run_dir), **kwargs)


def external_target(url: str, *, allow_remote: bool = False, version: str = "unknown") -> Target:
    url = check_url(url, allow_remote=allow_remote)
    port = int(url.rsplit(":", 1)[1].split("/")[0]) if url.count(":") >= 2 else 80
    try:
        wait_ready(url, timeout=10)
    except TargetError as exc:
        raise TargetError(f"external Visdom at {url} is unreachable: {exc}") from exc
    return Target(url, version, "external", port)
