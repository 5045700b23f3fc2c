"""Ground truth for the user's own windows: a script with the real `visdom` client (from the
target's own venv) writes N points, M text appends and K images into a real Visdom 0.2.4,
and `visdom-chaos run --target URL` runs beside it. One tab stalls for good before the
script writes: its findings on the user's windows show it, the others are clean; without
the stall every user window is judged clean in every tab. The server is found by its port.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import built_or_skip

from visdom_chaos.targets import stop_pid

pytestmark = [pytest.mark.visdom, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "tests" / "fixtures" / "user_training.py"
N, M, K = 40, 10, 3

SCENARIO = """
name = "{name}"
description = "the harness beside a user's own training script"

[run]
duration = 7
settle = 1

[load]
sources = [{{ kind = "line", rate = 5 }}]
websocket_subscribers = 3
polling_subscribers = 0
{behaviour}
"""

STALL = """
[[behaviour]]
action = "stall"
clients = "ws-1"
at = 1
seconds = 3600
"""


def run_beside_user_script(visdom_factory, tmp_path: Path, stall: bool) -> tuple[dict, dict]:
    target = visdom_factory("0.2.4")
    python = built_or_skip("0.2.4").python  # the real visdom client, installed with the server
    scenario = tmp_path / "beside.toml"
    scenario.write_text(
        SCENARIO.format(name="beside", behaviour=STALL if stall else ""), encoding="utf-8"
    )
    user = subprocess.Popen(
        [python, str(SCRIPT), "--port", str(target.port), "--wait-win", "vc_line_src-0"]
        + ["--delay", "2", "--n", str(N), "--m", str(M), "--k", str(K)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    out = tmp_path / "run"
    try:
        res = subprocess.run(
            [sys.executable, "-m", "visdom_chaos", "run", "--target", target.url]
            + ["--scenario", str(scenario), "--out", str(out)],
            capture_output=True,
            text=True,
            timeout=240,
            env={**os.environ, "COLUMNS": "200"},
        )
        assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
        stdout, stderr = user.communicate(timeout=60)
    finally:
        if user.poll() is None:
            stop_pid(user.pid, user, group=True)
    assert user.returncode == 0, stderr[-2000:]
    wrote = json.loads(stdout.strip().splitlines()[-1])
    report = json.loads((out / "report.json").read_text())
    assert report["server"]["process"]["pid"] == target.pid
    assert report["memory"]["samples"] > 0
    return report, wrote


def _windows(report: dict, wrote: dict) -> dict[str, dict]:
    by_win = {w["win"]: w for w in report["user_windows"]["windows"]}
    assert {wrote["loss"], wrote["log"], wrote["sample"]} <= set(by_win), by_win.keys()
    return {title: by_win[wrote[title]] for title in ("loss", "log", "sample")}


def test_a_stalled_tab_shows_on_the_users_windows_the_others_are_clean(visdom_factory, tmp_path):
    report, wrote = run_beside_user_script(visdom_factory, tmp_path, stall=True)
    windows = _windows(report, wrote)
    for title, w in windows.items():
        assert w["title"] == title and w["judged"]
        for clean in ("ws-0", "ws-2"):
            assert w["tabs"][clean]["verdict"] == "clean", (title, clean, w["tabs"][clean])
        stalled = w["tabs"]["ws-1"]
        assert stalled["verdict"] == "finding", (title, stalled)
    loss = windows["loss"]["tabs"]["ws-1"]["findings"]
    assert loss[0]["detail"] in ("missing_points", "missing_window")
    if loss[0]["detail"] == "missing_points":
        assert f"server {N + 1}" in loss[0]["says"]  # the first point and N appends
    ev = [e for e in report["evidence"] if e["kind"] == "user_window"]
    assert {e["clients"][0] for e in ev} == {"ws-1"}
    assert any('"loss"' in e["message"] and wrote["loss"] in e["message"] for e in ev)


def test_a_clean_run_judges_every_user_window_clean(visdom_factory, tmp_path):
    report, wrote = run_beside_user_script(visdom_factory, tmp_path, stall=False)
    windows = _windows(report, wrote)
    for w in windows.values():
        assert set(w["tabs"]) == {"ws-0", "ws-1", "ws-2"}
        assert all(t["verdict"] == "clean" for t in w["tabs"].values()), w
    assert report["user_windows"]["clean"] is True
    assert "user_window" not in report["findings_detail"]
