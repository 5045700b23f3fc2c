"""Issue 6: every catalogue scenario, shortened, on real stock Visdom, produces the findings it exists for.

The expectations are the scenario files' own `[expect]` rules for the target (gate
syntax), so the catalogue and its tests cannot drift apart.
"""

from __future__ import annotations

import dataclasses

import pytest

from visdom_chaos.matrix import cell_from_report
from visdom_chaos.orchestrator import Experiment, RunOptions
from visdom_chaos.scenario import load_scenario, scenario_files

SHORT_S = 12.0
# soak is the long one (run by hand, figures in the README); mixed has no stock expectation.
SKIP = {"soak", "mixed"}
SCENARIOS = [name for name in scenario_files() if name not in SKIP]


@pytest.mark.visdom
@pytest.mark.parametrize("name", SCENARIOS)
def test_scenario_finds_what_it_exists_for_on_stock(name, version, tmp_path):
    from conftest import built_or_skip

    built_or_skip(version)
    scenario = load_scenario(name)
    if scenario.probe == "page":  # its expectations read the real page's `page` section
        from visdom_chaos.wire.browser.worker import DEFAULT_CHROMIUM

        if not DEFAULT_CHROMIUM.is_file():
            pytest.skip(f"{name} loads a real page: chromium not installed at {DEFAULT_CHROMIUM}")
    rules = scenario.expectations_for(version, "stock")
    if not rules:
        pytest.skip(f"{name} states no expectation for {version}:stock")
    scenario = dataclasses.replace(scenario, duration_s=min(scenario.duration_s, SHORT_S))
    result = Experiment(RunOptions(scenario=scenario, target=version, out=tmp_path / "run")).run()
    assert result.status == "complete", result.error
    cell = cell_from_report(
        name, f"{version}:stock", result.run_dir, result.status, result.report, rules, None
    )
    failed = [e for e in cell.expectations if not e["ok"]]
    assert not failed, f"{name} on {version}: {failed}; findings {result.report['findings']}"


def test_every_scenario_file_parses_and_names_its_issue_or_purpose():
    for name, path in scenario_files().items():
        sc = load_scenario(str(path))
        assert sc.name == name, f"{path}: name {sc.name!r} differs from the file name"
        assert sc.description
        assert sc.duration_s > 0


PATCHED = [
    "closed-socket-write",
    "polling-order",
    "reconnect-storm",
    "half-open-ghosts",
    "forward-after-close",
]


@pytest.mark.visdom
@pytest.mark.parametrize("name", PATCHED)
def test_patched_target_meets_the_scenarios_patched_expectations(name, tmp_path):
    """Issue 7 on real patched 0.2.4: the findings the scenario exists for are gone."""
    from conftest import built_or_skip

    built_or_skip("0.2.4", "patched")
    scenario = load_scenario(name)
    rules = scenario.expectations_for("0.2.4", "patched")
    assert rules, f"{name} states no patched expectation"
    scenario = dataclasses.replace(scenario, duration_s=min(scenario.duration_s, SHORT_S))
    result = Experiment(
        RunOptions(scenario=scenario, target="0.2.4", variant="patched", out=tmp_path / "run")
    ).run()
    assert result.status == "complete", result.error
    cell = cell_from_report(
        name, "0.2.4:patched", result.run_dir, result.status, result.report, rules, None
    )
    failed = [e for e in cell.expectations if not e["ok"]]
    assert not failed, f"{name} on 0.2.4:patched: {failed}; findings {result.report['findings']}"
