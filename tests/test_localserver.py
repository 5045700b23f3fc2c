"""The user's own Visdom on this machine: found by its port, measured like an embedded target.

Unit tests with real sockets and processes on loopback (find_local_server), and one run
of `visdom-chaos run --target URL` beside a real Visdom 0.2.4 the test started itself.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from types import SimpleNamespace

import psutil
import pytest

from visdom_chaos import localserver
from visdom_chaos.localserver import describe, find_local_server
from visdom_chaos.netguard import free_port
from visdom_chaos.targets import stop_pid

LISTENER = (
    "import socket, sys, time\n"
    "s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()\n"
    "print(s.getsockname()[1], flush=True)\n"
    "time.sleep(60)\n"
)


def test_a_listening_process_is_found_by_its_port():
    proc = subprocess.Popen(
        [sys.executable, "-c", LISTENER], stdout=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        found = find_local_server(f"http://127.0.0.1:{port}")
        assert found.pid == proc.pid
        assert found.found_by in ("net_connections", "process_scan")
        assert found.listen == f"127.0.0.1:{port}" and found.note is None
        assert f"pid {proc.pid}" in describe(found) and f"port {port}" in describe(found)
    finally:
        stop_pid(proc.pid, proc, group=True)


def test_a_port_nobody_listens_on_says_what_is_not_measured():
    port = free_port()
    found = find_local_server(f"http://127.0.0.1:{port}")
    assert found.pid is None
    assert f"listens on port {port}" in (found.note or "")
    assert "not measured" in (found.note or "") and "RSS" in (found.note or "")


def test_the_harness_own_port_is_not_the_server():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        found = find_local_server(f"http://localhost:{port}")
    assert found.pid is None and "harness's own" in (found.note or "")


def test_a_remote_host_is_not_looked_for():
    found = find_local_server("http://192.0.2.1:8097")
    assert found.pid is None and "not on loopback" in (found.note or "")


def test_another_users_listener_is_named_not_measured(monkeypatch):
    """Linux lists other users' sockets without their pid: say so (psutil's answer faked:
    this machine has no second user to start one)."""
    port = free_port()
    conn = SimpleNamespace(
        status=psutil.CONN_LISTEN, laddr=SimpleNamespace(ip="127.0.0.1", port=port), pid=None
    )
    monkeypatch.setattr(localserver.psutil, "net_connections", lambda kind: [conn])
    found = find_local_server(f"http://127.0.0.1:{port}")
    assert found.pid is None and found.listen == f"127.0.0.1:{port}"
    assert "may not inspect" in (found.note or "") and "not measured" in (found.note or "")


def test_access_denied_on_the_listener_is_a_note(monkeypatch):
    port = free_port()
    conn = SimpleNamespace(
        status=psutil.CONN_LISTEN, laddr=SimpleNamespace(ip="0.0.0.0", port=port), pid=1
    )
    monkeypatch.setattr(localserver.psutil, "net_connections", lambda kind: [conn])

    class Denied:
        def __init__(self, pid):
            self.pid = pid

        def oneshot(self):
            raise psutil.AccessDenied(self.pid)

    monkeypatch.setattr(localserver.psutil, "Process", Denied)
    found = find_local_server(f"http://127.0.0.1:{port}")
    assert found.pid is None and "AccessDenied" in (found.note or "")


VC = [sys.executable, "-m", "visdom_chaos"]


@pytest.mark.visdom
@pytest.mark.slow
def test_run_beside_the_users_own_server_measures_it(visdom_factory, tmp_path):
    """The server is another process (started here, as a user would start theirs): the run
    finds it by its port, samples its RSS, names its pid, and leaves it running."""
    target = visdom_factory("0.2.4")
    out = tmp_path / "run"
    res = subprocess.run(
        [*VC, "run", "--target", target.url, "--duration", "6", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    report = json.loads((out / "report.json").read_text())
    process = report["server"]["process"]
    assert process["pid"] == target.pid and process["port"] == target.port
    assert process["found_by"] in ("net_connections", "process_scan")
    assert report["memory"]["samples"] > 0 and report["memory"]["rss_start_mib"] > 10
    assert not any("memory not measured" in n for n in report["notes"])
    assert any(f"pid {target.pid}" in n for n in report["notes"])
    meta = json.loads((out / "run.json").read_text())
    assert meta["server"]["pid"] == target.pid and meta["server"]["external"] is True
    samples = [
        json.loads(line)
        for line in (out / "journal" / "monitor.jsonl").read_text().splitlines()
        if '"sample"' in line
    ]
    assert samples and {s["pid"] for s in samples} == {target.pid}
    time.sleep(0.2)
    assert target.alive(), "the user's server must outlive the run"
    assert f"pid {target.pid}" in (out / "report.md").read_text()


@pytest.mark.slow
def test_run_against_a_loopback_port_nobody_owns_is_a_clear_error(tmp_path):
    port = free_port()
    res = subprocess.run(
        [*VC, "run", "--target", f"http://127.0.0.1:{port}", "--duration", "2"]
        + ["--out", str(tmp_path / "run")],
        capture_output=True,
        text=True,
        timeout=90,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert res.returncode == 1
    assert "unreachable" in res.stdout + res.stderr
