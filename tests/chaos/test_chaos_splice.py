"""The no-toxic path in the kernel (chaos/splice.py) and its hand-overs on live connections.

Real loopback sockets and the real proxy: each test moves bytes while the stream is
spliced, attaches a toxic to the live connection (the stream must leave the kernel path
at once, its parsers in step), removes it (the kernel path must come back), and checks
every byte arrived intact and in order. WebSocket frames stay on the transport path
(splice.py says why); their tests check a message toxic attached mid-stream on a live
link meets whole frames from its first message on.
"""

from __future__ import annotations

import hashlib
import json
import socket
import threading
import time

import pytest
import websocket
from chaoshelp import connect, journal, recv_exactly

from visdom_chaos.chaos import splice
from visdom_chaos.chaos.segmenter import Segmenter

pytest_plugins = ["chaoshelp"]  # fixtures: real servers on loopback, a ChaosServer per test

needs_splice = pytest.mark.skipif(
    not splice.enabled(), reason="splice(2) is Linux only (or VISDOM_CHAOS_SPLICE=0 is set)"
)


def streams(chaos, proxy: str) -> dict[str, tuple[bool, int]]:
    """Each direction of the proxy's one live link: (spliced now, bytes spliced so far)."""

    async def op() -> dict[str, tuple[bool, int]]:
        links = list(chaos.registry.get(proxy).links.values())
        assert len(links) == 1, f"expected one live connection, found {len(links)}"
        out = {}
        for name, d in links[0].dirs.items():
            sp = d.splicer
            out[name] = (sp is not None and sp.active, sp.moved if sp is not None else 0)
        return out

    return chaos.call(op)


def pattern(n: int, start: int = 0) -> bytes:
    """Bytes whose position is readable from their value (an opaque, non-HTTP stream)."""
    return bytes((start + i) % 251 for i in range(n))


def exchange(s: socket.socket, data: bytes) -> bytes:
    """Send while receiving the echo (a thread sends, so neither side stalls the other)."""
    sender = threading.Thread(target=s.sendall, args=(data,), daemon=True)
    sender.start()
    got = recv_exactly(s, len(data))
    sender.join(10)
    return got


def rtt(s: socket.socket) -> float:
    t0 = time.perf_counter()
    s.sendall(b"\x00ping")
    assert recv_exactly(s, 5) == b"\x00ping"
    return time.perf_counter() - t0


@needs_splice
def test_opaque_stream_spliced_then_toxic_then_spliced_again(chaos, echo_server):
    chaos.add_proxy("tcp", echo_server.addr)
    s = connect(chaos, "tcp")
    first = pattern(2 << 20)
    assert exchange(s, first) == first
    st = streams(chaos, "tcp")
    assert st["upstream"][0] and st["downstream"][0]
    assert st["upstream"][1] > 1 << 20 and st["downstream"][1] > 1 << 20

    chaos.add_toxic("tcp", "latency", attributes={"latency": 300})
    assert not streams(chaos, "tcp")["downstream"][0]  # left the kernel path at the attach
    assert rtt(s) >= 0.3  # the very next bytes feel it
    second = pattern(256 << 10, 7)
    assert exchange(s, second) == second

    chaos.remove_toxic("tcp", "latency_downstream")
    assert rtt(s) < 0.3
    before = streams(chaos, "tcp")["downstream"][1]
    third = pattern(2 << 20, 13)
    assert exchange(s, third) == third
    st = streams(chaos, "tcp")
    assert st["downstream"][0] and st["downstream"][1] > before + (1 << 20)
    s.close()


def open_ws(chaos) -> websocket.WebSocket:
    host, port = chaos.listen_of("ws")
    return websocket.create_connection(f"ws://{host}:{port}/socket", timeout=5)


def ask(ws: websocket.WebSocket, n: int, pad: int = 10) -> None:
    ws.send(json.dumps({"send": n, "pad": pad}))


