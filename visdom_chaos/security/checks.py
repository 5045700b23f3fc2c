"""Checks against a plain (no login) target: cross-origin sockets, polling sid theft."""

from __future__ import annotations

import json
import time

import requests

from visdom_chaos.security.common import (
    EVIL_ORIGIN,
    HTTP_TIMEOUT_S,
    Finding,
    command_of,
    text_window,
    try_ws,
    unique,
)


def check_origin(base: str, path: str) -> Finding:
    """CSWSH: a page on another origin opens the socket (the browser sends its Origin)."""
    f = Finding(f"cross-origin WebSocket handshake on {path} (Origin: {EVIL_ORIGIN})")
    evil = try_ws(base, path, origin=EVIL_ORIGIN)
    same = try_ws(base, path)  # websocket-client sends the target's own origin
    f.evidence = {"evil_origin": evil.to_json(), "same_origin": same.to_json()}
    if same.status != 101:
        f.evidence["why"] = "the same-origin control handshake failed: no verdict"
        return f
    if evil.status == 101 and evil.messages:
        f.status = "vulnerable"
        f.evidence["why"] = (
            f"accepted a foreign origin and sent {evil.messages[0]!r} to it: any web page "
            "the user visits can read (and drive) the session"
        )
    elif evil.status == 101:
        f.status = "vulnerable"
        f.evidence["why"] = "the handshake from a foreign origin was accepted (101)"
    else:
        f.status = "ok"
        f.evidence["why"] = f"foreign origin refused (HTTP {evil.status}); same-origin accepted"
    return f


def _sid(session: requests.Session, base: str) -> str:
    r = session.get(f"{base}/socket_wrap", timeout=HTTP_TIMEOUT_S)
    r.raise_for_status()
    doc = r.json()
    if not doc.get("success") or not doc.get("sid"):
        raise ValueError(f"GET /socket_wrap gave no sid: {r.text[:200]}")
    return doc["sid"]


def _query(session: requests.Session, base: str, sid: str) -> dict:
    r = session.post(
        f"{base}/socket_wrap",
        data=json.dumps({"message_type": "query", "sid": sid}),
        timeout=HTTP_TIMEOUT_S,
    )
    r.raise_for_status()
    return r.json()


def check_sid_theft(base: str) -> Finding:
    """Client B (its own HTTP session, no shared cookies) polls with client A's sid."""
    f = Finding("polling sid of one client reads another client's messages (/socket_wrap)")
    a, b = requests.Session(), requests.Session()
    try:
        sid_a = _sid(a, base)
        _query(a, base, sid_a)  # A reads its welcome messages, so what follows is new
        win = unique("sidprobe")
        requests.post(
            f"{base}/events", json=text_window(win, "secret-" + win), timeout=HTTP_TIMEOUT_S
        )
        time.sleep(0.3)
        stolen = _query(b, base, sid_a)
        left_for_a = _query(a, base, sid_a)
    except (requests.RequestException, ValueError) as exc:
        f.evidence = {"why": f"probe failed: {type(exc).__name__}: {exc}"[:300]}
        return f
    finally:
        a.close()
        b.close()
    got = stolen.get("messages") or []
    commands = [command_of(m) if isinstance(m, str) else command_of(json.dumps(m)) for m in got]
    carries = any(win in (m if isinstance(m, str) else json.dumps(m)) for m in got)
    f.evidence = {
        "sid_a": sid_a[:8] + "…",
        "b_query": {
            "success": stolen.get("success"),
            "messages": len(got),
            "commands": commands[:10],
            "reason": stolen.get("reason"),
        },
        "b_got_a_window": carries,
        "messages_left_for_a": len(left_for_a.get("messages") or []),
    }
    if stolen.get("success") and got:
        f.status = "vulnerable"
        f.evidence["why"] = (
            f"B read {len(got)} of A's messages with A's sid alone (the sid is a bearer "
            "token bound to nothing), and A no longer gets them"
        )
    elif stolen.get("success"):
        f.status = "vulnerable"
        f.evidence["why"] = (
            "B's query with A's sid succeeded (no messages were queued at that moment)"
        )
    else:
        f.status = "ok"
        f.evidence["why"] = f"B's query with A's sid was refused ({stolen.get('reason')!r})"
    return f
