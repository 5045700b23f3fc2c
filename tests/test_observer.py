"""The observer measures itself: a starved worker is caught, a healthy one is not, a dead one is named.

Ground truth: the same real Visdom, the same load, once with worker-0 made to burn CPU on
every frame (`observer_burn_ms`) and once without. The first run must say the observer
lost headroom and mark its timing findings untrusted (and the gate must refuse to judge
them); the second must be healthy.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from visdom_chaos.orchestrator import Experiment, RunOptions
from visdom_chaos.reports import gate
from visdom_chaos.scenario import Scenario, SourceSpec
from visdom_chaos.workers import WorkerError, worker_count

REPO = Path(__file__).resolve().parents[1]


def _scenario(duration: float = 5.0) -> Scenario:
    # Text appends only: stock 0.2.4 does not reload on them, so the load is the same in both runs.
    return Scenario(
        "observer",
        "observer ground truth",
        duration_s=duration,
        settle_s=0.5,
        sources=[SourceSpec("text", 20.0)],
        websocket_subscribers=4,
        polling_subscribers=0,
    )


def _run(tmp: Path, url: str, **options) -> dict:
    result = Experiment(
        RunOptions(scenario=_scenario(), target=url, out=tmp, workers=2, **options)
    ).run()
    assert result.status == "complete", result.error
    assert result.report is not None
    return result.report


@pytest.mark.visdom
def test_a_starved_worker_makes_timing_untrusted_and_a_healthy_one_does_not(
    visdom_factory, tmp_path
):
    target = visdom_factory("0.2.4")
    starved = _run(tmp_path / "starved", target.url, observer_burn_ms=40.0)
    healthy = _run(tmp_path / "healthy", target.url)

    obs = starved["observer"]
    assert obs["verdict"] == "lost_headroom", obs
    # worker-0 holds ws-0 and ws-2 (round robin): it is the one named, by CPU or by backlog
    named = " ".join(obs["reasons"])
    assert "worker-0" in named or "ws-0" in named or "ws-2" in named, obs["reasons"]
    assert "worker-1" not in named and "ws-1" not in named and "ws-3" not in named, obs["reasons"]
    backlog = {s["client"]: s["backlog_p99_ms"] for s in obs["subscribers"]}
    assert min(backlog["ws-0"], backlog["ws-2"]) > max(backlog["ws-1"], backlog["ws-3"]), backlog
    assert starved["trust"]["timing"] == "untrusted"
    assert "latency_ms" in starved["trust"]["untrusted_metrics"]
    assert starved["latency_ms"]["trusted"] is False
    assert any("observer lost headroom" in n for n in starved["notes"])
    # The gate does not judge a latency rule on these figures, and still judges the rest.
    outcomes = gate.evaluate(
        gate.parse_rules("latency_ms.p99 < 100000\nfindings.duplicate == 0\n"), starved
    )
    assert [o.untrusted for o in outcomes] == [True, False]
    assert outcomes[1].ok

    obs = healthy["observer"]
    assert obs["verdict"] == "healthy", obs["reasons"]
    assert healthy["trust"] == {"timing": "trusted", "untrusted_metrics": [], "reason": None}
    assert {p["name"] for p in obs["processes"]} >= {"orchestrator", "worker-0", "worker-1"}
    assert all(s["backlog_p99_ms"] <= 100 for s in obs["subscribers"]), obs["subscribers"]
    assert healthy["latency_wire_ms"]["count"] or healthy["latency_ms"]["count"]


@pytest.mark.visdom
def test_gate_cannot_judge_untrusted_figures(visdom_factory, tmp_path):
    target = visdom_factory("0.2.4")
    run = tmp_path / "run"
    _run(run, target.url, observer_burn_ms=40.0)
    rules = tmp_path / "rules"
    rules.write_text("latency_ms.p99 < 100000\nfindings.duplicate == 0\n")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "visdom_chaos",
            "gate",
            str(run),
            "--rules",
            str(rules),
            "--junit",
            str(tmp_path / "junit.xml"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "cannot judge" in proc.stdout
    junit = (tmp_path / "junit.xml").read_text()
    assert 'skipped="1"' in junit and 'failures="0"' in junit


@pytest.mark.visdom
def test_a_worker_that_dies_mid_run_is_named_and_the_rest_analysed(visdom_factory, tmp_path):
    target = visdom_factory("0.2.4")
    exp = Experiment(
        RunOptions(
            scenario=_scenario(duration=6.0), target=target.url, out=tmp_path / "run", workers=2
        )
    )
    result: dict = {}
    th = threading.Thread(target=lambda: result.update(r=exp.run()), daemon=True)
    th.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (
        exp.pool is None or len(exp.pool.handles) < 2 or not exp.pool.subscribers
    ):
        time.sleep(0.1)
    assert exp.pool is not None and exp.pool.subscribers, "workers never started"
    time.sleep(2.0)
    victim = exp.pool.handles[1]
    os.kill(victim.pid, signal.SIGKILL)
    th.join(timeout=120)
    assert not th.is_alive()
    run = result["r"]
    assert run.status == "complete", run.error
    meta = json.loads((tmp_path / "run" / "run.json").read_text())
    dead = [w for w in meta["workers"] if w["died"]]
    assert [w["name"] for w in dead] == ["worker-1"] and dead[0]["clients"] == ["ws-1", "ws-3"]
    assert any("worker-1" in n and "ws-1" in n for n in run.report["notes"]), run.report["notes"]
    subs = {s["id"]: s for s in run.report["subscribers"]}
    assert subs["ws-0"]["delivered"] > 0 and subs["ws-2"]["delivered"] > 0  # worker-0 went on
    assert subs["ws-1"]["delivered"] > 0  # what the dead worker journaled before it died is kept
    assert (tmp_path / "run" / "journal" / "clients-w1.jsonl").exists()


def test_worker_counts():
    assert worker_count("auto", 5)[0] == min(5, os.cpu_count() or 1)
    assert worker_count(3, 5) == (3, None)
    n, note = worker_count(9, 3)
    assert n == 3 and "9 workers asked for 3" in note
    assert worker_count("auto", 0) == (0, None)
    for bad in (0, -1, "two"):
        with pytest.raises(WorkerError):
            worker_count(bad, 3)


@pytest.mark.parametrize("value", ["0", "-2", "many"])
def test_cli_refuses_bad_worker_counts(value):
    proc = subprocess.run(
        [sys.executable, "-m", "visdom_chaos", "run", "--workers", value, "--duration", "1"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "--workers" in proc.stderr and "Traceback" not in proc.stderr
