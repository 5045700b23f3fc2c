"""Toxics aimed at one client: `clients` (globs on the X-VC-Client request header) and
`downstream_port`. Connections that match nothing are untouched; the fault journal
names the client of every connection a toxic touched."""

from __future__ import annotations

import json
import socket

import pytest
import requests
import websocket
from chaoshelp import journal, recv_exactly, wait_for
from test_chaos_http import HttpServer

from visdom_chaos.chaos import ChaosError
from visdom_chaos.chaos.spec import ToxicSpec

pytest_plugins = ["chaoshelp"]  # fixtures: real servers on loopback, a ChaosServer per test


def open_ws(chaos, client: str | None, proxy: str = "ws") -> websocket.WebSocket:
    host, port = chaos.listen_of(proxy)
    header = [f"X-VC-Client: {client}"] if client else []
    return websocket.create_connection(f"ws://{host}:{port}/socket", timeout=5, header=header)


def run(ws: websocket.WebSocket, n: int) -> list[dict]:
    ws.send(json.dumps({"send": n}))
    got = []
    while (doc := json.loads(ws.recv()))["command"] != "end":
        got.append(doc)
    return got


def faults(chaos, kind: str) -> list[dict]:
    return [r for r in journal(chaos) if r["type"] == "fault" and r["kind"] == kind]


def test_spec_validates_aim_attributes_and_keeps_them_out_of_the_json_unless_given():
    plain = ToxicSpec.from_json({"type": "latency", "attributes": {"latency": 5}})
    assert plain.to_json()["attributes"] == {
        "latency": 5,
        "jitter": 0,
    }  # Toxiproxy's own, nothing more
    assert plain.clients == [] and plain.downstream_port == 0
    aimed = ToxicSpec.from_json(
        {"type": "ws_drop", "attributes": {"clients": "ws-1", "downstream_port": 4000}}
    )
    assert aimed.clients == ["ws-1"] and aimed.downstream_port == 4000
    assert aimed.to_json()["attributes"]["clients"] == ["ws-1"]
    assert (
        "clients" not in aimed.updated({"attributes": {"clients": []}}).attributes
    )  # un-aimed again
    for bad in (
        {"clients": [3]},
        {"clients": [""]},
        {"clients": {"a": 1}},
        {"downstream_port": 70000},
        {"downstream_port": -1},
        {"downstream_port": "x"},
    ):
        with pytest.raises(ChaosError, match="attribute 'clients'|attribute 'downstream_port'"):
            ToxicSpec.from_json({"type": "ws_drop", "attributes": bad})
    with pytest.raises(ChaosError, match="known: .*clients, downstream_port"):
        ToxicSpec.from_json({"type": "down", "attributes": {"client": "x"}})


def test_ws_toxic_aimed_at_one_client_touches_only_its_connection(chaos, ws_server):
    chaos.add_proxy("ws", ws_server.addr)
    chaos.add_toxic(
        "ws", "ws_drop", attributes={"match": {"command": "window_update"}, "clients": ["ws-1"]}
    )
    conns = {c: open_ws(chaos, c) for c in ("ws-0", "ws-1", "ws-10", None)}
    got = {c: run(ws, 10) for c, ws in conns.items()}
    for ws in conns.values():
        ws.close()
    everything = ws_server.sent[:10]
    assert got["ws-0"] == got["ws-10"] == got[None] == everything  # no header: untouched
    assert got["ws-1"] == [m for m in everything if m["command"] == "window"]
    dropped = faults(chaos, "ws_drop")
    assert len(dropped) == 5 and {r["detail"]["client"] for r in dropped} == {"ws-1"}
    attached = faults(chaos, "toxic_attach")
    assert [r["detail"]["client"] for r in attached] == ["ws-1"]
    assert attached[0]["detail"]["downstream_port"] > 0


def test_globs_and_a_toxic_added_to_live_connections(chaos, ws_server):
    chaos.add_proxy("ws", ws_server.addr)
    conns = {c: open_ws(chaos, c) for c in ("ws-0", "ws-1", "poll-0")}
    assert wait_for(
        lambda: (
            all(c["client"] for c in chaos.connections("ws")) and len(chaos.connections("ws")) == 3
        )
    )
    assert sorted(c["client"] for c in chaos.connections("ws")) == ["poll-0", "ws-0", "ws-1"]
    chaos.add_toxic(
        "ws", "ws_duplicate", attributes={"clients": ["ws-*"], "match": {"command": "window"}}
    )
    got = {c: run(ws, 4) for c, ws in conns.items()}
    for ws in conns.values():
        ws.close()
    assert [m["seq"] for m in got["ws-0"]] == [m["seq"] for m in got["ws-1"]] == [0, 0, 1, 2, 2, 3]
    assert [m["seq"] for m in got["poll-0"]] == [0, 1, 2, 3]
    assert sorted({r["detail"]["client"] for r in faults(chaos, "ws_duplicate")}) == [
        "ws-0",
        "ws-1",
    ]


def test_http_toxic_aimed_at_a_polling_client_acts_from_its_first_request(chaos):
    srv = HttpServer()
    try:
        chaos.add_proxy("web", f"127.0.0.1:{srv.port}")
        chaos.add_toxic(
            "web", "http_fail", attributes={"path": "/socket_wrap", "clients": ["poll-1"]}
        )
        host, port = chaos.listen_of("web")
        url = f"http://{host}:{port}/socket_wrap"
        for client, status in (("poll-0", 200), ("poll-1", 503), (None, 200)):
            with requests.Session() as s:
                headers = {"X-VC-Client": client} if client else {}
                for _ in range(2):  # the first request on the connection already counts
                    assert s.post(url, data="{}", headers=headers, timeout=5).status_code == status
        failed = faults(chaos, "http_fail")
        assert len(failed) == 2 and {r["detail"]["client"] for r in failed} == {"poll-1"}
        assert sum(1 for h in srv.hits if h[1] == "/socket_wrap") == 4
    finally:
        srv.close()


def test_aimed_by_downstream_port(chaos, echo_server):
    chaos.add_proxy("echo", echo_server.addr)
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    chaos.add_toxic("echo", "limit_data", attributes={"bytes": 4, "downstream_port": port})
    probe.settimeout(5)
    probe.connect(chaos.listen_of("echo"))
    other = socket.create_connection(chaos.listen_of("echo"), timeout=5)
    for s in (probe, other):
        s.sendall(b"0123456789")
    assert recv_exactly(other, 10) == b"0123456789"
    assert recv_exactly(probe, 10) == b"0123"  # cut after 4 bytes, then closed
    probe.close()
    other.close()
    assert [r["detail"]["downstream_port"] for r in faults(chaos, "toxic_attach")] == [port]


def test_down_aimed_at_a_client_spares_the_others(chaos, ws_server):
    chaos.add_proxy("ws", ws_server.addr)
    chaos.add_toxic("ws", "down", attributes={"clients": ["ws-9"]})
    ok = open_ws(chaos, "ws-0")
    assert len(run(ok, 2)) == 2
    with pytest.raises((OSError, websocket.WebSocketException)):
        bad = open_ws(chaos, "ws-9")
        run(bad, 2)
    ok.close()
    assert [r["detail"]["client"] for r in faults(chaos, "down")] == ["ws-9"]