def until_end(ws: websocket.WebSocket, limit: int = 100_000) -> list[dict]:
    got = []
    for _ in range(limit):
        doc = json.loads(ws.recv())
        if doc["command"] == "end":
            return got
        got.append(doc)
    raise AssertionError(f"no end after {limit} messages")


def test_websocket_message_toxic_attached_mid_stream_meets_whole_frames(chaos, ws_server):
    chaos.add_proxy("ws", ws_server.addr)
    ws = open_ws(chaos)
    ask(ws, 200, pad=300)
    assert until_end(ws) == ws_server.sent
    # frames stay on the transport path (their boundaries are followed there), by design
    assert streams(chaos, "ws")["downstream"] == (False, 0)

    # attach while thousands of frames stream through the kernel path
    n, base = 3000, len(ws_server.sent)
    ask(ws, n, pad=300)
    got = [json.loads(ws.recv()) for _ in range(100)]
    chaos.add_toxic("ws", "ws_drop", attributes={"match": {"command": "window_update"}})
    got += until_end(ws)
    sent = ws_server.sent[base:]
    seqs = [m["seq"] for m in got]
    assert seqs == sorted(set(seqs))  # in order, none twice, every frame whole (parsed here)
    missing = sorted({m["seq"] for m in sent} - set(seqs))
    dropped = [r for r in journal(chaos) if r["type"] == "fault" and r["kind"] == "ws_drop"]
    assert missing and len(dropped) == len(missing)
    first = missing[0]
    assert first >= 100  # what arrived before the attach is intact
    # from the first message the toxic judged on, every window_update was judged: the parser
    # started at a frame boundary and stayed in step
    assert missing == [
        m["seq"] for m in sent if m["seq"] >= first and m["command"] == "window_update"
    ]

    chaos.remove_toxic("ws", "ws_drop_downstream")
    base = len(ws_server.sent)
    ask(ws, 400, pad=300)
    assert until_end(ws) == ws_server.sent[base:]
    ws.close()


def test_websocket_toxic_effective_on_the_next_message_after_attach(chaos, ws_server):
    chaos.add_proxy("ws", ws_server.addr)
    ws = open_ws(chaos)
    ask(ws, 50, pad=5000)  # frames larger than a read: the skim ends mid-frame
    assert until_end(ws) == ws_server.sent
    chaos.add_toxic("ws", "ws_drop", attributes={"match": {"command": "window_update"}})
    base = len(ws_server.sent)
    ask(ws, 40, pad=5000)
    got = until_end(ws)
    assert got == [m for m in ws_server.sent[base:] if m["command"] != "window_update"]
    ws.close()


