"""HOST:PORT parsing and the loopback-only rule."""

from __future__ import annotations

import ipaddress
import socket

from .spec import ChaosError


def parse_hostport(value: object, what: str) -> tuple[str, int]:
    """'127.0.0.1:8474', 'localhost:0', '[::1]:80' -> (host, port); one-line error otherwise."""
    if not isinstance(value, str) or ":" not in value:
        raise ChaosError(f"{what}: expected HOST:PORT, got {value!r}")
    host, _, port_s = value.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    if not port_s.isdigit() or not 0 <= int(port_s) <= 65535:
        raise ChaosError(f"{what}: port must be 0..65535, got {port_s!r}")
    return host, int(port_s)


def format_hostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def is_loopback(host: str) -> bool:
    """True if every address `host` resolves to is a loopback address."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(i[4][0]).is_loopback for i in infos)


def check_address(value: object, what: str, allow_remote: bool) -> tuple[str, int]:
    host, port = parse_hostport(value, what)
    if not allow_remote and not is_loopback(host):
        raise ChaosError(
            f"{what}: {host} is not a loopback address (start with --allow-remote to permit it)"
        )
    return host, port
