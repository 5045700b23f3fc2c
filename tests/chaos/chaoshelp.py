"""Real servers on loopback and bounded helpers for the chaos proxy tests.

A module name of its own (not `conftest`) so it cannot clash with other test folders;
test modules load it with `pytest_plugins = ["chaoshelp"]`. PYTEST_DONT_REWRITE
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import WSMsgType, web

from visdom_chaos.chaos import ChaosServer
from visdom_chaos.targets import stop_pid

ROOT = str(Path(__file__).resolve().parents[2])  # the checkout: cwd of the proxy processes


class ThreadedServer:
    """A TCP server on 127.0.0.1:0 whose per-connection handler runs in a thread."""

    def __init__(self, handler: Callable[[socket.socket], None]) -> None:
        self.handler = handler
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.conns: list[socket.socket] = []
        self.peers: list[int] = []  # client ports as the server sees them
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def addr(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, peer = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.conns.append(conn)
            self.peers.append(peer[1])
            threading.Thread(target=self._run, args=(conn,), daemon=True).start()

    def _run(self, conn: socket.socket) -> None:
        try:
            self.handler(conn)
        except OSError:
            pass

    def close(self) -> None:
        self._stop.set()
        self.sock.close()
        for c in self.conns:
            try:
                c.close()
            except OSError:
                pass
        self._thread.join(2)


def echo(conn: socket.socket) -> None:
    conn.settimeout(10)
    while data := conn.recv(65536):
        conn.sendall(data)
    conn.close()


@pytest.fixture
def echo_server() -> Iterator[ThreadedServer]:
    srv = ThreadedServer(echo)
    yield srv
    srv.close()


@pytest.fixture
def make_server() -> Iterator[Callable[[Callable[[socket.socket], None]], ThreadedServer]]:
    made: list[ThreadedServer] = []

    def make(handler: Callable[[socket.socket], None]) -> ThreadedServer:
        srv = ThreadedServer(handler)
        made.append(srv)
        return srv

    yield make
    for srv in made:
        srv.close()


@pytest.fixture
def chaos(tmp_path: Path) -> Iterator[ChaosServer]:
    server = ChaosServer("127.0.0.1:0", journal=tmp_path / "faults.jsonl").start()
    yield server
    server.stop()


def journal(server: ChaosServer) -> list[dict[str, Any]]:
    assert server.journal_path is not None
    return [
        json.loads(line) for line in server.journal_path.read_text().splitlines() if line.strip()
    ]


def connect(server: ChaosServer, proxy: str, timeout: float = 5.0) -> socket.socket:
    s = socket.create_connection(server.listen_of(proxy), timeout=timeout)
    return s


def recv_exactly(s: socket.socket, n: int, deadline_s: float = 10.0) -> bytes:
    buf = bytearray()
    end = time.monotonic() + deadline_s
    while len(buf) < n and time.monotonic() < end:
        chunk = s.recv(n - len(buf))
        if not chunk:
            break
        buf += chunk
    return bytes(buf)


def recv_all(s: socket.socket, deadline_s: float = 10.0) -> bytes:
    """Everything until EOF (bounded)."""
    buf = bytearray()
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
    return bytes(buf)


def wait_for(cond: Callable[[], Any], timeout: float = 5.0, step: float = 0.02) -> Any:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = cond()
        if value:
            return value
        time.sleep(step)
    return cond()


class WsServer:
    """A real aiohttp WebSocket server in its own thread.

    A client sends `{"send": N}`: the server answers with N JSON messages whose
    `command` alternates window / window_update (seq = 0..N-1). Every other text
    message is recorded in `received` (and echoed back).
    """

    def __init__(self) -> None:
        self.received: list[str] = []
        self.sent: list[dict[str, Any]] = []
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.port = 0
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        assert self.ready.wait(10), "WebSocket server did not start"

    @property
    def addr(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        app = web.Application()
        app.router.add_get("/socket", self._ws)
        self.runner = web.AppRunner(app, access_log=None)
        self.loop.run_until_complete(self.runner.setup())
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        self.loop.run_until_complete(site.start())
        self.port = self.runner.addresses[0][1]
        self.ready.set()
        self.loop.run_forever()
        self.loop.run_until_complete(self.runner.cleanup())
        self.loop.close()

    async def _ws(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            doc = json.loads(msg.data) if msg.data.startswith("{") else None
            if isinstance(doc, dict) and "send" in doc:
                for i in range(int(doc["send"])):
                    out = {
                        "command": "window" if i % 2 == 0 else "window_update",
                        "seq": i,
                        "pad": "x" * int(doc.get("pad", 10)),
                    }
                    self.sent.append(out)
                    await ws.send_str(json.dumps(out))
                await ws.send_str(json.dumps({"command": "end"}))
            else:
                self.received.append(msg.data)
                await ws.send_str(msg.data)
        return ws

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)


@pytest.fixture
def ws_server() -> Iterator[WsServer]:
    srv = WsServer()
    yield srv
    srv.close()


def serve_process(
    tmp_path: Path, *extra: str, env: dict[str, str] | None = None, name: str = "ready"
) -> tuple[subprocess.Popen[bytes], dict[str, Any]]:
    """`python -m visdom_chaos.chaos serve` on free ports, as the harness starts it: (process, ready file)."""
    ready = tmp_path / f"{name}.json"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "visdom_chaos.chaos",
            "serve",
            "--api",
            "127.0.0.1:0",
            "--ready-file",
            str(ready),
            "--quiet",
            *extra,
        ],  # fmt: skip
        env={**os.environ, "PYTHONPATH": ROOT, **(env or {})},
        cwd=ROOT,
        stderr=subprocess.PIPE,
    )
    try:
        assert wait_for(ready.exists, timeout=15), (
            proc.stderr.read() if proc.poll() is not None and proc.stderr else "no ready file"
        )
    except BaseException:
        stop_pid(proc.pid, proc, timeout=5)
        raise
    return proc, json.loads(ready.read_text())
