"""Scenario files: what they mean, and errors that name the file, the line and the field."""

from __future__ import annotations

import pytest

from visdom_chaos.behaviours import expand
from visdom_chaos.scenario import ScenarioError, parse_scenario

GOOD = """
name = "x"
description = "d"
[run]
duration = 10
[load]
sources = [{ kind = "text", rate = 5, pad_bytes = 10 }]
websocket_subscribers = 2
[[behaviour]]
action = "drop"
clients = "ws-*"
at = 1
every = 3
seconds = 0.5
[[faults]]
action = "add"
proxy = "visdom"
type = "latency"
attributes = { latency = 10 }
[expect]
stock = ["findings.reload > 0"]
"0.2.4:stock" = ["findings.reorder == 0"]
"""


def test_good_file():
    sc = parse_scenario(GOOD, "good.toml")
    assert sc.duration_s == 10 and sc.websocket_subscribers == 2 and sc.polling_subscribers == 1
    assert sc.sources[0].kind == "text" and sc.sources[0].pad_bytes == 10
    assert sc.via_proxy  # faults imply the proxy
    assert sc.expectations_for("0.2.4", "stock") == ["findings.reload > 0", "findings.reorder == 0"]
    assert sc.expectations_for("0.3.0", "patched") == []
    # drop every 3 s from t=1 within 10 s: at 1, 4, 7
    assert [t for t, _, _ in expand(sc.behaviours, sc.duration_s)] == [1.0, 4.0, 7.0]


@pytest.mark.parametrize(
    ("change", "line", "field"),
    [
        (("duration = 10", "duration = -1"), 5, "run.duration"),
        (('kind = "text"', 'kind = "video"'), 7, "load.sources[0].kind"),
        (
            ("websocket_subscribers = 2", "websocket_subscribers = 2\npolling = 3"),
            9,
            "load.polling",
        ),
        (('action = "drop"', 'action = "explode"'), 10, "behaviour[0].action"),
        (("every = 3", 'every = "often"'), 13, "behaviour[0].every"),
        (('type = "latency"', 'type = "earthquake"'), 18, "faults[0]"),
        (('stock = ["findings.reload > 0"]', 'stock = ["findings.reload >"]'), 21, "expect.stock"),
    ],
)
def test_errors_name_file_line_and_field(change, line, field):
    with pytest.raises(ScenarioError) as err:
        parse_scenario(GOOD.replace(*change), "bad.toml")
    msg = str(err.value)
    assert msg.startswith(f"bad.toml:{line}:"), msg
    assert field in msg, msg


def test_toml_syntax_error_has_line():
    with pytest.raises(ScenarioError, match=r"^bad.toml:3: TOML syntax"):
        parse_scenario('name = "x"\ndescription = "d"\n[run\n', "bad.toml")
