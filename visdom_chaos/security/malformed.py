"""Oversized and malformed messages on the sockets: does the server stay up for everyone else?"""

from __future__ import annotations

import json
import random
import time
from typing import Any

import requests
import websocket

from visdom_chaos.security.common import (
    HTTP_TIMEOUT_S,
    Finding,
    Watcher,
    alive,
    answers,
    rss_mib,
    ws_url,
)

DEFAULT_OVERSIZE_MIB = 50
NESTING = 100_000


def payloads(oversize_mib: int, seed: int = 9) -> dict[str, tuple[bool, bytes]]:
    """name -> (binary?, bytes). Deterministic, so a finding can be replayed."""
    big = json.dumps({"cmd": "echo", "data": "A" * (oversize_mib << 20)}).encode()
    return {
        f"oversized_{oversize_mib}MiB": (False, big),
        "invalid_json": (False, b'{"cmd": "close", not json'),
        "binary_garbage": (True, random.Random(seed).randbytes(64 << 10)),
        "deep_nesting": (False, b"[" * NESTING + b"]" * NESTING),
    }


def _send_ws(base: str, path: str, binary: bool, data: bytes) -> dict[str, Any]:
    """Send one message on a fresh socket; report how the server reacted (bounded)."""
    out: dict[str, Any] = {"sent_bytes": len(data)}
    try:
        ws = websocket.create_connection(ws_url(base, path), timeout=10)
    except (OSError, websocket.WebSocketException) as exc:
        return {**out, "reaction": f"handshake failed: {type(exc).__name__}"}
    try:
        if binary:
            ws.send_binary(data)
        else:
            ws.send(data.decode())  # the text payloads are valid UTF-8
        ws.settimeout(0.3)
        end = time.monotonic() + 3
        reaction = "connection stayed open"
        while time.monotonic() < end:
            try:
                opcode, frame = ws.recv_data(control_frame=True)
            except websocket.WebSocketTimeoutException:
                continue
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                code = int.from_bytes(frame[:2], "big") if len(frame) >= 2 else None
                reaction = f"server closed the socket (code {code})"
                break
    except (websocket.WebSocketConnectionClosedException, OSError) as exc:
        reaction = f"server dropped the connection ({type(exc).__name__})"
    finally:
        try:
            ws.close(timeout=1)
        except (OSError, websocket.WebSocketException):
            pass
    return {**out, "reaction": reaction}


def _post_wrap(base: str, binary: bool, data: bytes) -> dict[str, Any]:
    """On /socket_wrap: the body itself is malformed, except `oversized`, a valid body around a huge message."""
    try:
        sid = requests.get(f"{base}/socket_wrap", timeout=HTTP_TIMEOUT_S).json().get("sid")
    except (requests.RequestException, ValueError) as exc:
        return {"reaction": f"GET /socket_wrap failed: {type(exc).__name__}"}
    if data.startswith(b'{"cmd": "echo"'):
        body = (
            b'{"message_type": "send", "sid": "'
            + str(sid).encode()
            + b'", "message": '
            + json.dumps(data.decode()).encode()
            + b"}"
        )
    else:
        body = data
    t0 = time.monotonic()
    try:
        r = requests.post(f"{base}/socket_wrap", data=body, timeout=30)
        reaction = f"HTTP {r.status_code}"
    except requests.RequestException as exc:
        reaction = f"request failed: {type(exc).__name__}"
    return {
        "sent_bytes": len(body),
        "reaction": reaction,
        "seconds": round(time.monotonic() - t0, 3),
    }


def check_malformed(
    base: str, path: str, pid: int | None, oversize_mib: int = DEFAULT_OVERSIZE_MIB
) -> Finding:
    """Each payload on `path`, then: process alive, /win_exists answers, a second client gets an update."""
    f = Finding(f"oversized / malformed messages on {path}: server stays up and serves others")
    try:
        watcher = Watcher(base)
    except (OSError, websocket.WebSocketException) as exc:
        f.evidence = {"why": f"could not connect the watching subscriber: {exc}"[:300]}
        return f
    results: dict[str, dict[str, Any]] = {}
    broken: list[str] = []
    try:
        for name, (binary, data) in payloads(oversize_mib).items():
            before = rss_mib(pid)
            sent = (
                _post_wrap(base, binary, data)
                if path.endswith("_wrap")
                else _send_ws(base, path, binary, data)
            )
            up = alive(pid)
            ok_http, http_s, http_detail = answers(base)
            ok_sub, sub_s, sub_detail = (
                watcher.sees_update() if up is not False else (False, None, "server gone")
            )
            results[name] = {
                **sent,
                "server_alive": up,
                "win_exists": http_detail,
                "win_exists_s": http_s,
                "other_subscriber": sub_detail,
                "other_subscriber_s": sub_s,
                "rss_mib_before": before,
                "rss_mib_after": rss_mib(pid),
            }
            if up is False or not ok_http or not ok_sub:
                broken.append(name)
            if up is False:
                break  # nothing left to probe
    finally:
        watcher.close()
    f.evidence = {"payloads": results}
    if broken:
        f.status = "vulnerable"
        f.evidence["why"] = (
            f"after {', '.join(broken)} the server stopped serving others (see payloads)"
        )
    else:
        f.status = "ok"
        f.evidence["why"] = (
            f"after each of {len(results)} payloads the server was alive, /win_exists "
            "answered and another subscriber still got a fresh update"
        )
    return f
