"""Shared pieces of the security probe: findings, WebSocket and HTTP helpers, liveness."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import psutil
import requests
import websocket

from visdom_chaos.reports.security import STATUSES

EVIL_ORIGIN = "http://evil.example"
HTTP_TIMEOUT_S = 10.0


@dataclass
class Finding:
    """One check's verdict with the evidence a reader needs to believe it."""

    title: str
    status: str = "error"
    evidence: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        assert self.status in STATUSES, self.status
        return {"title": self.title, "status": self.status, "evidence": self.evidence}


def ws_url(base: str, path: str) -> str:
    return "ws" + base[len("http") :] + path


@dataclass
class WsAttempt:
    """What a WebSocket handshake (and the first messages after it) looked like."""

    status: int | None = None  # HTTP status of the handshake (101 = accepted)
    messages: list[str] = field(default_factory=list)  # commands of the first messages
    closed_by_server: bool = False
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "handshake_status": self.status,
            "first_commands": self.messages,
            "closed_by_server": self.closed_by_server,
            "error": self.error,
        }


def try_ws(
    base: str,
    path: str,
    *,
    origin: str | None = None,
    cookie: str | None = None,
    read_s: float = 1.5,
    max_messages: int = 5,
) -> WsAttempt:
    """Open a WebSocket, read what the server says first (bounded), close it."""
    att = WsAttempt()
    opts: dict[str, Any] = {"timeout": 5}
    if origin is not None:
        opts["origin"] = origin
    if cookie:
        opts["cookie"] = cookie
    try:
        ws = websocket.create_connection(ws_url(base, path), **opts)
    except websocket.WebSocketBadStatusException as exc:
        att.status = exc.status_code
        return att
    except (OSError, websocket.WebSocketException) as exc:
        att.error = f"{type(exc).__name__}: {exc}"[:200]
        return att
    att.status = ws.getstatus()
    try:
        ws.settimeout(0.3)
        end = time.monotonic() + read_s
        while time.monotonic() < end and len(att.messages) < max_messages:
            try:
                opcode, data = ws.recv_data()
            except websocket.WebSocketTimeoutException:
                continue
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                att.closed_by_server = True
                break
            att.messages.append(command_of(data))
    except (websocket.WebSocketConnectionClosedException, OSError):
        att.closed_by_server = True
    finally:
        ws.close(timeout=1)
    return att


def command_of(data: bytes | str) -> str:
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return "<not json>"
    return str(doc.get("command", "<no command>")) if isinstance(doc, dict) else "<not an object>"


def text_window(win: str, text: str, env: str = "main") -> dict[str, Any]:
    return {
        "data": [{"content": text, "type": "text"}],
        "win": win,
        "eid": env,
        "opts": {"title": win},
    }


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def answers(base: str, timeout: float = 5.0) -> tuple[bool, float | None, str]:
    """Does /win_exists answer within `timeout`? (ok, seconds, detail)."""
    t0 = time.monotonic()
    try:
        r = requests.post(
            f"{base}/win_exists", json={"win": "__probe__", "eid": "main"}, timeout=timeout
        )
    except requests.RequestException as exc:
        return False, None, type(exc).__name__
    return r.status_code == 200, round(time.monotonic() - t0, 3), f"HTTP {r.status_code}"


def rss_mib(pid: int | None) -> float | None:
    if pid is None:
        return None
    try:
        return round(psutil.Process(pid).memory_info().rss / 2**20, 1)
    except psutil.NoSuchProcess:
        return None


def alive(pid: int | None) -> bool | None:
    if pid is None:
        return None
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


class Watcher:
    """A well-behaved WebSocket subscriber on /socket: does it still get updates?"""

    def __init__(self, base: str) -> None:
        self.base = base
        self.ws = websocket.create_connection(ws_url(base, "/socket"), timeout=5)
        self.ws.settimeout(0.2)
        self._drain(1.0)

    def _drain(self, seconds: float) -> list[bytes | str]:
        got: list[bytes | str] = []
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                _, data = self.ws.recv_data()
            except websocket.WebSocketTimeoutException:
                continue
            got.append(data)
        return got

    def sees_update(self, timeout: float = 5.0) -> tuple[bool, float | None, str]:
        """POST a new text window to env main and wait for it to reach this subscriber."""
        token = unique("probe")
        t0 = time.monotonic()
        try:
            r = requests.post(
                f"{self.base}/events", json=text_window(token, token), timeout=timeout
            )
        except requests.RequestException as exc:
            return False, None, f"POST /events: {type(exc).__name__}"
        if r.status_code != 200:
            return False, None, f"POST /events: HTTP {r.status_code}"
        end = t0 + timeout
        while time.monotonic() < end:
            try:
                _, data = self.ws.recv_data()
            except websocket.WebSocketTimeoutException:
                continue
            except (websocket.WebSocketConnectionClosedException, OSError) as exc:
                return False, None, f"subscriber connection lost: {type(exc).__name__}"
            text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
            if token in text:
                return True, round(time.monotonic() - t0, 3), "update received"
        return False, None, f"no update within {timeout:.0f} s"

    def close(self) -> None:
        try:
            self.ws.close(timeout=1)
        except (OSError, websocket.WebSocketException):
            pass
