"""Fuzzing the chaos proxy: it must outlive whatever crosses it, in both directions.

A real `python -m visdom_chaos.chaos serve` process with WebSocket-aware toxics on both streams sits in
front of a real TCP upstream that speaks just enough WebSocket: `/healthy` echoes frames,
`/fuzz` swallows what the client sends, `/down/<id>` answers the handshake with bytes the
test chose (then FIN or RST), `/raw/<id>` answers with those bytes instead of a handshake. Hypothesis feeds random bytes, malformed HTTP, invalid and
oversized frames, bad masks, broken server responses and cuts mid-frame
(VC_FUZZ_EXAMPLES=500 for a deeper run). After every example a healthy WebSocket
opened at the start still gets its echo, the process is alive and its API answers; at the
end its RSS and open file descriptors are back near where they started.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import psutil
import pytest
import requests
import websocket
from chaoshelp import ROOT, ThreadedServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from visdom_chaos.targets import stop_pid

WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
IO_TIMEOUT_S = 2.0
RSS_BOUND_MIB = 64  # growth allowed over the whole fuzz run
FD_SLACK = 8


# -- a raw upstream ----------------------------------------------------------------------------


def read_head(conn: socket.socket, limit: int = 256 << 10) -> bytes | None:
    buf = b""
    while b"\r\n\r\n" not in buf:
        if len(buf) > limit:
            return None
        chunk = conn.recv(65536)
        if not chunk:
            return None
        buf += chunk
    return buf


def accept_key(head: bytes) -> bytes | None:
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"sec-websocket-key":
            return base64.b64encode(hashlib.sha1(value.strip() + WS_GUID).digest())
    return None


def recv_frame(conn: socket.socket) -> tuple[int, bytes] | None:
    """One client frame (masked), unmasked payload; None at EOF."""

    def exact(n: int) -> bytes:
        buf = b""
        while len(buf) < n:
            chunk = conn.recv(n - len(buf))
            if not chunk:
                raise EOFError
            buf += chunk
        return buf

    try:
        b0, b1 = exact(2)
        n = b1 & 0x7F
        if n == 126:
            (n,) = struct.unpack("!H", exact(2))
        elif n == 127:
            (n,) = struct.unpack("!Q", exact(8))
        mask = exact(4) if b1 & 0x80 else b"\0\0\0\0"
        data = exact(n)
    except (EOFError, OSError):
        return None
    return b0 & 0x0F, bytes(c ^ mask[i % 4] for i, c in enumerate(data))


def server_frame(opcode: int, payload: bytes) -> bytes:
    n = len(payload)
    head = bytes([0x80 | opcode])
    if n < 126:
        head += bytes([n])
    elif n < 65536:
        head += bytes([126]) + struct.pack("!H", n)
    else:
        head += bytes([127]) + struct.pack("!Q", n)
    return head + payload


DOWN: dict[str, tuple[bytes, str]] = {}  # /down/<id> -> (bytes to send after 101, "fin" | "rst")


def upstream(conn: socket.socket) -> None:
    conn.settimeout(30)
    head = read_head(conn)
    key = accept_key(head) if head else None
    if key is None:
        try:
            conn.sendall(
                b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            )
        finally:
            conn.close()
        return
    path = head.split(b" ", 2)[1].decode("latin-1") if head.count(b" ") >= 2 else "/"
    if path.startswith("/raw/"):  # a broken server: whatever bytes the test chose instead of a 101
        data, how = DOWN.pop(path[len("/raw/") :], (b"", "fin"))
        try:
            conn.sendall(data)
        finally:
            close(conn, how)
        return
    conn.sendall(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + key + b"\r\n\r\n"
    )
    if path.startswith("/down/"):
        data, how = DOWN.pop(path[len("/down/") :], (b"", "fin"))
        try:
            conn.sendall(data)
        finally:
            close(conn, how)
    elif path == "/healthy":
        while (frame := recv_frame(conn)) is not None:
            opcode, payload = frame
            if opcode in (1, 2):
                conn.sendall(server_frame(opcode, payload))
            elif opcode == 8:
                conn.sendall(server_frame(8, payload[:2]))
                break
        conn.close()
    else:  # /fuzz: swallow until the client goes
        while conn.recv(65536):
            pass
        conn.close()


def close(sock: socket.socket, how: str) -> None:
    """FIN, or RST (SO_LINGER 0)."""
    try:
        if how == "rst":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
    except OSError:
        pass


# -- the proxy process -------------------------------------------------------------------------


@dataclass
class Proxy:
    proc: subprocess.Popen
    api: str
    listen: tuple[str, int]

    @property
    def ps(self) -> psutil.Process:
        return psutil.Process(self.proc.pid)

    def rss_mib(self) -> float:
        return self.ps.memory_info().rss / 2**20

    def fds(self) -> int:
        return self.ps.num_fds()


TOXICS = [
    ("ws_drop", "downstream", {"probability": 0.3}),
    ("ws_duplicate", "upstream", {"probability": 0.3, "copies": 1}),
    ("ws_delay", "downstream", {"probability": 0.3, "delay": 20}),
    ("ws_reorder", "upstream", {"probability": 0.2, "after": 1, "max_hold": 100}),
    (
        "ws_drop",
        "upstream",
        {"match": {"command": "close"}},
    ),  # exercises the JSON path on every text frame
]


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    tmp = tmp_path_factory.mktemp("fuzz")
    server = ThreadedServer(upstream)
    ready = tmp / "ready.json"
    cfg = tmp / "proxies.json"
    cfg.write_text(json.dumps([{"name": "fz", "listen": "127.0.0.1:0", "upstream": server.addr}]))
    with open(tmp / "proxy.log", "wb") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "visdom_chaos.chaos",
                "serve",
                "--api",
                "127.0.0.1:0",
                "--config",
                str(cfg),
                "--ready-file",
                str(ready),
                "--journal",
                str(tmp / "faults.jsonl"),
                "--quiet",
            ],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        deadline = time.monotonic() + 20
        while not ready.exists():
            assert proc.poll() is None and time.monotonic() < deadline, (
                tmp / "proxy.log"
            ).read_text()
            time.sleep(0.05)
        info = json.loads(ready.read_text())
        host, port = info["proxies"]["fz"].rsplit(":", 1)
        p = Proxy(proc, info["api"], (host, int(port)))
        for i, (kind, stream, attrs) in enumerate(TOXICS):
            r = requests.post(
                f"http://{p.api}/proxies/fz/toxics",
                timeout=5,
                json={"name": f"t{i}", "type": kind, "stream": stream, "attributes": attrs},
            )
            assert r.status_code == 200, r.text
        yield p
    finally:
        stop_pid(proc.pid, proc)
        server.close()
        log_text = (tmp / "proxy.log").read_text(errors="replace")
        assert "Traceback" not in log_text, log_text[-3000:]


class Healthy:
    """A WebSocket kept open across the whole fuzz run: does it still get its echo?"""

    def __init__(self, proxy: Proxy) -> None:
        host, port = proxy.listen
        self.ws = websocket.create_connection(f"ws://{host}:{port}/healthy", timeout=5)
        self.ws.settimeout(0.2)
        self.n = 0

    def echo(self, attempts: int = 12) -> bool:
        # ws_drop / ws_reorder act on this connection too: a lost echo is retried
        for _ in range(attempts):
            self.n += 1
            token = f"healthy-{self.n}"
            self.ws.send(json.dumps({"healthy": token}))
            end = time.monotonic() + 1.0
            while time.monotonic() < end:
                try:
                    if token in self.ws.recv():
                        return True
                except websocket.WebSocketTimeoutException:
                    continue
        return False


@pytest.fixture(scope="module")
def healthy(proxy: Proxy) -> Iterator[Healthy]:
    h = Healthy(proxy)
    assert h.echo()
    yield h
    h.ws.close(timeout=1)


@pytest.fixture(scope="module")
def baseline(proxy: Proxy, healthy: Healthy) -> dict[str, float]:
    return {"rss": proxy.rss_mib(), "fds": proxy.fds()}


def assert_serving(proxy: Proxy, healthy: Healthy) -> None:
    assert proxy.proc.poll() is None, f"the proxy exited with {proxy.proc.returncode}"
    assert requests.get(f"http://{proxy.api}/version", timeout=5).status_code == 200
    assert healthy.echo(), "the healthy WebSocket stopped getting its echo"


# -- inputs ------------------------------------------------------------------------------------


def frame(
    fin: bool, rsv: int, opcode: int, payload: bytes, mask: bytes | None, claim: int | None
) -> bytes:
    """A frame with any header: reserved opcodes and bits, a length claim that lies, masked or not."""
    n = len(payload) if claim is None else claim
    b0 = (0x80 if fin else 0) | (rsv & 7) << 4 | (opcode & 0x0F)
    m = 0x80 if mask is not None else 0
    if n < 126:
        head = bytes([b0, m | n])
    elif n < 65536:
        head = bytes([b0, m | 126]) + struct.pack("!H", n)
    else:
        head = bytes([b0, m | 127]) + struct.pack("!Q", n & (2**64 - 1))
    if mask is not None:
        payload = masked(payload, mask)
        head += mask
    return head + payload


def masked(data: bytes, mask: bytes) -> bytes:
    """RFC 6455 masking, fast enough for MiB-sized payloads (one big-int XOR)."""
    n = len(data)
    if not n:
        return b""
    key = (mask * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "big") ^ int.from_bytes(key, "big")).to_bytes(n, "big")


frames_st = st.lists(
    st.builds(
        frame,
        fin=st.booleans(),
        rsv=st.integers(0, 7) | st.just(0),
        opcode=st.sampled_from([0, 1, 2, 8, 9, 10]) | st.integers(0, 15),
        payload=st.binary(max_size=300) | st.just(b'{"command": "close", "win": "w"}'),
        mask=st.none() | st.binary(min_size=4, max_size=4),
        claim=st.none()
        | st.sampled_from([125, 126, 127, 65535, 65536, 16 << 20, 2**40, 2**63 - 1, 2**63]),
    ),
    min_size=1,
    max_size=8,
).map(b"".join)

http_head_st = st.builds(
    lambda line, headers, body: line + b"\r\n" + b"\r\n".join(headers) + b"\r\n\r\n" + body,
    line=st.sampled_from(
        [
            b"GET /fuzz HTTP/1.1",
            b"POST /update HTTP/1.1",
            b"GET / HTTP/9.9",
            b"\x00\xff BAD",
            b"GET " + b"/a" * 5000 + b" HTTP/1.1",
        ]
    )
    | st.binary(max_size=80),
    headers=st.lists(
        st.sampled_from(
            [
                b"Host: x",
                b"Upgrade: websocket",
                b"Connection: Upgrade",
                b"Content-Length: -1",
                b"Content-Length: 99999999999999999999",
                b"Transfer-Encoding: chunked",
                b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
                b"no colon here",
                b"X: " + b"y" * 70000,
            ]
        )
        | st.binary(max_size=60),
        max_size=8,
    ),
    body=st.binary(max_size=200) | st.just(b"zz\r\nnot-a-chunk\r\n"),
)

http_response_st = st.builds(
    lambda line, headers, body: line + b"\r\n" + b"\r\n".join(headers) + b"\r\n\r\n" + body,
    line=st.sampled_from(
        [
            b"HTTP/1.1 200 OK",
            b"HTTP/1.1 101 Switching Protocols",
            b"HTTP/1.0 999 ?",
            b"HTTP/1.1 204 No Content",
            b"\x16\x03\x01 TLS?",
        ]
    )
    | st.binary(max_size=60),
    headers=st.lists(
        st.sampled_from(
            [
                b"Content-Length: 5",
                b"Content-Length: 999999",
                b"Content-Length: -3",
                b"Transfer-Encoding: chunked",
                b"Upgrade: websocket",
                b"Connection: Upgrade",
                b"Connection: keep-alive",
                b"X: " + b"y" * 70000,
            ]
        )
        | st.binary(max_size=60),
        max_size=6,
    ),
    body=st.binary(max_size=300) | st.just(b"5\r\nhello\r\nZZ\r\n"),
)

cut_st = st.sampled_from(["fin", "rst", "half"])
case_st = st.one_of(
    st.tuples(st.just("raw"), st.binary(min_size=1, max_size=2000), cut_st, st.floats(0, 1)),
    st.tuples(st.just("http"), http_head_st, cut_st, st.floats(0, 1)),
    st.tuples(st.just("up"), frames_st, cut_st, st.floats(0, 1)),
    st.tuples(st.just("down"), frames_st, cut_st, st.floats(0, 1)),
    st.tuples(
        st.just("broken-server"),
        http_response_st | st.binary(min_size=1, max_size=500),
        cut_st,
        st.floats(0, 1),
    ),
)


def handshake(path: str) -> bytes:
    key = base64.b64encode(os.urandom(16))
    return (
        (
            f"GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: "
        ).encode()
        + key
        + b"\r\n\r\n"
    )


def drain(sock: socket.socket, seconds: float) -> int:
    got, end = 0, time.monotonic() + seconds
    sock.settimeout(0.1)
    while time.monotonic() < end:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            continue
        except OSError:
            break
        if not chunk:
            break
        got += len(chunk)
    return got


def play(proxy: Proxy, kind: str, data: bytes, cut: str, where: float) -> None:
    """One hostile connection; cut after `where` of the bytes (1.0 = all), by FIN, RST or half-close."""
    s = socket.create_connection(proxy.listen, timeout=IO_TIMEOUT_S)
    try:
        if kind == "up":
            s.sendall(handshake("/fuzz"))
            drain(s, 0.05)
        elif kind in ("down", "broken-server"):
            tag = os.urandom(6).hex()
            DOWN[tag] = (data[: max(1, int(len(data) * where))], "rst" if cut == "rst" else "fin")
            s.sendall(handshake(f"/{'down' if kind == 'down' else 'raw'}/{tag}"))
            drain(s, 0.3)
            return
        s.sendall(data[: max(1, int(len(data) * where))])
        if cut == "half":
            s.shutdown(socket.SHUT_WR)
            drain(s, 0.2)
    except OSError:
        pass  # the proxy may close on us: that is allowed, crashing is not
    finally:
        close(s, "rst" if cut == "rst" else "fin")


@pytest.mark.slow
@settings(
    max_examples=int(os.environ.get("VC_FUZZ_EXAMPLES", "60")),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(case=case_st)
def test_hostile_connections_never_break_the_proxy(
    proxy: Proxy, healthy: Healthy, baseline: dict, case
) -> None:
    kind, data, cut, where = case
    play(proxy, kind, data, cut, where)
    assert_serving(proxy, healthy)


# -- targeted cases ----------------------------------------------------------------------------


def test_oversized_frames_both_directions(proxy: Proxy, healthy: Healthy, baseline: dict) -> None:
    """A valid 12 MiB frame each way and a 40 MiB one (over the proxy's 16 MiB frame limit)."""
    for size in (12 << 20, 40 << 20):
        payload = b"A" * size
        s = socket.create_connection(proxy.listen, timeout=10)
        s.sendall(handshake("/fuzz"))
        drain(s, 0.1)
        try:
            s.sendall(frame(True, 0, 2, payload, b"\x01\x02\x03\x04", None))
        except OSError:
            pass
        close(s, "fin")
        tag = os.urandom(6).hex()
        DOWN[tag] = (server_frame(2, payload), "fin")
        s = socket.create_connection(proxy.listen, timeout=10)
        s.sendall(handshake(f"/down/{tag}"))
        got = drain(s, 5)
        close(s, "fin")
        assert got > 0
        assert_serving(proxy, healthy)
    assert proxy.rss_mib() - baseline["rss"] < RSS_BOUND_MIB, "memory held after oversized frames"


def test_many_abandoned_connections_leave_no_descriptors(
    proxy: Proxy, healthy: Healthy, baseline: dict
) -> None:
    socks = []
    for i in range(150):
        s = socket.create_connection(proxy.listen, timeout=5)
        s.sendall(handshake("/fuzz")[: 20 + i % 40])  # a head cut short, never finished
        socks.append(s)
    for i, s in enumerate(socks):
        close(s, "rst" if i % 2 else "fin")
    assert_serving(proxy, healthy)
    deadline = time.monotonic() + 10
    while proxy.fds() > baseline["fds"] + FD_SLACK and time.monotonic() < deadline:
        time.sleep(0.2)
    assert proxy.fds() <= baseline["fds"] + FD_SLACK, f"fds {baseline['fds']} -> {proxy.fds()}"


def test_memory_and_descriptors_back_to_baseline(
    proxy: Proxy, healthy: Healthy, baseline: dict
) -> None:
    """After the fuzz run and the oversized frames, RSS and fds are near where they began."""
    assert_serving(proxy, healthy)
    deadline = time.monotonic() + 10
    while proxy.fds() > baseline["fds"] + FD_SLACK and time.monotonic() < deadline:
        time.sleep(0.2)
    assert proxy.fds() <= baseline["fds"] + FD_SLACK
    grew = proxy.rss_mib() - baseline["rss"]
    assert grew < RSS_BOUND_MIB, f"proxy RSS {grew:.0f} MiB above its baseline after the fuzz run"


def test_endless_fragmented_message_memory_is_bounded(
    proxy: Proxy, healthy: Healthy, baseline: dict
) -> None:
    """A text message that never ends: 1 MiB continuation frames without FIN, 64 MiB in all."""
    s = socket.create_connection(proxy.listen, timeout=10)
    s.sendall(handshake("/fuzz"))
    drain(s, 0.1)
    chunk = b"x" * (1 << 20)
    # from here, not from the module's baseline: what earlier tests left behind (allocator
    # residue after 40 MiB frames) is test_memory_and_descriptors_back_to_baseline's to judge
    start = peak = proxy.rss_mib()
    stop = threading.Event()

    def watch() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, proxy.rss_mib())
            time.sleep(0.05)

    t = threading.Thread(target=watch, daemon=True)
    t.start()
    try:
        s.sendall(frame(False, 0, 1, chunk, b"abcd", None))
        more = frame(False, 0, 0, chunk, b"abcd", None)
        for _ in range(63):
            s.sendall(more)
    except OSError:
        pass  # the proxy may refuse the stream: fine
    finally:
        time.sleep(0.5)
        stop.set()
        t.join(2)
        close(s, "rst")
    assert_serving(proxy, healthy)
    grew = peak - start
    assert grew < 32, (
        f"proxy RSS peaked {grew:.0f} MiB above its start holding an unfinished message"
    )
