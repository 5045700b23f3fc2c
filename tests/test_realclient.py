"""The real `visdom` Python client as a training source (visdom_chaos/wire/realclient.py):
payloads exactly as users send them, ids where the client lets them travel."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import built_or_skip

from visdom_chaos.journal import JournalWriter, read_journal
from visdom_chaos.scenario import ScenarioError, parse_scenario
from visdom_chaos.wire.realclient import (
    REAL_KINDS,
    RealClientError,
    RealClientSource,
    client_python,
)

SCENARIO = """
name = "real"
description = "d"
[run]
duration = 5
settle = 1
[load]
sources = [{sources}]
websocket_subscribers = 2
polling_subscribers = 0
"""


def test_scenario_sources_name_the_client():
    sc = parse_scenario(
        SCENARIO.format(sources='{ kind = "heatmap", rate = 2, client = "visdom" }'), "a.toml"
    )
    assert sc.sources[0].client == "visdom" and sc.sources[0].kind == "heatmap"
    with pytest.raises(ScenarioError, match='needs client = "visdom"'):
        parse_scenario(SCENARIO.format(sources='{ kind = "bar", rate = 2 }'), "b.toml")
    with pytest.raises(ScenarioError, match="unknown client"):
        parse_scenario(SCENARIO.format(sources='{ kind = "line", client = "curl" }'), "c.toml")


def test_no_python_with_the_client_is_a_clear_error(monkeypatch):
    monkeypatch.setattr("visdom_chaos.wire.realclient._has_visdom", lambda python: False)
    with pytest.raises(RealClientError, match="no Python with the visdom client"):
        client_python("0.2.4", explicit="/nonexistent/python")


@pytest.mark.visdom
def test_every_kind_is_acked_by_a_real_server(visdom_factory, tmp_path):
    target = visdom_factory("0.2.4")
    python = built_or_skip("0.2.4").python
    journal = JournalWriter(tmp_path / "clients.jsonl", role="clients")
    sources = [
        RealClientSource(target.url, f"src-{i}", journal, python=python, kind=kind)
        for i, kind in enumerate(REAL_KINDS)
    ]
    try:
        for src in sources:
            assert src.create(), src.stderr_tail
            for _ in range(3):
                assert src.append(), src.stderr_tail
    finally:
        for src in sources:
            src.close()
        journal.close()
    acks = [r for r in read_journal(tmp_path / "clients.jsonl") if r["type"] == "ack"]
    assert len(acks) == 4 * len(REAL_KINDS) and all(a["ok"] for a in acks)
    import requests

    windows = requests.post(
        f"{target.url}/win_data", json={"eid": "main", "win": None}, timeout=10
    ).json()
    line = windows["vc_client_line_src-0"]["content"]["data"][0]
    assert line["name"] == "src-0" and line["x"] == [0, 1, 2, 3]  # seq in x, trace = source
    assert "[src-3#3@" in windows["vc_client_image_src-3"]["content"]["caption"]
    assert windows["vc_client_text_src-2"]["content"].count("[src-2#") == 4
    assert all(src.proc.poll() is not None for src in sources)  # closed


@pytest.mark.visdom
@pytest.mark.slow
def test_a_run_with_the_real_client_judges_its_windows(tmp_path):
    built_or_skip("0.2.4")
    sources = ", ".join(
        f'{{ kind = "{k}", rate = {10 if k in ("line", "text") else 3}, client = "visdom" }}'
        for k in REAL_KINDS
    )
    scenario = tmp_path / "real.toml"
    scenario.write_text(SCENARIO.format(sources=sources), encoding="utf-8")
    out = tmp_path / "run"
    res = subprocess.run(
        [sys.executable, "-m", "visdom_chaos", "run", "--scenario", str(scenario)]
        + ["--out", str(out)],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    assert report["totals"]["sent"] == report["totals"]["acked"] > 0
    f = report["findings"]
    assert f["duplicate"] == f["missing"] == f["stale"] == f["undecodable"] == 0, f
    assert f["wire_gap"] == f["wire_duplicate"] == 0, f
    # ids travel in line, scatter, text, image and images: the id checkers judge those
    # (delivered); bar and heatmap carry none: judged as user windows, by what they show
    assert report["totals"]["delivered"] > 0
    judged = {w["win"]: w for w in report["user_windows"]["windows"]}
    assert set(judged) == {"vc_client_bar_src-5", "vc_client_heatmap_src-6"}
    assert all(t["verdict"] == "clean" for w in judged.values() for t in w["tabs"].values())
    meta = json.loads((out / "run.json").read_text())
    assert meta["params"]["client_python"]
