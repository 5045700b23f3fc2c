"""Every classic (Toxiproxy-parity) toxic through real loopback sockets."""

from __future__ import annotations

import os
import socket
import time

import psutil
import pytest
from chaoshelp import connect, journal, recv_all, recv_exactly, wait_for

from visdom_chaos.chaos import ChaosError

pytest_plugins = ["chaoshelp"]  # fixtures: real servers on loopback, a ChaosServer per test


def test_passthrough_and_journal_attributes_ports(chaos, echo_server):
    chaos.add_proxy("echo", echo_server.addr)
    s = connect(chaos, "echo")
    s.sendall(b"ping")
    assert recv_exactly(s, 4) == b"ping"
    conns = chaos.connections("echo")
    assert len(conns) == 1
    # the proxy's upstream socket is what the server sees as its peer
    assert conns[0]["upstream_port"] in echo_server.peers
    port = s.getsockname()[1]
    assert conns[0]["downstream_port"] == port
    s.close()
    wait_for(lambda: not chaos.connections("echo"))
    records = journal(chaos)
    assert records[0]["type"] == "header" and records[0]["role"] == "faults"
    opens = [r for r in records if r["type"] == "proxy_conn" and r["event"] == "open"]
    closes = [r for r in records if r["type"] == "proxy_conn" and r["event"] == "close"]
    assert [r["downstream_port"] for r in opens] == [port]
    assert closes and closes[0]["conn"] == opens[0]["conn"] and closes[0]["client"] == "proxy"


def test_latency_adds_at_least_the_configured_delay(chaos, echo_server):
    chaos.add_proxy("echo", echo_server.addr)
    s = connect(chaos, "echo")
    t0 = time.perf_counter()
    s.sendall(b"a")
    recv_exactly(s, 1)
    base = time.perf_counter() - t0
    chaos.add_toxic("echo", "latency", attributes={"latency": 120, "jitter": 0})
    chaos.add_toxic("echo", "latency", stream="upstream", attributes={"latency": 80})
    t0 = time.perf_counter()
    s.sendall(b"b")
    assert recv_exactly(s, 1) == b"b"
    rtt = time.perf_counter() - t0
    assert rtt >= 0.200, f"round trip {rtt * 1000:.1f} ms < configured 200 ms"
    assert rtt > base
    s.close()


def test_bandwidth_within_20_percent(chaos, make_server):
    size = 450_000
    rate_kbs = (
        150  # -> about 3 s: long enough that a scheduling hiccup on a busy machine averages out
    )

    def source(conn: socket.socket) -> None:
        conn.recv(1)
        conn.sendall(os.urandom(size))
        conn.close()

    srv = make_server(source)
    chaos.add_proxy("bw", srv.addr)
    chaos.add_toxic("bw", "bandwidth", attributes={"rate": rate_kbs})
    s = connect(chaos, "bw")
    s.sendall(b"g")
    t0 = time.perf_counter()
    first = s.recv(65536)
    t_first = time.perf_counter()
    rest = recv_all(s)
    elapsed = time.perf_counter() - t_first
    assert len(first) + len(rest) == size
    measured = len(rest) / elapsed / 1000  # KB/s after the first write
    assert abs(measured - rate_kbs) <= 0.2 * rate_kbs, f"{measured:.1f} KB/s vs {rate_kbs} KB/s"
    assert t_first - t0 < 0.5
    s.close()


def test_reset_peer_gives_econnreset(chaos, echo_server):
    chaos.add_proxy("echo", echo_server.addr)
    chaos.add_toxic("echo", "reset_peer", attributes={"timeout": 100})
    s = connect(chaos, "echo")
    with pytest.raises(ConnectionResetError):
        s.sendall(b"x")
        s.recv(10)  # the echo may or may not arrive first; the reset comes next
        s.recv(10)
    s.close()
    assert any(
        r.get("kind") == "reset_peer" and r["detail"]["event"] == "reset" and r["conn"] == 1
        for r in journal(chaos)
    )


def test_timeout_zero_holds_the_connection_without_data(chaos, echo_server):
    chaos.add_proxy("echo", echo_server.addr)
    chaos.add_toxic("echo", "timeout", attributes={"timeout": 0})
    s = connect(chaos, "echo", timeout=0.6)
    s.sendall(b"lost")
    with pytest.raises(TimeoutError):
        s.recv(10)  # not EOF (b""), not data: nothing at all
    port = s.getsockname()[1]
    mine = [c for c in psutil.Process().net_connections("tcp") if c.laddr and c.laddr.port == port]
    assert mine and mine[0].status == psutil.CONN_ESTABLISHED
    # removing the toxic lets later data through again
    chaos.remove_toxic("echo", "timeout_downstream")
    s.settimeout(5)
    s.sendall(b"back")
    assert recv_exactly(s, 4) == b"back"
    s.close()


