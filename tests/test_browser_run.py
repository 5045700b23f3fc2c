"""`visdom-chaos run --browsers N`: real Chromium subscribers in an experiment, and the report's
browser section (heap over time, errors, screenshots, fidelity table)."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_browser_index import built_target  # tests/ is on sys.path (rootdir, no package)

from visdom_chaos.cli import UserError
from visdom_chaos.commands.run import options_from_args
from visdom_chaos.journal import read_journal
from visdom_chaos.scenario import ScenarioError, parse_scenario

ROOT = Path(__file__).resolve().parents[1]
PNG = b"\x89PNG\r\n\x1a\n"


def _args(**kw) -> argparse.Namespace:
    base = {
        "scenario": "refresh-during-training",
        "target": "0.2.4",
        "variant": "stock",
        "duration": None,
        "out": None,
        "seed": 0,
        "allow_remote": False,
        "workers": "auto",
        "observer_burn_ms": 0.0,
        "browsers": None,
    }
    base.update(kw)
    return argparse.Namespace(**base)


def test_browsers_option_and_scenario_field() -> None:
    assert options_from_args(_args()).scenario.browsers == 0  # the catalogue scenario has none
    assert options_from_args(_args(browsers=2)).scenario.browsers == 2
    with pytest.raises(UserError, match="--browsers"):
        options_from_args(_args(browsers=-1))
    text = 'description = "d"\n[load]\nbrowsers = 3\n'
    assert parse_scenario(text).browsers == 3
    for bad in ("-1", '"two"', "1.5", "true"):
        with pytest.raises(ScenarioError, match=r"<scenario>:3: field 'load.browsers'"):
            parse_scenario(f'description = "d"\n[load]\nbrowsers = {bad}\n')


@pytest.mark.browser
@pytest.mark.visdom
@pytest.mark.slow
def test_run_refresh_during_training_with_two_browsers(tmp_path: Path) -> None:
    built_target("0.2.4")  # skips without chromium; builds the target (with UI assets) once
    out = tmp_path / "run"
    env = {
        **os.environ,
        "VISDOM_CHAOS_CACHE": os.environ.get("VISDOM_CHAOS_CACHE", str(ROOT / ".cache")),
    }
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "visdom_chaos",
            "run",
            "--scenario",
            "refresh-during-training",
            "--browsers",
            "2",
            "--duration",
            "5",
            "--out",
            str(out),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=150,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    report = json.loads((out / "report.json").read_text())
    transports = {s["id"]: s["transport"] for s in report["subscribers"]}
    assert transports["browser-0"] == transports["browser-1"] == "browser"
    assert transports["ws-0"] == "websocket" and transports["poll-0"] == "polling"

    section = report["browser"]
    assert [b["id"] for b in section["browsers"]] == ["browser-0", "browser-1"]
    for b in section["browsers"]:
        assert len(b["samples"]) >= 3, b["samples"]  # one per second over a >5 s run
        assert 1.0 < b["heap_mib"]["first"] <= b["heap_mib"]["max"] < 500
        assert b["errors"]["page_error"] == 0 and b["errors"]["offsite_request"] == 0
        assert b["screenshot"] == f"screenshots/{b['id']}.png"
        assert (out / b["screenshot"]).read_bytes()[:8] == PNG
    # The browsers are analysed like the replicas: final views of every window vs the truth.
    fid = section["fidelity"]
    windows = {r["window"] for r in fid["windows"]}
    assert windows == {"main/vc_line_src-0", "main/vc_scatter_src-1", "main/vc_text_src-2"}, windows
    for r in fid["windows"]:
        assert {s["id"] for s in r["browser"]["subscribers"]} == {"browser-0", "browser-1"}
        assert all(s["final_ids"] is not None for s in r["browser"]["subscribers"]), r
    views = [
        r
        for r in read_journal(out / "journal" / "clients.jsonl")
        if r["type"] == "view" and r["client"].startswith("browser-") and r["final"]
    ]
    assert {(r["client"], r["win"]) for r in views} == {
        (b, w.split("/")[1]) for b in ("browser-0", "browser-1") for w in windows
    }

    heap_png = out / "plots" / "browser_heap.png"
    assert heap_png.read_bytes()[:8] == PNG and heap_png.stat().st_size > 10_000
    md = (out / "report.md").read_text()
    assert "## Browser (real Chromium subscribers)" in md and "plots/browser_heap.png" in md
    assert "screenshots/browser-0.png" in md and "### Fidelity: replica vs browser" in md
    html = (out / "report.html").read_text()
    assert "Browser (real Chromium subscribers)" in html and "Fidelity: replica vs browser" in html
    # every plot (rss, latency, timeline, findings, browser_heap, observer, ...) + the two screenshots, embedded
    plots = sorted(p.name for p in (out / "plots").glob("*.png"))
    assert {"browser_heap.png", "observer.png", "rss.png"} <= set(plots), plots
    assert html.count("data:image/png;base64,") == len(plots) + 2


@pytest.mark.browser
@pytest.mark.visdom
@pytest.mark.slow
def test_locust_vc_browsers_adds_chromium_users(visdom_factory, tmp_path: Path) -> None:
    """`--vc-browsers 1`: one ChromiumUser beside 1 training and 1 WebSocket user."""
    built_target("0.2.4")
    target = visdom_factory("0.2.4")
    out = tmp_path / "run"
    log = tmp_path / "locust.log"
    cmd = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(ROOT / "loadtests"),
        "--host",
        target.url,
        "--headless",
        "-u",
        "3",
        "-r",
        "3",
        "-t",
        "8s",
        "--stop-timeout",
        "10",
        "--vc-out",
        str(out),
        "--vc-settle-s",
        "0",
        "--vc-training-users",
        "1",
        "--vc-browsers",
        "1",
        "--vc-stale-bound-ms",
        "30000",
        "--only-summary",
    ]
    with open(log, "wb") as f:
        proc = subprocess.run(
            cmd,
            cwd=ROOT,
            stdout=f,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            timeout=150,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    assert proc.returncode == 0, log.read_text(errors="replace")[-3000:]
    report = json.loads((out / "report.json").read_text())
    transports = sorted(s["transport"] for s in report["subscribers"])
    assert transports == ["browser", "websocket"], report["subscribers"]
    (chromium,) = report["browser"]["browsers"]
    assert chromium["id"] == "browser-0" and len(chromium["samples"]) >= 2
    assert (out / chromium["screenshot"]).read_bytes()[:8] == PNG
    (row,) = report["browser"]["fidelity"]["windows"]
    assert row["agree"], row["differences"]
    assert row["browser"]["subscribers"][0]["final_ids"] == row["truth_ids"] > 5
