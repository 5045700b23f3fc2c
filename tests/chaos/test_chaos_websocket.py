"""WebSocket-frame-aware toxics against a real aiohttp WebSocket server and websocket-client.

Frames are counted on both sides: what the server sent (WsServer.sent) against
what the client received, and the fault journal names every frame it touched.
"""

from __future__ import annotations

import json

import websocket
from chaoshelp import journal, wait_for

pytest_plugins = ["chaoshelp"]  # fixtures: real servers on loopback, a ChaosServer per test


def open_ws(chaos, proxy: str = "ws") -> websocket.WebSocket:
    host, port = chaos.listen_of(proxy)
    return websocket.create_connection(f"ws://{host}:{port}/socket", timeout=5)


def run(ws: websocket.WebSocket, n: int, expect: int | None = None) -> list[dict]:
    """Ask for n messages; collect until `end` (and `expect` messages, if given)."""
    ws.send(json.dumps({"send": n}))
    got: list[dict] = []
    ended = False
    while not ended or (expect is not None and len(got) < expect):
        doc = json.loads(ws.recv())
        if doc["command"] == "end":
            ended = True
        else:
            got.append(doc)
    return got


def faults(chaos, kind: str) -> list[dict]:
    return [r for r in journal(chaos) if r["type"] == "fault" and r["kind"] == kind]


def test_drop_by_json_predicate_removes_exactly_those_frames(chaos, ws_server):
    chaos.add_proxy("ws", ws_server.addr)
    chaos.add_toxic("ws", "ws_drop", attributes={"match": {"command": "window_update"}})
    ws = open_ws(chaos)
    got = run(ws, 40)
    ws.close()
    sent = ws_server.sent
    assert len(sent) == 40
    assert got == [m for m in sent if m["command"] != "window_update"]
    dropped = faults(chaos, "ws_drop")
    assert sorted(r["detail"]["command"] for r in dropped) == ["window_update"] * 20
    assert all(
        r["client"] == "proxy" and r["conn"] >= 1 and r["stream"] == "downstream" for r in dropped
    )


def test_drop_with_probability_accounts_for_every_frame(chaos, ws_server):
    chaos.add_proxy("ws", ws_server.addr)
    chaos.add_toxic(
        "ws",
        "ws_drop",
        attributes={"probability": 0.5, "opcode": "text", "match": {"pad": "x" * 10}},
    )
    ws = open_ws(chaos)
    got = run(ws, 100)
    ws.close()
    seqs = [m["seq"] for m in got]
    assert seqs == sorted(seqs)  # nothing reordered or duplicated
    n_dropped = len(faults(chaos, "ws_drop"))
    assert 0 < n_dropped < 100
    assert len(got) + n_dropped == len(ws_server.sent) == 100


def test_limit_bounds_the_number_of_frames_touched(chaos, ws_server):
    chaos.add_proxy("ws", ws_server.addr)
    chaos.add_toxic("ws", "ws_drop", attributes={"limit": 3})
    ws = open_ws(chaos)
    got = run(ws, 10)
    ws.close()
    assert [m["seq"] for m in got] == list(range(3, 10))


def test_duplicate_selected_frames(chaos, ws_server):
    chaos.add_proxy("ws", ws_server.addr)
    chaos.add_toxic("ws", "ws_duplicate", attributes={"match": {"command": "window"}, "copies": 1})
    ws = open_ws(chaos)
    got = run(ws, 6)
    ws.close()
    assert [m["seq"] for m in got] == [0, 0, 1, 2, 2, 3, 4, 4, 5]


def test_delay_one_frame_lets_later_frames_overtake(chaos, ws_server):
    chaos.add_proxy("ws", ws_server.addr)
    chaos.add_toxic("ws", "ws_delay", attributes={"match": {"seq": 1}, "delay": 300})
    ws = open_ws(chaos)
    got = run(ws, 5, expect=5)
    ws.close()
    assert [m["seq"] for m in got] == [0, 2, 3, 4, 1]


def test_reorder_swaps_a_frame_with_the_next(chaos, ws_server):
    chaos.add_proxy("ws", ws_server.addr)
    chaos.add_toxic(
        "ws", "ws_reorder", attributes={"match": {"seq": 2}, "after": 2, "max_hold": 5000}
    )
    ws = open_ws(chaos)
    got = run(ws, 6)
    ws.close()
    assert [m["seq"] for m in got] == [0, 1, 3, 4, 2, 5]


def test_upstream_masked_client_frames_can_be_dropped(chaos, ws_server):
    chaos.add_proxy("ws", ws_server.addr)
    chaos.add_toxic("ws", "ws_drop", stream="upstream", attributes={"contains": "drop-me"})
    ws = open_ws(chaos)
    for text in ("keep-1", "please drop-me", "keep-2"):
        ws.send(text)
    assert [ws.recv(), ws.recv()] == ["keep-1", "keep-2"]  # echoed by the server
    ws.close()
    assert ws_server.received == ["keep-1", "keep-2"]


def test_fragmented_message_with_interleaved_ping_is_judged_whole(chaos, ws_server):
    chaos.add_proxy("ws", ws_server.addr)
    chaos.add_toxic("ws", "ws_drop", stream="upstream", attributes={"contains": "frag-drop"})
    ws = open_ws(chaos)

    def fragmented(parts: list[str]) -> None:
        ws.send_frame(websocket.ABNF.create_frame(parts[0], websocket.ABNF.OPCODE_TEXT, fin=0))
        ws.ping("mid")  # a control frame inside the fragmented message
        for part in parts[1:-1]:
            ws.send_frame(websocket.ABNF.create_frame(part, websocket.ABNF.OPCODE_CONT, fin=0))
        ws.send_frame(websocket.ABNF.create_frame(parts[-1], websocket.ABNF.OPCODE_CONT, fin=1))

    fragmented(["fr", "ag-d", "rop"])  # the predicate only matches the whole message
    fragmented(["frag", "-", "keep"])
    op, frame = ws.recv_data_frame(control_frame=True)
    while op != websocket.ABNF.OPCODE_TEXT:
        op, frame = ws.recv_data_frame(control_frame=True)
    assert frame.data == b"frag-keep"
    ws.close()
    assert wait_for(lambda: ws_server.received) == ["frag-keep"]
    assert len(faults(chaos, "ws_drop")) == 1


def test_control_frames_pass_a_drop_everything_toxic(chaos, ws_server):
    chaos.add_proxy("ws", ws_server.addr)
    ws = open_ws(chaos)
    chaos.add_toxic("ws", "ws_drop")  # every data message server -> client
    ws.send(json.dumps({"send": 3}))
    ws.ping("are-you-there")
    op, frame = ws.recv_data_frame(control_frame=True)
    assert op == websocket.ABNF.OPCODE_PONG and frame.data == b"are-you-there"
    ws.close()
    assert len(faults(chaos, "ws_drop")) == 4  # 3 messages + end


def test_removing_a_ws_toxic_mid_connection_keeps_the_connection(chaos, ws_server):
    """The parser may still hold message units when the last WebSocket toxic goes away."""
    chaos.add_proxy("ws", ws_server.addr)
    chaos.add_toxic(
        "ws", "ws_drop", name="lossy", attributes={"match": {"command": "window_update"}}
    )
    ws = open_ws(chaos)
    first = run(ws, 20)
    chaos.remove_toxic("ws", "lossy")
    second = run(ws, 20)
    ws.close()
    assert len(first) == 10  # half were window_update, dropped
    assert len(second) == 20  # after the removal everything passes, on the same connection