class BodyEcho:
    """Keep-alive HTTP/1.1: answers each request with the sha256 of its Content-Length body."""

    def __init__(self) -> None:
        self.paths: list[str] = []

    def __call__(self, conn: socket.socket) -> None:
        conn.settimeout(10)
        buf = b""
        while True:
            while b"\r\n\r\n" not in buf:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                buf += chunk
            head, _, buf = buf.partition(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            self.paths.append(lines[0].split(" ")[1])
            length = next(
                int(v)
                for k, _, v in (ln.partition(":") for ln in lines[1:])
                if k.lower() == "content-length"
            )
            while len(buf) < length:
                chunk = conn.recv(1 << 20)
                if not chunk:
                    return
                buf += chunk
            body, buf = buf[:length], buf[length:]
            digest = hashlib.sha256(body).hexdigest().encode()
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 64\r\n\r\n" + digest)


def post(s: socket.socket, path: str, body: bytes) -> bytes:
    head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n".encode()
    s.sendall(head + body)
    answer = b""
    end = time.monotonic() + 10
    while b"\r\n\r\n" not in answer and time.monotonic() < end:
        chunk = s.recv(4096)
        if not chunk:
            break
        answer += chunk
    head_part, _, rest = answer.partition(b"\r\n\r\n")
    length = next(
        int(ln.split(b":")[1])
        for ln in head_part.split(b"\r\n")
        if ln.lower().startswith(b"content-length")
    )
    return head_part + b"\r\n\r\n" + rest + recv_exactly(s, length - len(rest))


@needs_splice
def test_http_body_spliced_and_the_next_head_still_judged(chaos, make_server):
    handler = BodyEcho()
    srv = make_server(handler)
    chaos.add_proxy("web", srv.addr)
    s = connect(chaos, "web")
    body = pattern(4 << 20)
    answer = post(s, "/big", body)
    assert answer.endswith(hashlib.sha256(body).hexdigest().encode())
    assert streams(chaos, "web")["upstream"][1] > 3 << 20  # the body went through the kernel

    # a toxic on the live connection: the next request feels it; removed, bodies splice again
    chaos.add_toxic("web", "http_delay", stream="upstream", attributes={"delay": 300})
    t0 = time.perf_counter()
    answer = post(s, "/slow", pattern(200_000, 5))
    assert time.perf_counter() - t0 >= 0.3
    assert answer.endswith(hashlib.sha256(pattern(200_000, 5)).hexdigest().encode())
    chaos.remove_toxic("web", "http_delay_upstream")
    before = streams(chaos, "web")["upstream"][1]
    body = pattern(2 << 20, 9)
    assert post(s, "/big2", body).endswith(hashlib.sha256(body).hexdigest().encode())
    assert streams(chaos, "web")["upstream"][1] > before + (1 << 20)

    # the head after the spliced body is seen whole: an HTTP toxic can answer it
    chaos.add_toxic(
        "web", "http_fail", stream="upstream", attributes={"path": "/fail", "status": 503}
    )
    answer = post(s, "/fail", pattern(300_000, 3))
    assert answer.startswith(b"HTTP/1.1 503")
    assert handler.paths == ["/big", "/slow", "/big2"]  # the failed one never reached it
    s.close()


@needs_splice
def test_disable_while_spliced_closes_both_sockets(chaos, echo_server):
    chaos.add_proxy("tcp", echo_server.addr)
    s = connect(chaos, "tcp")
    data = pattern(1 << 20)
    assert exchange(s, data) == data
    assert streams(chaos, "tcp")["upstream"][0]
    chaos.update_proxy("tcp", enabled=False)
    s.settimeout(5)
    assert s.recv(10) == b""  # FIN reached the client: no dup held the socket open
    s.close()


@needs_splice
def test_reset_while_the_other_stream_is_spliced_sends_rst(chaos, echo_server):
    chaos.add_proxy("tcp", echo_server.addr)
    s = connect(chaos, "tcp")
    data = pattern(1 << 20)
    assert exchange(s, data) == data
    chaos.add_toxic("tcp", "reset_peer", attributes={"timeout": 0})
    s.settimeout(5)
    with pytest.raises(ConnectionResetError):
        for _ in range(100):  # bounded: the RST arrives within a few reads
            if not s.recv(65536):
                break
    s.close()


def test_splice_off_by_env_uses_the_userland_path(chaos, echo_server, monkeypatch):
    monkeypatch.setenv(splice.SPLICE_ENV, "0")
    chaos.add_proxy("tcp", echo_server.addr)
    s = connect(chaos, "tcp")
    data = pattern(256 << 10)
    assert exchange(s, data) == data
    assert streams(chaos, "tcp") == {"upstream": (False, 0), "downstream": (False, 0)}
    s.close()


def test_spliceable_only_where_lengths_alone_are_followed():
    seg = Segmenter(is_request=True)
    assert not seg.spliceable()  # a request head is read in userland
    seg.feed(b"POST /x HTTP/1.1\r\nContent-Length: 10\r\n\r\n", split_ws=False)
    assert seg.spliceable()  # a body of known length
    seg.feed(b"0123456789", split_ws=False)
    assert not seg.spliceable()  # the body ended: the next head
    seg.feed(b"GET /s HTTP/1.1\r\nUpgrade: websocket\r\n\r\n", split_ws=False)
    assert not seg.spliceable()  # WebSocket frames: skimmed on the transport path
    opaque = Segmenter(is_request=True)
    opaque.feed(b"\x00\x01 not http", split_ws=False)
    assert opaque.spliceable()
