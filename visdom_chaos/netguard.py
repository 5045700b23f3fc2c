"""Loopback guard: load and faults go only to this machine unless the user says otherwise."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit


class RemoteTargetError(ValueError):
    pass


HOSTS_FILE = "/etc/hosts"


def _hosts_file_addresses(name: str, path: str = HOSTS_FILE) -> set[str]:
    """Addresses /etc/hosts gives `name` (read directly: no resolver is ever asked)."""
    found: set[str] = set()
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                fields = line.split("#", 1)[0].split()
                if len(fields) >= 2 and name.lower() in (n.lower() for n in fields[1:]):
                    found.add(fields[0])
    except OSError:
        pass
    return found


def is_loopback_host(host: str) -> bool:
    """True for a loopback IP literal (127.0.0.0/8, ::1), `localhost` (RFC 6761) or a name
    that /etc/hosts maps only to loopback addresses. No DNS query is made: a name that
    needs one would already have sent a packet off the machine before being refused."""
    host = host.strip("[]")
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        pass
    name = host.rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    addrs = _hosts_file_addresses(name)
    try:
        return bool(addrs) and all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in addrs)
    except ValueError:
        return False


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
