"""visdom #765, half-open-blip: every tab's link half-open for 5 s mid-training, then the same
path flows again.

Real parts: a real Visdom process, the real chaos proxy (`half_open` on every connection,
removed by the schedule) and a real Chromium tab (the version's own page; on patched the
rebuilt bundle with the series' js/ fixes), through the scenario. Measured truth, both variants recover, differently:
stock keeps the socket and delivers its buffer once the path flows (late, one connection,
nothing missing); patched reaps the silent socket within the blip, the close reaches the
page after it, and the page reconnects and resumes (nothing missing).
"""

from __future__ import annotations

import dataclasses

import pytest

from visdom_chaos.scenario import load_scenario


def test_scenario_names_the_issue_and_heals_the_blip():
    sc = load_scenario("half-open-blip")
    assert "#765" in sc.visdom_issues and sc.via_proxy and sc.browsers == 1
    (fault,) = sc.faults
    assert fault["type"] == "half_open" and fault["duration"] > 0  # the same path heals
    assert fault["at"] + fault["duration"] < sc.duration_s
    assert "totals.server_closed == 0" in sc.expectations_for("0.2.4", "stock")
    assert "totals.server_closed >= 1" in sc.expectations_for("0.3.0", "patched")


def run_blip(version: str, variant: str, tmp_path):
    from conftest import failed_expectations, run_scenario_short

    sc = dataclasses.replace(load_scenario("half-open-blip"), duration_s=10.0)
    result = run_scenario_short(sc, version, variant, tmp_path, chromium=True)
    _, failed = failed_expectations(sc, version, variant, result)
    assert not failed, f"{failed}; findings {result.report['findings']}"
    return result.report


def browser_events(report: dict) -> list[str]:
    return [f"{kind}:{detail}" for _, kind, detail in report["timeline"].get("browser-0", [])]


@pytest.mark.visdom
@pytest.mark.browser
def test_stock_tabs_catch_up_late_on_the_same_connection(tmp_path):
    report = run_blip("0.2.4", "stock", tmp_path)
    events = browser_events(report)
    assert events.count("connect:1") == 1 and not any(e.startswith("connect:2") for e in events)
    assert "disconnect:server_closed" not in events, events


@pytest.mark.visdom
@pytest.mark.browser
def test_patched_server_reaps_and_the_page_resumes(tmp_path):
    report = run_blip("0.2.4", "patched", tmp_path)
    events = browser_events(report)
    assert "disconnect:server_closed" in events, events
    closed = events.index("disconnect:server_closed")
    assert "connect:2" in events[closed:], events  # the shim reconnected after the close