def test_timeout_closes_after_n_ms(chaos, echo_server):
    chaos.add_proxy("echo", echo_server.addr)
    chaos.add_toxic("echo", "timeout", attributes={"timeout": 150})
    s = connect(chaos, "echo")
    t0 = time.perf_counter()
    s.sendall(b"x")
    assert recv_all(s, 5) == b""
    assert time.perf_counter() - t0 >= 0.14
    s.close()


def test_limit_data_closes_after_exactly_n_bytes(chaos, make_server):
    limit = 12_345

    def source(conn: socket.socket) -> None:
        conn.recv(1)
        try:
            conn.sendall(b"z" * 200_000)
        except OSError:
            pass

    srv = make_server(source)
    chaos.add_proxy("lim", srv.addr)
    chaos.add_toxic("lim", "limit_data", attributes={"bytes": limit})
    s = connect(chaos, "lim")
    s.sendall(b"g")
    assert len(recv_all(s)) == limit
    s.close()


def test_slicer_splits_but_keeps_bytes(chaos, echo_server):
    chaos.add_proxy("echo", echo_server.addr)
    chaos.add_toxic(
        "echo", "slicer", attributes={"average_size": 100, "size_variation": 20, "delay": 3000}
    )
    s = connect(chaos, "echo")
    payload = os.urandom(3000)
    s.sendall(payload)
    got, reads = bytearray(), 0
    while len(got) < len(payload):
        chunk = s.recv(65536)
        assert chunk
        got += chunk
        reads += 1
    assert bytes(got) == payload
    assert reads >= 5, f"{reads} reads: not sliced"
    s.close()


def test_slow_close_delays_the_close(chaos, make_server):
    def send_and_close(conn: socket.socket) -> None:
        conn.recv(1)
        conn.sendall(b"bye")
        conn.close()

    srv = make_server(send_and_close)
    chaos.add_proxy("sc", srv.addr)
    chaos.add_toxic("sc", "slow_close", attributes={"delay": 300})
    s = connect(chaos, "sc")
    s.sendall(b"g")
    assert recv_exactly(s, 3) == b"bye"
    t0 = time.perf_counter()
    assert s.recv(10) == b""
    assert time.perf_counter() - t0 >= 0.25
    s.close()


def test_down_resets_and_refuses_then_recovers(chaos, echo_server):
    chaos.add_proxy("echo", echo_server.addr)
    old = connect(chaos, "echo")
    chaos.add_toxic("echo", "down")
    with pytest.raises((ConnectionResetError, BrokenPipeError)):
        old.sendall(b"x")
        old.recv(1)
        old.recv(1)
    with pytest.raises(ConnectionResetError):  # at connect() or at the first read: RST either way
        new = connect(chaos, "echo")
        new.recv(1)
    chaos.remove_toxic("echo", "down_downstream")
    ok = connect(chaos, "echo")
    ok.sendall(b"up")
    assert recv_exactly(ok, 2) == b"up"
    for s in (old, ok):
        s.close()


def test_disabled_proxy_refuses_and_keeps_its_port(chaos, echo_server):
    chaos.add_proxy("echo", echo_server.addr)
    addr = chaos.listen_of("echo")
    chaos.update_proxy("echo", enabled=False)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(addr, timeout=2)
    chaos.update_proxy("echo", enabled=True)
    assert chaos.listen_of("echo") == addr
    s = connect(chaos, "echo")
    s.sendall(b"k")
    assert recv_exactly(s, 1) == b"k"
    s.close()


def test_toxicity_zero_never_applies(chaos, echo_server):
    chaos.add_proxy("echo", echo_server.addr)
    chaos.add_toxic("echo", "timeout", toxicity=0.0, attributes={"timeout": 0})
    s = connect(chaos, "echo")
    s.sendall(b"ok")
    assert recv_exactly(s, 2) == b"ok"
    s.close()


def test_stall_applies_backpressure_with_bounded_memory(chaos, make_server):
    total = 64 << 20
    progress = {"sent": 0}

    def firehose(conn: socket.socket) -> None:
        conn.settimeout(10)
        conn.recv(1)
        block = b"f" * 65536
        while progress["sent"] < total:
            progress["sent"] += conn.send(block)

    srv = make_server(firehose)
    chaos.add_proxy("fh", srv.addr)
    chaos.add_toxic("fh", "stall")
    s = connect(chaos, "fh")
    s.sendall(b"g")
    time.sleep(0.8)
    held = chaos.connections("fh")[0]["bytes"]["downstream"]["in"]
    assert progress["sent"] < total  # the server is blocked: nobody reads
    assert held <= 2 << 20, f"proxy read {held} bytes while stalled"
    chaos.remove_toxic("fh", "stall_downstream")
    got = 0
    end = time.monotonic() + 20
    while got < total and time.monotonic() < end:
        got += len(s.recv(1 << 20))
    assert got == total
    s.close()


