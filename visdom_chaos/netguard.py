"""Loopback guard: load and faults go only to this machine unless the user says otherwise."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit


class RemoteTargetError(ValueError):
    pass


def is_loopback_host(host: str) -> bool:
    """True when every address `host` resolves to is loopback (127.0.0.0/8 or ::1)."""
    host = host.strip("[]")
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except socket.gaierror as exc:
        raise RemoteTargetError(f"cannot resolve {host!r}: {exc}") from exc
    addrs = {info[4][0] for info in infos}
    return bool(addrs) and all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in addrs)


def check_url(url: str, allow_remote: bool = False) -> str:
    """Validate a target URL; refuse non-loopback hosts before any packet is sent."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RemoteTargetError(f"not an http(s) URL: {url!r}")
    if not allow_remote and not is_loopback_host(parts.hostname):
        raise RemoteTargetError(
            f"refusing non-loopback target {parts.hostname!r}: load and faults go only to "
            "127.0.0.0/8 or ::1 unless you pass --allow-remote"
        )
    return url.rstrip("/")


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]
