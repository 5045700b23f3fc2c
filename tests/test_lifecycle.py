"""The toolkit stops everything it started when a run is interrupted (SIGTERM, SIGINT).

Real processes: `python -m visdom_chaos run --scenario mixed` starts a Visdom child and a
chaos proxy child; the signal arrives mid-run, during the steady phase.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from conftest import REPO, built_or_skip

from visdom_chaos.targets import stop_pid

pytestmark = [pytest.mark.visdom, pytest.mark.slow]


def _phases(run_dir: Path) -> list[str]:
    path = run_dir / "journal" / "orchestrator.jsonl"
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue  # a line being written
        if rec.get("type") == "phase":
            out.append(rec["name"])
    return out


def _mentions(run_dir: Path) -> list[psutil.Process]:
    """Processes whose command line names the run folder (Visdom's -env_path, the proxy's files)."""
    needle = str(run_dir)
    found = []
    for p in psutil.process_iter(["pid", "cmdline"]):
        try:
            if p.pid != os.getpid() and any(needle in arg for arg in p.info["cmdline"] or []):
                found.append(p)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


def start_run(run_dir: Path, duration: int = 30, scenario: str = "mixed") -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "visdom_chaos",
            "run",
            "--scenario",
            scenario,
            "--duration",
            str(duration),
            "--out",
            str(run_dir),
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env={
            **os.environ,
            "PYTHONFAULTHANDLER": "1",
        },  # SIGABRT on a hang dumps every thread's stack
    )


def wait_steady(proc: subprocess.Popen, run_dir: Path, timeout: float = 90) -> dict:
    """Until the sources are running and run.json names the server and the proxy."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"run ended early: {proc.stdout.read().decode()[-2000:]}"
        if "steady" in _phases(run_dir):
            meta = json.loads((run_dir / "run.json").read_text())
            if meta.get("server") and meta.get("proxy"):
                return meta
        time.sleep(0.2)
    raise AssertionError("the run never reached its steady phase")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_mid_run_stops_every_child_and_keeps_the_report(
    tmp_path: Path, sig: signal.Signals
) -> None:
    built_or_skip("0.2.4")
    run_dir = tmp_path / "run"
    proc = start_run(run_dir)
    try:
        meta = wait_steady(proc, run_dir)
        server_pid = meta["server"]["pid"]
        proxy_pid = json.loads((run_dir / "proxy.ready.json").read_text())["pid"]
        assert psutil.pid_exists(server_pid) and psutil.pid_exists(proxy_pid)
        assert len(_mentions(run_dir)) >= 3  # the run itself, Visdom, the proxy
        time.sleep(2)  # some load flows, so the partial report has something in it
        proc.send_signal(sig)
        try:
            out, _ = proc.communicate(timeout=90)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGABRT)
            out, _ = proc.communicate(timeout=20)
            pytest.fail(
                f"no exit 90 s after {sig.name}; phases {_phases(run_dir)}; output:\n{out.decode()[-3000:]}"
            )
    finally:
        if proc.poll() is None:
            stop_pid(proc.pid, proc)
    assert proc.returncode == 130, out.decode()[-2000:]
    assert (
        not psutil.pid_exists(server_pid)
        or psutil.Process(server_pid).status() == psutil.STATUS_ZOMBIE
    )
    assert (
        not psutil.pid_exists(proxy_pid)
        or psutil.Process(proxy_pid).status() == psutil.STATUS_ZOMBIE
    )
    left = [(p.pid, " ".join(p.cmdline())[:120]) for p in _mentions(run_dir) if p.is_running()]
    assert left == [], f"children left behind: {left}"
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["status"] == "interrupted"
    assert meta["ended_ns"] and meta["ended_ns"] > meta["started_ns"]
    report = json.loads((run_dir / "report.json").read_text())
    assert isinstance(report, dict) and report
    assert "interrupted" in _phases(run_dir) and "end" in _phases(run_dir)
    assert b"interrupted" in out


def test_security_probe_interrupted_leaves_no_server(tmp_path: Path) -> None:
    """Ctrl-C during `python -m visdom_chaos.security`: both servers (plain and login) go, results so far stay."""
    built_or_skip("0.2.4")
    out = tmp_path / "probe"
    proc = subprocess.Popen(
        [sys.executable, "-m", "visdom_chaos.security", "--target", "0.2.4", "--out", str(out)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 90
        # wait for the login server to be up: then two Visdom children exist
        while not (out / "security-login" / "server.log").exists() or len(_mentions(out)) < 3:
            assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read().decode()[
                -2000:
            ]
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            stop_pid(proc.pid, proc)
    assert proc.returncode == 130, output.decode()[-2000:]
    psutil.wait_procs(_mentions(out), timeout=5)
    left = [(p.pid, " ".join(p.cmdline())[:120]) for p in _mentions(out) if p.is_running()]
    assert left == [], f"servers left behind: {left}"
    results = json.loads((out / "security.json").read_text())
    assert results["origin_socket"]["status"] == "vulnerable"
