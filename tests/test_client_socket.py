"""visdom #796 / #450, client-socket-half-open: the Python client's /vis_socket on a half-open link.

Real parts: a real Visdom process, the real chaos proxy (`half_open` toxics), the released
`visdom` client in the target's own Python (the patched overlay for a patched target)
running `register_event_handler`, and a browser-like socket sending `forward_to_vis`
events. The link is frozen (the client's old connections for good, new ones for an
outage), then new connections pass again. Stock: the client never notices (no ping is
ever sent) and no callback comes back. Patched (0.2.4 0017 / 0.3.0 0013): it sees the
ping time out, reconnects, and callbacks resume after the heal.
"""

from __future__ import annotations

import pytest
from conftest import chaos_proxy  # tests/ is on sys.path

from visdom_chaos.matrix import cell_from_report
from visdom_chaos.proxyproc import PROXY_NAME
from visdom_chaos.reports.client_socket import client_socket_section
from visdom_chaos.scenario import ScenarioError, load_scenario, parse_scenario
from visdom_chaos.wire.clientsocket import (
    ClientSocketError,
    ProbeLog,
    ProbeTiming,
    run_probe,
    summarize,
)

S = 1_000_000_000
PING = {"VISDOM_CLIENT_PING_INTERVAL": "1", "VISDOM_CLIENT_PING_TIMEOUT": "0.5"}


