"""Who may drive the control API: programs on this machine, never a web page.

A page the user visits can send "simple" cross-origin requests (a POST with a text/plain
body, no preflight) to 127.0.0.1:8474, and with DNS rebinding read the answers. A page
that can reconfigure the proxy can aim it at any local service, or silently change an
experiment's faults. Browsers give themselves away, so each request is refused when:

- its User-Agent starts with "Mozilla/" (Toxiproxy's own rule, `api.go`);
- it carries fetch metadata (`Sec-Fetch-*`): only browsers send it;
- it carries an Origin that is not the API's own (the API serves no page);
- its Host is not a loopback name or address: a rebound name resolves to 127.0.0.1,
  but the browser still sends the attacker's name (so the Host is never resolved);
- it writes a body that is not `Content-Type: application/json` (a page cannot send
  that type without a preflight this API never answers);
- a token is configured and the request does not carry it (`Authorization: Bearer`).

Bodiless writes (toxiproxy-python's `POST /reset`, `DELETE`) need no Content-Type: a
browser cannot send them without an Origin, and the Origin rule refuses them.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field

TOKEN_ENV = "VISDOM_CHAOS_API_TOKEN"
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
LOOPBACK_NAMES = ("localhost",)  # and any *.localhost: browsers never resolve those remotely
MAX_LOGGED = 20  # refusals printed to stderr per server; the rest are only counted


@dataclass(frozen=True)
class Refusal:
    status: int  # 401, 403 or 415
    reason: str  # one line, returned as Toxiproxy's {"error": ..., "status": ...}


@dataclass
class GuardPolicy:
    """What the API accepts beyond loopback programs: a token, and extra Host names."""

    token: str | None = None
    extra_hosts: frozenset[str] = frozenset()
    refused: int = field(default=0, compare=False)

    @classmethod
    def from_env(
        cls, token: str | None = None, extra_hosts: tuple[str, ...] | list[str] = ()
    ) -> GuardPolicy:
        """An explicit token wins; else $VISDOM_CHAOS_API_TOKEN; empty means none."""
        chosen = token if token is not None else os.environ.get(TOKEN_ENV)
        return cls(token=chosen or None, extra_hosts=frozenset(h.lower() for h in extra_hosts))


def host_name(host_header: str) -> str:
    """'127.0.0.1:8474' -> '127.0.0.1', '[::1]:80' -> '::1', 'Example.COM' -> 'example.com'."""
    h = host_header.strip().lower()
    if h.startswith("["):
        return h[1 : h.find("]")] if "]" in h else h
    return h.rsplit(":", 1)[0] if h.count(":") == 1 else h


def is_loopback_name(name: str) -> bool:
    """A literal loopback address or a localhost name; never resolved (DNS rebinding)."""
    if name in LOOPBACK_NAMES or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def _has_body(headers: Mapping[str, str]) -> bool:
    if "transfer-encoding" in {k.lower() for k in headers}:
        return True
    length = headers.get("Content-Length", "0").strip()
    return not length.isdigit() or int(length) > 0


def refusal(method: str, headers: Mapping[str, str], policy: GuardPolicy) -> Refusal | None:
    """Why this request may not drive the API, or None. `headers` is case-insensitive."""
    agent = headers.get("User-Agent", "")
    if agent.startswith("Mozilla/"):
        return Refusal(403, "User agent not allowed: the control API refuses browsers")
    if any(k.lower().startswith("sec-fetch-") for k in headers):
        return Refusal(403, "browser request (Sec-Fetch-* headers): the control API refuses it")
    host = headers.get("Host")
    name = host_name(host) if host else ""
    if host is not None and not (is_loopback_name(name) or name in policy.extra_hosts):
        return Refusal(
            403, f"Host {host!r} is not a loopback name or address (DNS rebinding?): refused"
        )
    origin = headers.get("Origin")
    if origin is not None and origin.rstrip("/").lower() != f"http://{(host or '').lower()}":
        return Refusal(403, f"cross-site request (Origin {origin!r}): refused")
    if policy.token is not None:
        given = headers.get("Authorization", "")
        expected = f"Bearer {policy.token}"
        if not hmac.compare_digest(given.encode(), expected.encode()):
            return Refusal(401, "missing or wrong API token (send Authorization: Bearer TOKEN)")
    if method.upper() in WRITES and _has_body(headers):
        media = _media_type(headers.get("Content-Type", ""))
        if media != "application/json":
            got = media or "none"
            return Refusal(
                415,
                f"writes must be Content-Type: application/json (got {got}; curl needs -H 'Content-Type: application/json')",
            )
    return None


def log_refusal(policy: GuardPolicy, method: str, path: str, peer: str, why: Refusal) -> None:
    """One stderr line for the first MAX_LOGGED refusals (the proxy's log), then a count."""
    policy.refused += 1
    if policy.refused <= MAX_LOGGED:
        print(f"chaos: refused {method} {path} from {peer}: {why.reason}", file=sys.stderr)
    elif policy.refused == MAX_LOGGED + 1:
        print("chaos: further refusals are not logged", file=sys.stderr)
