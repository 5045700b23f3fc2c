"""The loopback guard: unit tests, then the CLIs inside an isolated network namespace.

The namespace has loopback and one veth pair on 10.255.255.0/24 that leads nowhere, so
nothing can leave the machine even if the guard were wrong; the veth's transmit counter
shows whether a single packet was sent towards the refused target.
"""

from __future__ import annotations

import json
import secrets
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import REPO

from visdom_chaos.netguard import RemoteTargetError, check_url, free_port, is_loopback_host

REMOTE = "10.255.255.1"


# -- unit tests ------------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["127.0.0.1", "127.45.6.7", "::1", "[::1]", "localhost"])
def test_loopback_hosts(host: str) -> None:
    assert is_loopback_host(host)


@pytest.mark.parametrize(
    "host", [REMOTE, "0.0.0.0", "192.168.1.10", "::", "2001:db8::1", "::ffff:10.0.0.1"]
)
def test_non_loopback_hosts(host: str) -> None:
    assert not is_loopback_host(host)


def test_check_url_accepts_loopback_and_strips_the_slash() -> None:
    assert check_url("http://127.0.0.1:8097/") == "http://127.0.0.1:8097"
    assert check_url("http://[::1]:8097") == "http://[::1]:8097"


@pytest.mark.parametrize(
    "url", [f"http://{REMOTE}:8097", "http://192.168.0.2", "https://[2001:db8::1]:443"]
)
def test_check_url_refuses_remote_unless_allowed(url: str) -> None:
    with pytest.raises(RemoteTargetError, match="--allow-remote"):
        check_url(url)
    assert check_url(url, allow_remote=True) == url.rstrip("/")


@pytest.mark.parametrize(
    "url", ["ftp://127.0.0.1/", "127.0.0.1:8097", "http://", "ws://127.0.0.1:8097"]
)
def test_check_url_refuses_what_is_not_http(url: str) -> None:
    with pytest.raises(RemoteTargetError, match="not an http"):
        check_url(url)


def test_unresolvable_name_is_refused_with_its_name() -> None:
    # .invalid never resolves (RFC 6761); the resolver answers locally or not at all
    with pytest.raises(RemoteTargetError, match="no-such-host.invalid"):
        check_url("http://no-such-host.invalid:8097")


def test_free_port_is_bindable() -> None:
    port = free_port()
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))


# -- inside a network namespace ------------------------------------------------------------


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=20, check=check)


@pytest.fixture(scope="module")
def netns() -> Iterator[str]:
    if shutil.which("ip") is None:
        pytest.skip("iproute2 (ip) is not installed")
    name = f"vc-test-{secrets.token_hex(4)}"
    made = _ip("netns", "add", name, check=False)
    if made.returncode != 0:
        pytest.skip(f"ip netns is not permitted here: {made.stderr.strip()}")
    # `ip netns exec` mounts this over /etc/resolv.conf: DNS inside goes out the veth, where it is counted
    etc = Path("/etc/netns") / name
    had_root = etc.parent.exists()
    try:
        etc.mkdir(parents=True, exist_ok=True)
        (etc / "resolv.conf").write_text(f"nameserver {REMOTE}\noptions timeout:1 attempts:1\n")
        setup = (
            "sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 && "
            "ip link set lo up && ip link add v0 type veth peer name v1 && "
            "ip addr add 10.255.255.2/24 dev v0 && ip link set v0 up && ip link set v1 up"
        )
        r = subprocess.run(
            ["ip", "netns", "exec", name, "sh", "-c", setup],
            capture_output=True,
            text=True,
            timeout=20,
        )
        if r.returncode != 0:
            pytest.skip(f"cannot set up the namespace's links: {r.stderr.strip()}")
        yield name
    finally:
        _ip("netns", "del", name, check=False)
        shutil.rmtree(etc, ignore_errors=True)
        if not had_root:
            shutil.rmtree(etc.parent, ignore_errors=True)


def in_ns(ns: str, *cmd: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["ip", "netns", "exec", ns, *cmd],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def tx_packets(ns: str) -> int:
    return int(in_ns(ns, "cat", "/sys/class/net/v0/statistics/tx_packets").stdout)


def test_run_refuses_a_remote_target_before_any_packet(netns: str, tmp_path: Path) -> None:
    before = tx_packets(netns)
    proc = in_ns(
        netns,
        sys.executable,
        "-m",
        "visdom_chaos",
        "run",
        "--target",
        f"http://{REMOTE}:8097",
        "--out",
        str(tmp_path / "run"),
    )
    assert proc.returncode == 2, proc.stderr
    assert f"refusing non-loopback target '{REMOTE}'" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert tx_packets(netns) == before, "a packet left towards the refused target"
    assert not (tmp_path / "run").exists()


def test_chaos_serve_refuses_a_remote_upstream_and_listen(netns: str, tmp_path: Path) -> None:
    cfg = tmp_path / "proxies.json"
    cfg.write_text(
        json.dumps([{"name": "v", "listen": "127.0.0.1:0", "upstream": f"{REMOTE}:8097"}])
    )
    before = tx_packets(netns)
    proc = in_ns(
        netns,
        sys.executable,
        "-m",
        "visdom_chaos.chaos",
        "serve",
        "--api",
        "127.0.0.1:0",
        "--config",
        str(cfg),
    )
    assert proc.returncode == 2, proc.stderr
    assert REMOTE in proc.stderr and "not a loopback address" in proc.stderr, proc.stderr
    api = in_ns(
        netns, sys.executable, "-m", "visdom_chaos.chaos", "serve", "--api", "10.255.255.2:0"
    )
    assert api.returncode == 2 and "not a loopback address" in api.stderr, api.stderr
    assert tx_packets(netns) == before


@pytest.mark.slow
def test_allow_remote_really_sends_so_the_counter_is_meaningful(netns: str, tmp_path: Path) -> None:
    """Control: with --allow-remote the run does try, and the veth counts it (the packets go nowhere)."""
    before = tx_packets(netns)
    proc = in_ns(
        netns,
        sys.executable,
        "-m",
        "visdom_chaos",
        "run",
        "--target",
        f"http://{REMOTE}:8097",
        "--allow-remote",
        "--out",
        str(tmp_path / "run"),
        timeout=90,
    )
    assert proc.returncode != 0
    assert "unreachable" in proc.stdout + proc.stderr
    assert tx_packets(netns) > before


def test_a_remote_name_is_refused_without_a_dns_query(netns: str, tmp_path: Path) -> None:
    before = tx_packets(netns)
    proc = in_ns(
        netns,
        sys.executable,
        "-m",
        "visdom_chaos",
        "run",
        "--target",
        "http://visdom.example:8097",
        "--out",
        str(tmp_path / "run"),
    )
    assert proc.returncode == 2, proc.stderr
    assert "visdom.example" in proc.stderr and "Traceback" not in proc.stderr
    assert tx_packets(netns) == before, "a DNS query left before the refusal"
