"""The Locust support code that needs no server: knobs and scenario files, shapes, behaviour scripts."""

from __future__ import annotations

import argparse
import random

import pytest

from visdom_chaos.ids import EventId
from visdom_chaos.loadgen.behaviours import Script
from visdom_chaos.loadgen.clients import DeliveryObserver, kind_of_window, png_bytes
from visdom_chaos.loadgen.knobs import KNOBS, Knobs, ScenarioError, add_arguments, apply_scenario
from visdom_chaos.loadgen.shapes import shape_tick
from visdom_chaos.wire.replica import Applied


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(list(argv))


def test_every_knob_is_an_argument_with_a_typed_default():
    opts = _parse()
    for k in KNOBS:
        assert getattr(opts, k.dest) == k.default
        assert k.default is not None  # the web UI casts form values by the default's type
    assert _parse("--vc-abrupt-every-s", "3").vc_abrupt_every_s == 3.0
    assert _parse("--vc-journal-recv", "false").vc_journal_recv is False


def test_scenario_load_table_fills_defaults_but_command_line_wins(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text(
        '[load]\nabrupt_every_s = 3\nrate = 50\nkinds = ["line", "image"]\nshape = "spike"\n'
        "something_else = 1\n[faults]\nx = 1\n"
    )
    opts = _parse("--vc-scenario", str(path), "--vc-rate", "7")
    applied = apply_scenario(opts)
    assert opts.vc_abrupt_every_s == 3.0 and opts.vc_shape == "spike"
    assert opts.vc_rate == 7.0 and "rate" not in applied
    assert Knobs.from_options(opts).kind_list == ["line", "image"]


@pytest.mark.parametrize(
    "body", ['[load]\nrate = "fast"\n', '[load]\nshape = "zigzag"\n', "[load\n"]
)
def test_bad_scenarios_are_refused(tmp_path, body):
    path = tmp_path / "bad.toml"
    path.write_text(body)
    with pytest.raises(ScenarioError):
        apply_scenario(_parse("--vc-scenario", str(path)))


def _knobs(**over) -> Knobs:
    opts = _parse()
    for k, v in over.items():
        setattr(opts, "vc_" + k, v)
    return Knobs.from_options(opts)


def test_shapes():
    k = _knobs(shape="steady")
    assert shape_tick(k, 5, 12, 4, 20) == (12, 4)
    assert shape_tick(k, 20, 12, 4, 20) is None
    ramp = _knobs(shape="ramp", ramp_s=10.0, training_users=2)
    users = [shape_tick(ramp, t, 12, 4, None)[0] for t in (0, 5, 10, 30)]
    assert users == [2, 7, 12, 12]
    spike = _knobs(shape="spike", spike_at_s=10.0, spike_s=5.0, spike_users=30)
    assert [shape_tick(spike, t, 12, 4, None)[0] for t in (9, 10, 14.9, 15)] == [12, 42, 42, 12]
    soak = _knobs(shape="soak", soak_s=100.0, ramp_s=10.0)
    assert shape_tick(soak, 50, 12, 4, None)[0] == 12 and shape_tick(soak, 100, 12, 4, None) is None


def test_behaviour_script_combines_and_reschedules():
    k = _knobs(abrupt_every_s=3.0, stall_every_s=5.0, jitter=0.0)
    s = Script.from_knobs(k, 100.0, random.Random(0))
    assert s.due(102.9) == []
    assert s.due(103.0) == ["abrupt"]
    assert s.due(105.0) == ["stall"]
    assert s.due(106.0) == ["abrupt"]
    assert s.due(130.0) == ["abrupt", "stall"]  # missed periods are skipped, not replayed
    assert s.next_time() == 133.0
    assert not Script.from_knobs(_knobs(), 0.0, random.Random(0)).active


def test_delivery_observer_reports_latency_duplicates_once_and_regressions():
    events = []
    obs = DeliveryObserver(lambda **kw: events.append(kw), min_send_ns=1_000)
    ids = [EventId("src-0", 1, 2_000), EventId("old", 1, 10)]
    obs.observe("ws-0", [Applied("vc_0", "vc_line_src-0", "window", ids, [], [], 2)])
    assert [e["name"] for e in events] == ["line"] and events[0]["exception"] is None
    dup = Applied("vc_0", "vc_line_src-0", "window_update", [], [], [("src-0", 1)], 3)
    obs.observe("ws-0", [dup, dup])
    back = Applied("vc_0", "vc_line_src-0", "window", [], [("src-0", 1)], [], 1)
    obs.observe("ws-0", [back])
    reasons = [str(e["exception"]) for e in events if e["exception"] is not None]
    assert reasons == [
        "live: duplicate id in a view",
        "live: view went backwards (id left the view)",
    ]


def test_image_kind_helpers():
    png = png_bytes(8, 3)
    assert png.startswith(b"\x89PNG") and b"IEND" in png
    assert kind_of_window("vc_image_src-w1-0.2") == "image" and kind_of_window("other") == "other"


def test_run_scenarios_become_knobs_and_a_plan(tmp_path):
    from visdom_chaos.loadgen.scenario import Timeline, load_plan

    path = tmp_path / "storm.toml"
    path.write_text(
        'name = "storm"\ndescription = "d"\n[run]\nduration = 12\nsettle = 1\n'
        '[load]\nsources = [{ kind = "line", rate = 5 }, { kind = "text", rate = 7, env = "e2" }]\n'
        "websocket_subscribers = 3\npolling_subscribers = 1\n"
        '[[behaviour]]\naction = "drop"\nclients = ["ws-0"]\nat = 1\nevery = 3\nseconds = 0.5\n'
    )
    opts = _parse("--vc-scenario", str(path), "--vc-settle-s", "4")
    applied = apply_scenario(opts)
    assert (opts.vc_training_users, opts.vc_polling_users, opts.vc_users) == (2, 1, 6)
    assert opts.vc_duration_s == 12.0 and opts.vc_settle_s == 4.0 and "settle_s" not in applied
    plan = load_plan(str(path))
    assert plan.envs == ["e2", "main"] and plan.source(3).rate_hz == 7
    # worker-tagged ids match the scenario's untagged names
    assert (
        plan.behaviours_for("ws-w1-0")
        and plan.behaviours_for("ws-0")
        and not plan.behaviours_for("ws-1")
    )

    class Sub:
        def __init__(self):
            self.calls = []

        def drop(self, abrupt):
            self.calls.append(("drop", abrupt))

        def reconnect(self):
            self.calls.append(("reconnect",))

    import time

    t0 = time.monotonic()
    tl = Timeline(plan.behaviours_for("ws-0"), t0, 12.0)
    sub = Sub()
    assert tl.run_due(sub, t0 + 0.5) == 0
    assert tl.run_due(sub, t0 + 1.0) == 1 and sub.calls == [("drop", True)]
    assert tl.next_time() is not None and tl.next_time() <= t0 + 4.0
    # the reconnect 0.5 s after the drop is scheduled on the real clock
    time.sleep(0.6)
    tl.run_due(sub, time.monotonic())
    assert sub.calls[-1] == ("reconnect",)
    assert (
        shape_tick(Knobs.from_options(opts), 12.5, 99, 5, None) is None
    )  # duration from the scenario
    assert shape_tick(Knobs.from_options(opts), 1.0, 99, 5, None)[0] == 6  # users from the scenario