def made_up_log(*, pings: bool) -> ProbeLog:
    """Events every 0.5 s from t=0; cut at 2 s, heal at 5 s; a pinging client notices at
    3 s, reconnects at 6 s and gets callbacks again from there."""
    log = ProbeLog(cut_ns=2 * S, heal_ns=5 * S, end_ns=10 * S)
    log.sent = {i: i * S // 2 for i in range(20)}
    log.lines = [{"ev": "ready", "alive": True, "t_ns": 0}]
    log.lines += [{"ev": "cb", "key": str(i), "t_ns": i * S // 2 + 1} for i in range(4)]
    if pings:
        log.lines += [
            {"ev": "log", "level": "ERROR", "msg": "ping/pong timed out", "t_ns": 3 * S},
            {"ev": "alive", "alive": False, "t_ns": 4 * S},
            {"ev": "log", "level": "INFO", "msg": "Visdom successfully connected", "t_ns": 6 * S},
        ]
        log.lines += [{"ev": "cb", "key": str(i), "t_ns": i * S // 2 + 1} for i in range(12, 20)]
    return log


def test_summarize_a_client_that_never_notices():
    got = summarize(made_up_log(pings=False))
    assert (got["sent_before"], got["callbacks_before"]) == (4, 4)
    assert got["sent_after_heal"] == 10 and got["callbacks_after_heal"] == 0
    assert got["noticed"] == 0 and got["noticed_after_s"] is None
    assert got["reconnected"] == 0 and got["resumed"] == 0
    assert client_socket_section(got)["hung"] == 1


def test_summarize_a_client_that_pings_and_reconnects():
    got = summarize(made_up_log(pings=True))
    assert got["noticed"] == 1 and got["noticed_after_s"] == 1.0
    assert got["reconnected"] == 1 and got["reconnected_after_s"] == 4.0
    assert got["resumed"] == 1 and got["callbacks_after_heal"] == 8
    assert got["resumed_after_heal_s"] == 1.0  # seq 12, sent at 6 s
    assert got["client_errors"] == ["ping/pong timed out"]
    assert [e["ev"] for e in got["timeline"]] == ["ready", "log", "alive", "log"]
    assert client_socket_section(got)["hung"] == 0


def test_timing_and_scenario_checks():
    with pytest.raises(ValueError, match="outage_s must be a number > 0"):
        ProbeTiming(outage_s=0)
    with pytest.raises(ValueError, match="event_every_s"):
        ProbeTiming(event_every_s="fast")  # type: ignore[arg-type]
    sc = load_scenario("client-socket-half-open")
    assert sc.probe == "client_socket" and sc.via_proxy
    assert {"#796", "#450"} <= set(sc.visdom_issues)
    for version in ("0.2.4", "0.3.0"):
        assert "client_socket.resumed == 0" in sc.expectations_for(version, "stock")
        assert "client_socket.resumed == 1" in sc.expectations_for(version, "patched")
    bare = parse_scenario('name = "x"\ndescription = "d"\nprobe = "client_socket"\n')
    assert bare.via_proxy  # the probe needs the proxy, whatever [load] says


def test_matrix_cell_names_the_probe_outcome():
    report = {"findings": {}, "client_socket": client_socket_section(summarize(made_up_log(pings=False))) }  # fmt: skip
    cell = cell_from_report("c", "0.2.4:stock", "r", "complete", report, ["client_socket.hung == 1"], None)  # fmt: skip
    assert cell.summary() == "client never noticed, callbacks never back ✓"


def probe_through(proxy, url: str, built, timing: ProbeTiming, **kwargs) -> dict:
    """The real client in the target's venv, its link through `proxy` to `url`."""
    return run_probe(
        target_url=url,
        proxy_url=proxy.url,
        proxy_port=int(proxy.listen.rsplit(":", 1)[1]),
        proxy=proxy.client,
        proxy_name=PROXY_NAME,
        python=built.python,
        env={**built.env(), **PING},
        timing=timing,
        **kwargs,
    )


def probe(visdom_factory, tmp_path, version: str, variant: str) -> dict:
    from conftest import built_or_skip

    built = built_or_skip(version, variant)
    target = visdom_factory(version, variant)
    with chaos_proxy(tmp_path, target.port) as proxy:
        return probe_through(
            proxy, target.url, built, ProbeTiming(healthy_s=0.5, outage_s=2.0, observe_s=7.0)
        )


@pytest.mark.visdom
@pytest.mark.parametrize("version", ["0.2.4", "0.3.0"])
def test_stock_client_hangs_silently_on_a_half_open_link(visdom_factory, tmp_path, version):
    got = probe(visdom_factory, tmp_path, version, "stock")
    assert got["callbacks_before"] > 0, got  # the link worked before the cut
    assert got["frozen_ports"], got
    assert got["noticed"] == 0, got["timeline"]
    assert got["resumed"] == 0 and got["callbacks_after_heal"] == 0, got
    assert got["sent_after_heal"] > 0


@pytest.mark.visdom
@pytest.mark.parametrize("version", ["0.2.4", "0.3.0"])
def test_patched_client_notices_reconnects_and_callbacks_resume(visdom_factory, tmp_path, version):
    got = probe(visdom_factory, tmp_path, version, "patched")
    assert got["callbacks_before"] > 0, got
    assert got["noticed"] == 1 and got["noticed_after_s"] < 3.0, got["timeline"]
    assert got["reconnected"] == 1, got["timeline"]
    assert got["resumed"] == 1 and got["callbacks_after_heal"] > 0, got
    assert "ping/pong timed out" in got["client_errors"]


def test_a_client_that_cannot_start_is_a_clear_error(tmp_path):
    with pytest.raises(ClientSocketError, match="did not start"):
        run_probe(
            target_url="http://127.0.0.1:9",
            proxy_url="http://127.0.0.1:9",
            proxy_port=9,
            proxy=None,  # type: ignore[arg-type]  # never reached
            proxy_name=PROXY_NAME,
            python="/bin/false",
            env={},
            timing=ProbeTiming(),
        )


def test_restart_mode_needs_a_restart_and_a_known_fault():
    common = dict(
        target_url="http://127.0.0.1:9",
        proxy_url="http://127.0.0.1:9",
        proxy_port=9,
        proxy=None,
        proxy_name=PROXY_NAME,
        python="/bin/false",
        env={},
    )
    with pytest.raises(ValueError, match="fault must be one of half_open, restart"):
        run_probe(**common, fault="reboot")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="needs a restart callable"):
        run_probe(**common, fault="restart")  # type: ignore[arg-type]
    with pytest.raises(ScenarioError, match="probe_fault"):
        parse_scenario('name = "x"\ndescription = "d"\nprobe_fault = "restart"\n')
    sc = load_scenario("server-restart-callbacks")
    assert sc.probe_fault == "restart" and "#497" in sc.visdom_issues


@pytest.mark.visdom
@pytest.mark.parametrize("variant", ["stock", "patched"])
def test_callbacks_come_back_after_a_server_restart(visdom_factory, tmp_path, variant):
    """visdom #497, the Python side: measured, the released client reconnects by itself."""
    from conftest import built_or_skip

    from visdom_chaos.targets import start_built

    built = built_or_skip("0.2.4", variant)
    first = visdom_factory("0.2.4", variant)
    started = []

    def restart() -> None:
        first.stop()
        started.append(start_built(built, tmp_path / "second", port=first.port))

    try:
        with chaos_proxy(tmp_path, first.port) as proxy:
            timing = ProbeTiming(healthy_s=0.5, observe_s=5.0)
            got = probe_through(proxy, first.url, built, timing, fault="restart", restart=restart)
    finally:
        for t in started:
            t.stop()
    assert started and started[0].port == first.port
    assert got["fault"] == "restart" and got["callbacks_before"] > 0, got
    assert "Connection to remote host was lost." in got["client_errors"], got["timeline"]
    assert got["reconnected"] == 1 and got["resumed"] == 1, got["timeline"]
    assert got["callbacks_after_heal"] > 0
