"""The proxy on either loop: the stdlib loop (the default) and uvloop (VISDOM_CHAOS_LOOP=uvloop).

Both are run as `python -m visdom_chaos.chaos serve`, as the harness runs them, and each
must pass bytes and apply backpressure: uvloop starts reading a connection whatever
connection_made asked (side.py pauses it again), which this test caught.
"""

from __future__ import annotations

import socket
import time

import pytest
from chaoshelp import recv_exactly, serve_process

from visdom_chaos.chaos import ChaosClient
from visdom_chaos.chaos.loop import LOOP_ENV, loop_name

pytest_plugins = ["chaoshelp"]


@pytest.mark.parametrize("loop", ["uvloop", "asyncio"])
def test_each_loop_passes_bytes_and_applies_backpressure(tmp_path, loop, make_server):
    if loop == "uvloop":
        pytest.importorskip("uvloop")
    total = 32 << 20
    sent = {"n": 0}

    def firehose(conn: socket.socket) -> None:
        conn.settimeout(10)
        conn.recv(1)
        block = b"f" * 65536
        while sent["n"] < total:
            sent["n"] += conn.send(block)

    srv = make_server(firehose)
    proc, info = serve_process(tmp_path, env={LOOP_ENV: loop})
    try:
        assert info["loop"] == loop
        client = ChaosClient(info["api"])
        listen = client.add_proxy("fh", srv.addr)["listen"]
        client.add_toxic("fh", "stall")
        host, port = listen.rsplit(":", 1)
        s = socket.create_connection((host, int(port)), timeout=10)
        s.sendall(b"g")
        time.sleep(0.8)
        assert sent["n"] < total  # stalled: the proxy stopped reading, the sender is blocked
        client.remove_toxic("fh", "stall_downstream")
        assert len(recv_exactly(s, total, deadline_s=30)) == total
        s.close()
    finally:
        proc.terminate()
        proc.wait(10)


def test_uvloop_is_asked_for_by_the_environment(monkeypatch):
    monkeypatch.delenv(LOOP_ENV, raising=False)
    assert loop_name() == "asyncio"
    monkeypatch.setenv(LOOP_ENV, "uvloop")
    assert loop_name() == ("uvloop" if _has_uvloop() else "asyncio")


def _has_uvloop() -> bool:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return False
    return True
