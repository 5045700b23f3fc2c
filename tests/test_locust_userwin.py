"""Locust against the user's own Visdom (`--host`), beside a script using the real client:
the end-of-test report and table include the user's windows and the server's memory."""

from __future__ import annotations

import json
import subprocess

import pytest
from conftest import REPO, built_or_skip
from test_locust import _finish, _headless, _log_tail, _spawn

from visdom_chaos.targets import stop_pid

pytestmark = [pytest.mark.visdom, pytest.mark.slow]
SCRIPT = REPO / "tests" / "fixtures" / "user_training.py"


def test_locust_judges_the_users_windows_and_measures_the_server(visdom_factory, tmp_path):
    target = visdom_factory("0.2.4")
    python = built_or_skip("0.2.4").python
    user = subprocess.Popen(
        [python, str(SCRIPT), "--port", str(target.port), "--delay", "3"]
        + ["--n", "30", "--m", "10", "--k", "3"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    out, log = tmp_path / "run", tmp_path / "locust.log"
    try:
        proc = _spawn(
            _headless(
                target.url,
                out,
                "--vc-training-users",
                "1",
                "--vc-kinds",
                "line",
                "--vc-user-env",
                "main",
                users=5,
                run_time=10,
            ),
            log,
        )
        assert _finish(proc, 150) == 0, _log_tail(log)
        stdout, stderr = user.communicate(timeout=60)
    finally:
        if user.poll() is None:
            stop_pid(user.pid, user, group=True)
    assert user.returncode == 0, stderr[-2000:]
    wrote = json.loads(stdout.strip().splitlines()[-1])
    report = json.loads((out / "report.json").read_text())
    by_win = {w["win"]: w for w in report["user_windows"]["windows"]}
    for title in ("loss", "log", "sample"):
        w = by_win[wrote[title]]
        assert w["title"] == title and len(w["tabs"]) == 2  # browsers 1 and 3 watch main
        assert all(t["verdict"] == "clean" for t in w["tabs"].values()), w
    assert report["server"]["process"]["pid"] == target.pid
    assert report["memory"]["samples"] > 0
    text = log.read_text(errors="replace")
    assert "user windows" in text and "server process" in text
