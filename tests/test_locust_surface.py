"""The toolkit's Locust extensions open no HTTP route of their own, and keep the web UI local.

Locust's web UI is Locust's (docs/locust.md says how to bind it to loopback); what the
toolkit adds to a Locust process is event listeners and command-line knobs. The web UI
is built with and without the toolkit's listeners and its routes compared, in a process
of its own (tests/fixtures/locust_routes.py: Locust monkey-patches ssl at import).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from visdom_chaos.commands.tools import web_host_default

SCRIPT = Path(__file__).parent / "fixtures" / "locust_routes.py"


@pytest.fixture(scope="module")
def surfaces() -> dict:
    out = subprocess.run(
        [sys.executable, str(SCRIPT)], capture_output=True, text=True, timeout=120, check=True
    )
    return json.loads(out.stdout.splitlines()[-1])


def _set(routes: list) -> set:
    return {(rule, tuple(methods)) for rule, methods in routes}


def test_the_toolkit_adds_no_route_to_locusts_web_ui(surfaces):
    ours = surfaces["ours_local"]
    assert ours["listener_ran"], "the toolkit's init listener did not run: nothing compared"
    assert _set(surfaces["bare"]), "no routes read: the comparison would be empty"
    assert _set(ours["routes"]) == _set(surfaces["bare"])
    assert "all interfaces" not in ours["log"]


def test_the_route_comparison_sees_a_planted_route(surfaces):
    added = _set(surfaces["planted"]) - _set(surfaces["bare"])
    assert added == {("/vc-planted", ("OPTIONS", "POST"))}


def test_a_web_ui_on_every_interface_is_warned_about(surfaces):
    assert "listens on all interfaces" in surfaces["ours_open"]["log"]


def test_visdom_chaos_locust_binds_the_web_ui_to_loopback_unless_told():
    assert web_host_default(["--headless"]) == ["--web-host", "127.0.0.1", "--headless"]
    assert web_host_default(["--web-host", "0.0.0.0"]) == ["--web-host", "0.0.0.0"]
    assert web_host_default(["--web-host=::1"]) == ["--web-host=::1"]
