"""Target manager against real Visdom processes."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
import requests

from visdom_chaos.netguard import RemoteTargetError, check_url
from visdom_chaos.targets import TargetError, build_target, external_target, start_built


@pytest.mark.visdom
def test_start_answers_and_stop_leaves_no_process(visdom_factory, version):
    target = visdom_factory(version)
    assert target.url.startswith("http://127.0.0.1:")
    r = requests.post(f"{target.url}/win_exists", json={"win": "nope", "eid": "main"}, timeout=5)
    assert r.text == "false"
    # The env path lives inside the run folder, never in ~/.visdom.
    requests.post(
        f"{target.url}/events",
        json={"eid": "main", "win": "w", "data": [{"content": "x", "type": "text"}], "opts": {}},
        timeout=5,
    )
    requests.post(f"{target.url}/save", json={"data": ["main"]}, timeout=5)
    assert (target.run_dir / "visdom-env" / "main.json").exists()
    pid = target.pid
    # spawn() holds SIGINT/SIGTERM back while it forks and the mask survives exec: the
    # launcher must unblock them, or stop() only ever ends the server with SIGKILL
    blocked = int(
        next(line for line in open(f"/proc/{pid}/status") if line.startswith("SigBlk:")).split()[1],
        16,
    )
    assert not blocked & (1 << (signal.SIGTERM - 1) | 1 << (signal.SIGINT - 1)), hex(blocked)
    proc = target.proc
    target.stop()
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    # ended by the SIGTERM (Visdom exits 0 on it), not by the SIGKILL after the timeout
    assert proc is None or proc.returncode in (0, -signal.SIGTERM), proc and proc.returncode


@pytest.mark.visdom
def test_index_page_served_with_pinned_tornado(visdom_factory):
    # tornado 6.6 refuses static_url("../user/style.css") with 403; the targets pin tornado<6.6.
    target = visdom_factory("0.2.4")
    assert requests.get(target.url + "/", timeout=5).status_code == 200


@pytest.mark.visdom
def test_port_in_use_is_a_clear_error(tmp_path):
    built = build_target("0.2.4")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(TargetError, match=f"port {port} is in use"):
            start_built(built, tmp_path, port=port)


def test_unknown_version_names_the_supported_ones():
    with pytest.raises(TargetError, match="supported: 0.2.4, 0.3.0"):
        build_target("9.9.9")


def test_external_unreachable_and_remote_refused():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: connection refused
    with pytest.raises(TargetError, match="unreachable"):
        external_target(f"http://127.0.0.1:{port}")
    with pytest.raises(RemoteTargetError, match="--allow-remote"):
        check_url("http://192.0.2.1:8097")  # TEST-NET-1: refused before any packet
    assert check_url("http://localhost:8097/") == "http://localhost:8097"


@pytest.mark.visdom
def test_cli_start_list_stop(tmp_path):
    vc = [sys.executable, "-m", "visdom_chaos"]
    out = subprocess.run(
        [*vc, "target", "start", "0.2.4", "--run-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    info = (tmp_path / "target.json").read_text()
    pid = __import__("json").loads(info)["pid"]
    assert psutil.pid_exists(pid)
    out = subprocess.run(
        [*vc, "target", "stop", str(tmp_path)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0 and "stopped 0.2.4-stock" in out.stdout
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    bad = subprocess.run(
        [*vc, "target", "start", "7.0"], capture_output=True, text=True, timeout=60
    )
    assert bad.returncode == 2 and "unknown Visdom version" in bad.stderr


@pytest.mark.visdom
def test_interrupt_while_waiting_for_readiness_stops_the_server(tmp_path, monkeypatch):
    # Ctrl-C (or SIGTERM, which the orchestrator turns into KeyboardInterrupt) arriving
    # while the server starts: the caller never receives the Target, so start_built must
    # stop the process itself (seen: a pytest run killed at that moment left Visdom up).
    import visdom_chaos.targets.process as process

    built = build_target("0.2.4")
    spawned: list[int] = []
    real_spawn = process.spawn

    def spawn(args, **kw):
        proc = real_spawn(args, **kw)
        spawned.append(proc.pid)
        return proc

    def interrupted(url, proc=None, **kw):
        raise KeyboardInterrupt

    monkeypatch.setattr(process, "spawn", spawn)
    monkeypatch.setattr(process, "wait_ready", interrupted)
    with pytest.raises(KeyboardInterrupt):
        start_built(built, tmp_path)
    assert len(spawned) == 1
    pid = spawned[0]
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_chaos_proxy_child_takes_sigterm(tmp_path):
    # the proxy child is spawned the same way: it must unblock SIGTERM itself
    from visdom_chaos.proxyproc import ProxyProcess

    with socket.socket() as upstream:  # any listening port: the proxy only needs an address
        upstream.bind(("127.0.0.1", 0))
        upstream.listen()
        (tmp_path / "journal").mkdir()
        proxy = ProxyProcess(tmp_path, upstream.getsockname()[1])
        try:
            status = open(f"/proc/{proxy.proc.pid}/status").read()
        finally:
            proxy.stop()
        blocked = int(
            next(line for line in status.splitlines() if line.startswith("SigBlk:")).split()[1], 16
        )
        assert not blocked & (1 << (signal.SIGTERM - 1) | 1 << (signal.SIGINT - 1)), hex(blocked)
    assert proxy.proc.returncode in (0, -signal.SIGTERM), proxy.proc.returncode


@pytest.mark.visdom
def test_relative_run_dir_keeps_the_env_in_the_run_folder(tmp_path, monkeypatch):
    # `visdom-chaos run` passes reports/runs/<run> (relative) and the server runs with that
    # folder as its cwd: a relative -env_path would land in <run>/reports/runs/<run>/visdom-env
    monkeypatch.chdir(tmp_path)
    target = start_built(build_target("0.2.4"), Path("reports/runs/r1"))
    try:
        requests.post(
            f"{target.url}/events",
            json={
                "eid": "main",
                "win": "w",
                "data": [{"content": "x", "type": "text"}],
                "opts": {},
            },
            timeout=5,
        )
        requests.post(f"{target.url}/save", json={"data": ["main"]}, timeout=5)
    finally:
        target.stop()
    run = tmp_path / "reports" / "runs" / "r1"
    assert (run / "visdom-env" / "main.json").exists()
    assert not (run / "reports").exists()


# -- stop_pid: the one way a process is stopped ---------------------------------------------

SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]
STUBBORN = [
    sys.executable,
    "-c",
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "print('ready', flush=True); time.sleep(60)",
]


def test_stop_pid_keeps_the_true_exit_code_and_kills_the_stubborn():
    from visdom_chaos.targets import stop_pid

    proc = subprocess.Popen(SLEEPER)
    assert (
        stop_pid(proc.pid, proc) == -signal.SIGTERM == proc.returncode
    )  # reaped by Popen, not psutil
    stubborn = subprocess.Popen(STUBBORN, stdout=subprocess.PIPE)
    assert stubborn.stdout.readline() == b"ready\n"
    assert stop_pid(stubborn.pid, stubborn, timeout=0.5) == -signal.SIGKILL


def test_stop_pid_group_stops_orphans_and_spares_children_it_does_not_own():
    from visdom_chaos.targets import stop_pid

    # a process (own session) whose child outlives it: only its process group still names the child
    leader = subprocess.Popen(
        [sys.executable, "-c", f"import subprocess, sys; print(subprocess.Popen({SLEEPER!r}).pid)"],
        stdout=subprocess.PIPE,
        start_new_session=True,
    )
    orphan = psutil.Process(int(leader.stdout.readline()))
    leader.wait(10)
    bystander = subprocess.Popen(SLEEPER)  # a child of ours that someone else's Popen owns
    try:
        stop_pid(leader.pid, leader, group=True, timeout=5)
        assert not orphan.is_running() or orphan.status() == psutil.STATUS_ZOMBIE
        assert bystander.poll() is None
        from visdom_chaos.targets import stop_procs

        assert stop_procs([psutil.Process(bystander.pid)], timeout=5) == []
        # stop_procs never reaps it: its owner still reads the real exit status
        assert bystander.wait(5) == -signal.SIGTERM
    finally:
        if bystander.poll() is None:
            bystander.kill()
