"""Fault schedules: parsing ([[faults]]), expansion, the runner, and `python -m visdom_chaos.chaos serve`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import requests
from chaoshelp import ROOT, journal, serve_process, wait_for

from visdom_chaos.chaos import ChaosClient, ChaosError
from visdom_chaos.chaos.schedule import ScheduleRunner, load_schedule, parse_entries

pytest_plugins = ["chaoshelp"]  # fixtures: real servers on loopback, a ChaosServer per test


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        (
            [{"at": 1, "proxy": "p", "type": "latency"}, {"at": 2, "proxy": "p"}],
            r"faults\[1\] \(add\) field 'type'",
        ),
        ([{"at": -1, "proxy": "p", "type": "latency"}], r"faults\[0\] \(add\) field 'at'"),
        ([{"action": "explode", "proxy": "p"}], r"faults\[0\] \(explode\) field 'action'"),
        ([{"action": "flap", "proxy": "p", "down": 1}], r"faults\[0\] \(flap\) field 'every'"),
        ([{"action": "flap", "proxy": "p", "every": 2, "down": 1}], r"needs 'count' or 'until'"),
        (
            [{"action": "flap", "proxy": "p", "every": 1, "down": 2, "count": 2}],
            r"field 'duration': must be shorter",
        ),
        ([{"action": "partition", "proxy": "p"}], r"faults\[0\] \(partition\) field 'duration'"),
        ([{"action": "add", "type": "latency"}], r"faults\[0\] \(add\) field 'proxy'"),
        (
            [{"action": "add", "proxy": "p", "type": "latency", "colour": "red"}],
            r"unknown field\(s\) colour",
        ),
        ([{"action": "remove", "proxy": "p", "name": "x", "duration": 3}], r"cannot be undone"),
    ],
)
def test_timeline_errors_name_the_entry_and_field(entries, message):
    with pytest.raises(ChaosError, match=message):
        parse_entries(entries)


def test_expansion_of_duration_flap_and_partition():
    steps = parse_entries(
        [
            {
                "at": 0.5,
                "proxy": "p",
                "type": "latency",
                "attributes": {"latency": 100},
                "duration": 1,
            },
            {"action": "flap", "proxy": "p", "every": 2, "down": 0.5, "count": 2},
            {"action": "partition", "proxy": "p", "at": 3, "duration": 1.5},
        ]
    )
    assert [(s.t, s.op, s.args.get("name")) for s in steps] == [
        (0.0, "disable", None),
        (0.5, "add_toxic", "latency_downstream"),
        (0.5, "enable", None),
        (1.5, "remove_toxic", "latency_downstream"),
        (2.0, "disable", None),
        (2.5, "enable", None),
        (3.0, "add_toxic", "partition_2"),
        (4.5, "remove_toxic", "partition_2"),
    ]
    assert steps[6].args["type"] == "half_open"


def test_every_is_bounded_by_the_horizon():
    steps = parse_entries([{"action": "flap", "proxy": "p", "every": 10, "down": 1}], horizon=35)
    assert [s.t for s in steps if s.op == "disable"] == [0.0, 10.0, 20.0, 30.0]


def test_runner_applies_steps_on_time_in_process(chaos, echo_server):
    chaos.add_proxy("p", echo_server.addr)
    steps = parse_entries(
        [
            {
                "at": 0.1,
                "proxy": "p",
                "name": "lag",
                "type": "latency",
                "attributes": {"latency": 50},
                "duration": 0.4,
            }
        ]
    )
    runner = ScheduleRunner(chaos, steps, chaos.log).start()
    assert wait_for(lambda: chaos.toxics("p"), timeout=2)[0]["name"] == "lag"
    assert wait_for(lambda: runner.done, timeout=3)
    assert chaos.toxics("p") == []
    offsets = [t for t, _ in runner.applied]
    assert offsets[0] >= 0.1 and offsets[1] >= 0.5 and not runner.errors
    sched = [r for r in journal(chaos) if r["type"] == "fault" and r["kind"] == "schedule"]
    assert [(r["detail"]["entry"], r["detail"]["op"]) for r in sched] == [
        (0, "add_toxic"),
        (0, "remove_toxic"),
    ]


def test_runner_through_the_http_client_and_errors_are_recorded(chaos, echo_server):
    chaos.add_proxy("p", echo_server.addr)
    client = ChaosClient(chaos.api_url)
    steps = parse_entries(
        [
            {"action": "disable", "proxy": "p", "at": 0.0, "duration": 0.3},
            {"action": "remove", "proxy": "p", "name": "nothing", "at": 0.1},
        ]
    )
    runner = ScheduleRunner(client, steps).start()
    assert wait_for(lambda: chaos.proxy("p")["enabled"] is False, timeout=2)
    assert runner.join(3)
    assert chaos.proxy("p")["enabled"] is True
    assert len(runner.errors) == 1 and "404" in runner.errors[0][1]
    client.close()


def test_load_schedule_reads_faults_from_a_scenario_file(tmp_path):
    path = tmp_path / "scenario.toml"
    path.write_text(
        textwrap.dedent("""
        name = "slow-consumer"       # the rest of a scenario file is ignored here
        [[faults]]
        at = 2
        proxy = "visdom"
        type = "ws_drop"
        attributes = { match = { command = "window_update" }, probability = 0.5 }
        """)
    )
    (step,) = load_schedule(path)
    assert step.args["attributes"]["match"] == {"command": "window_update"}
    bad = tmp_path / "bad.toml"
    bad.write_text("[[faults]]\nat = 'soon'\nproxy = 'p'\ntype = 'latency'\n")
    with pytest.raises(ChaosError, match=r"bad.toml: faults\[0\] \(add\) field 'at'"):
        load_schedule(bad)


def test_cli_serve_config_schedule_journal_and_sigterm(tmp_path, echo_server):
    (tmp_path / "proxies.toml").write_text(
        f'[[proxies]]\nname = "echo"\nlisten = "127.0.0.1:0"\nupstream = "{echo_server.addr}"\n'
    )
    (tmp_path / "sched.toml").write_text(
        '[[faults]]\nat = 0.2\nproxy = "echo"\nname = "lag"\ntype = "latency"\nattributes = { latency = 20 }\n'
    )
    jpath = tmp_path / "faults.jsonl"
    proc, ready = serve_process(
        tmp_path,
        "--config",
        str(tmp_path / "proxies.toml"),
        "--schedule",
        str(tmp_path / "sched.toml"),
        "--journal",
        str(jpath),
    )
    try:
        api = f"http://{ready['api']}"
        listen = requests.get(f"{api}/proxies/echo", timeout=5).json()["listen"]
        assert listen == ready["proxies"]["echo"] and not listen.endswith(":0")
        assert (
            wait_for(
                lambda: requests.get(f"{api}/proxies/echo/toxics", timeout=5).json(), timeout=5
            )[0]["name"]
            == "lag"
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(10)
    assert code == 0
    lines = jpath.read_text().splitlines()
    records = [json.loads(line) for line in lines]  # every line whole: flushed on SIGTERM
    assert records[0]["type"] == "header" and records[0]["schema"] == "visdom-chaos/journal/1"
    kinds = [r.get("kind") for r in records[1:]]
    assert "schedule" in kinds and kinds[-1] == "proxy_delete"


def test_cli_rejects_bad_input_with_one_line(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(
        '[[faults]]\nproxy = "p"\ntype = "latency"\nattributes = { latency = "slow" }\nevery = 1\ncount = 2\nduration = 3\n'
    )
    env = {**os.environ, "PYTHONPATH": ROOT}
    t0 = time.monotonic()
    r = subprocess.run(
        [sys.executable, "-m", "visdom_chaos.chaos", "check", str(bad)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "faults[0] (add) field 'duration'" in r.stderr
    r = subprocess.run(
        [sys.executable, "-m", "visdom_chaos.chaos", "serve", "--api", "10.1.2.3:0"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert r.returncode == 2 and "not a loopback address" in r.stderr
    assert time.monotonic() - t0 < 30