def test_half_open_keeps_both_sockets_established_with_no_traffic(chaos, make_server):
    seen: list[bytes] = []

    def recorder(conn: socket.socket) -> None:
        conn.settimeout(10)
        while data := conn.recv(65536):
            seen.append(data)
        seen.append(b"<EOF>")

    srv = make_server(recorder)
    chaos.add_proxy("ho", srv.addr)
    s = connect(chaos, "ho", timeout=0.5)
    s.sendall(b"before")
    assert wait_for(lambda: seen == [b"before"])
    chaos.add_toxic("ho", "half_open")
    s.sendall(b"during")
    srv.conns[0].sendall(b"to-client")
    time.sleep(0.5)
    with pytest.raises(TimeoutError):
        s.recv(10)
    assert seen == [b"before"]
    conn = chaos.connections("ho")[0]
    ours = {c.laddr.port: c.status for c in psutil.Process().net_connections("tcp") if c.laddr}
    for port in (s.getsockname()[1], conn["upstream_port"], srv.peers[0]):
        assert ours.get(port) == psutil.CONN_ESTABLISHED, f"port {port}: {ours.get(port)}"
    # the client vanishes: the server must not hear about it while half-open (a ghost)
    s.close()
    time.sleep(0.3)
    assert seen == [b"before"]
    chaos.remove_toxic("ho", "half_open_downstream")
    assert wait_for(lambda: seen[-1:] == [b"<EOF>"])
    assert seen == [b"before", b"during", b"<EOF>"]


def test_non_loopback_upstream_is_refused(chaos):
    with pytest.raises(ChaosError, match="not a loopback address"):
        chaos.add_proxy("far", "192.0.2.1:80")


def test_bad_toxic_input_names_the_field(chaos, echo_server):
    chaos.add_proxy("echo", echo_server.addr)
    with pytest.raises(ChaosError, match="attribute 'latency'"):
        chaos.add_toxic("echo", "latency", attributes={"latency": -5})
    with pytest.raises(ChaosError, match="unknown type"):
        chaos.add_toxic("echo", "earthquake")
    with pytest.raises(ChaosError, match="unknown attribute 'rate'"):
        chaos.add_toxic("echo", "latency", attributes={"rate": 1})


def test_slow_toxic_backpressures_a_fast_sender_with_bounded_memory(chaos, make_server):
    progress = {"sent": 0}

    def firehose(conn: socket.socket) -> None:
        conn.settimeout(5)
        conn.recv(1)
        block = b"f" * 65536
        try:
            while progress["sent"] < 256 << 20:
                progress["sent"] += conn.send(block)
        except OSError:
            pass

    srv = make_server(firehose)
    chaos.add_proxy("fh", srv.addr)
    chaos.add_toxic("fh", "bandwidth", attributes={"rate": 200})
    s = connect(chaos, "fh")
    s.sendall(b"g")
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        s.recv(65536)
    d = chaos.connections("fh")[0]["bytes"]["downstream"]
    backlog = d["in"] - d["out"]
    assert backlog <= 3 << 20, f"proxy holds {backlog} bytes for a 200 KB/s reader"
    assert progress["sent"] < 64 << 20  # the sender was held back, not drained into memory
    s.close()


def test_latency_jitter_stays_within_bounds(chaos, echo_server):
    chaos.add_proxy("echo", echo_server.addr)
    chaos.add_toxic("echo", "latency", attributes={"latency": 60, "jitter": 30})
    s = connect(chaos, "echo")
    rtts = []
    for i in range(8):
        t0 = time.perf_counter()
        s.sendall(bytes([i]))
        recv_exactly(s, 1)
        rtts.append(time.perf_counter() - t0)
    s.close()
    assert min(rtts) >= 0.029 and max(rtts) < 1.0


def test_chaos_package_does_not_import_the_harness():
    import subprocess
    import sys

    from chaoshelp import ROOT

    # visdom_chaos.journal is the contract every layer may import (the fault journal's writer)
    code = (
        "import visdom_chaos.chaos, visdom_chaos.chaos.__main__, visdom_chaos.chaos.schedule, sys; "
        "print(sorted(m for m in sys.modules if m.startswith('visdom')"
        " and m not in ('visdom_chaos', 'visdom_chaos.journal') and not m.startswith('visdom_chaos.chaos')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": ROOT},
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
