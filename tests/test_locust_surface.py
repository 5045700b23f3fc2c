"""The toolkit's Locust extensions open no HTTP route of their own, and keep the web UI local.

Locust's web UI is Locust's (docs/locust.md says how to bind it to loopback); what the
toolkit adds to a Locust process is event listeners and command-line knobs. This test
builds Locust's web UI with and without the toolkit's listeners and compares its routes.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import locust
import pytest
from locust import argument_parser
from locust.env import Environment
from locust.event import Events

from visdom_chaos.commands.tools import web_host_default


def _routes(env: Environment) -> set[tuple[str, tuple[str, ...]]]:
    assert env.web_ui is not None
    return {(r.rule, tuple(sorted(r.methods or ()))) for r in env.web_ui.app.url_map.iter_rules()}


def _bare_web_ui(events: Events) -> Environment:
    env = Environment(events=events)
    env.create_web_ui("127.0.0.1", 0)
    events.init.fire(environment=env, runner=None, web_ui=env.web_ui)
    return env


def _toolkit_web_ui(web_host: str) -> Environment:
    import visdom_chaos.loadtests.visdom_users as users  # registers on locust.events

    parser = argument_parser.get_parser()  # fires init_command_line_parser: our knobs
    opts = parser.parse_args(["-f", "x", "--host", "http://127.0.0.1:1", "--web-host", web_host])
    classes = [
        c
        for c in vars(users).values()
        if isinstance(c, type) and issubclass(c, locust.User) and c.__module__ == users.__name__
    ]
    env = Environment(
        events=locust.events, user_classes=classes, parsed_options=opts, host=opts.host
    )
    env.create_local_runner()
    env.create_web_ui("127.0.0.1", 0)
    locust.events.init.fire(environment=env, runner=env.runner, web_ui=env.web_ui)
    assert hasattr(opts, "_vc_auto_out"), "the toolkit's init listener did not run"
    return env


@pytest.fixture(autouse=True)
def _locust_argv(monkeypatch):
    # Locust's parser also reads sys.argv (config files, -f): give it Locust's, not pytest's
    monkeypatch.setattr(sys, "argv", ["locust"])


def test_the_toolkit_adds_no_route_to_locusts_web_ui(caplog):
    bare = _bare_web_ui(Events())
    with caplog.at_level(logging.WARNING, logger="visdom_chaos.loadgen"):
        ours = _toolkit_web_ui("127.0.0.1")
    assert ours.runner is not None
    ours.runner.quit()
    assert _routes(bare), "no routes read: the comparison would be empty"
    assert _routes(ours) == _routes(bare)
    assert "all interfaces" not in caplog.text


def test_the_route_comparison_sees_a_planted_route():
    events = Events()

    @events.init.add_listener
    def plant(web_ui: Any, **_: Any) -> None:
        web_ui.app.add_url_rule("/vc-planted", "planted", lambda: "x", methods=["POST"])

    planted, bare = _bare_web_ui(events), _bare_web_ui(Events())
    assert _routes(planted) - _routes(bare) == {("/vc-planted", ("OPTIONS", "POST"))}


def test_a_web_ui_on_every_interface_is_warned_about(caplog):
    with caplog.at_level(logging.WARNING, logger="visdom_chaos.loadgen"):
        env = _toolkit_web_ui("")
    assert env.runner is not None
    env.runner.quit()
    assert "listens on all interfaces" in caplog.text


def test_visdom_chaos_locust_binds_the_web_ui_to_loopback_unless_told():
    assert web_host_default(["--headless"]) == ["--web-host", "127.0.0.1", "--headless"]
    assert web_host_default(["--web-host", "0.0.0.0"]) == ["--web-host", "0.0.0.0"]
    assert web_host_default(["--web-host=::1"]) == ["--web-host=::1"]
