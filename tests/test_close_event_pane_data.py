"""The close event a Python callback gets when a browser closes a pane (issue 15).

Real parts on loopback: a Visdom process from the target manager, the released `visdom`
client in the target's own venv (tests/close_event_client.py: `viz.text`, then
`viz.register_event_handler(cb, win)` on its /vis_socket), and a browser-side /socket
that sends the close exactly as the page's close button does (main.js `sendPaneClose`:
`{"cmd": "close", "data": win, "eid": env}`).

Stock 0.3.0 pops the pane from env["jsons"] twice (once for the undo stack, once for the
event), so the callback gets `pane_data: None`; patches/0.3.0/0010-close-event-pane-data
pops once. 0.2.4 always popped once and delivers the pane on both variants.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest
import requests
import websocket
from conftest import built_or_skip

pytestmark = [pytest.mark.visdom]

CLIENT = Path(__file__).with_name("close_event_client.py")
ENV, WIN = "close_env", "close_win"
TEXT, TITLE = "close me", "pane to close"  # as close_event_client.py creates it

# target -> does the close event carry the pane?
DELIVERS_PANE = {
    ("0.3.0", "stock"): False,  # the double pop
    ("0.3.0", "patched"): True,  # 0010-close-event-pane-data
    ("0.2.4", "stock"): True,
    ("0.2.4", "patched"): True,
}


def win_exists(url: str) -> bool:
    r = requests.post(f"{url}/win_exists", json={"win": WIN, "eid": ENV}, timeout=10)
    assert r.status_code == 200, r.text
    return r.text == "true"


def start_client(python: str, port: int) -> subprocess.Popen:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)  # the released client, whatever the server's variant
    proc = subprocess.Popen(
        [python, str(CLIENT), str(port), ENV, WIN],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    first = json.loads(proc.stdout.readline() or "{}")
    if first != {"ready": True}:
        proc.kill()
        _, err = proc.communicate(timeout=10)
        raise AssertionError(f"client not ready: {first}; stderr: {err[-800:]}")
    return proc


def browser_close(url: str) -> websocket.WebSocket:
    """A page's /socket after `register`, closing WIN with the close button's command."""
    ws = websocket.create_connection(url.replace("http://", "ws://") + "/socket", timeout=10)
    deadline = time.monotonic() + 10
    while json.loads(ws.recv()).get("command") != "register":
        assert time.monotonic() < deadline, "no register on /socket"
    ws.send(json.dumps({"cmd": "close", "data": WIN, "eid": ENV}))
    return ws


@pytest.mark.parametrize("key", list(DELIVERS_PANE), ids=lambda k: f"{k[0]}-{k[1]}")
def test_close_event_carries_the_pane(visdom_factory, key):
    version, variant = key
    target = visdom_factory(version, variant)
    client = start_client(built_or_skip(version, "stock").python, target.port)
    ws = None
    try:
        assert win_exists(target.url)
        ws = browser_close(target.url)
        out, err = client.communicate(timeout=40)
    finally:
        if client.poll() is None:
            client.kill()
            client.communicate(timeout=10)
    events = json.loads(out.strip().splitlines()[-1])["events"]
    assert len(events) == 1, (events, err[-800:])
    event = events[0]
    assert (event["event_type"], event["target"], event["eid"]) == ("close", WIN, ENV)
    assert not win_exists(target.url)  # the close itself works on every target
    pane = event["pane_data"]
    if DELIVERS_PANE[key]:
        assert pane is not None, f"{version} {variant}: close event without the pane"
        assert (pane["id"], pane["type"], pane["content"], pane["title"]) == (
            WIN,
            "text",
            TEXT,
            TITLE,
        )
    else:
        assert pane is None, f"{version} {variant}: expected stock's pane_data None, got {pane}"
    if version == "0.3.0":
        # the one pop still feeds the undo stack: undo brings the pane back
        assert ws is not None
        ws.send(json.dumps({"cmd": "undo", "eid": ENV}))
        deadline = time.monotonic() + 10
        while not win_exists(target.url):
            assert time.monotonic() < deadline, f"{version} {variant}: undo did not restore"
            time.sleep(0.1)
    ws.close()
