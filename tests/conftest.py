"""Shared fixtures: real Visdom targets from the target manager, skipped with a reason where unavailable."""

from __future__ import annotations

import os
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
