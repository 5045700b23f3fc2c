"""Shared fixtures: real Visdom targets from the target manager, skipped with a reason where unavailable."""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("VISDOM_CHAOS_CACHE", str(REPO / ".cache"))


def built_or_skip(version: str, variant: str = "stock"):
    from visdom_chaos.targets import TargetError, build_target

    try:
        return build_target(version, variant)
    except TargetError as exc:
        pytest.skip(str(exc))


@pytest.fixture
def visdom_factory(tmp_path):
    """Start real Visdom processes on loopback; all are stopped at the end of the test."""
    from visdom_chaos.targets import start_built

    started = []

    def start(version: str = "0.2.4", variant: str = "stock", **kwargs):
        built = built_or_skip(version, variant)
        target = start_built(
            built, tmp_path / f"visdom-{version}-{variant}-{len(started)}", **kwargs
        )
        started.append(target)
        return target

    yield start
    for target in started:
        target.stop()


@pytest.fixture(params=["0.2.4", "0.3.0"])
def version(request) -> str:
    return request.param


@pytest.fixture(scope="session")
def replica_js_dir(tmp_path_factory):
    """The browser's own JS libraries for the node differential tests (tests/replica_js.py)."""
    import shutil

    if shutil.which("node") is None:
        pytest.skip("node is not installed")
    from replica_js import build_js_dir

    return build_js_dir(tmp_path_factory.mktemp("replica-js"))


@contextmanager
def chaos_proxy(tmp_path: Path, port: int):
    """The real chaos proxy in front of the target (stopped at the end)."""
    from visdom_chaos.proxyproc import ProxyProcess

    (tmp_path / "proxy").mkdir()
    proxy = ProxyProcess(tmp_path / "proxy", port)
    try:
        yield proxy
    finally:
        proxy.stop()


def run_scenario_short(sc, version: str, variant: str, tmp_path: Path, *, chromium: bool = False):
    """One real run of scenario `sc` (already shortened) on a built target; skips where the
    target (or, `chromium`, the browser) is unavailable, fails on an incomplete run."""
    from visdom_chaos.orchestrator import Experiment, RunOptions
    from visdom_chaos.wire.browser.worker import DEFAULT_CHROMIUM

    if chromium and not DEFAULT_CHROMIUM.is_file():
        pytest.skip(f"chromium not installed at {DEFAULT_CHROMIUM}")
    built_or_skip(version, variant)
    result = Experiment(
        RunOptions(scenario=sc, target=version, variant=variant, out=tmp_path / "run")
    ).run()
    assert result.status == "complete", result.error
    return result


def failed_expectations(sc, version: str, variant: str, result):
    """The matrix cell of a run and the scenario's expectations for that target that failed."""
    from visdom_chaos.matrix import cell_from_report

    rules = sc.expectations_for(version, variant)
    cell = cell_from_report(sc.name, f"{version}:{variant}", result.run_dir, "complete", result.report, rules, None)  # fmt: skip
    return cell, [e for e in cell.expectations if not e["ok"]]
