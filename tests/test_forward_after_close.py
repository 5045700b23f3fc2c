"""visdom #1381, forward-after-close, against real Visdom processes on loopback.

A page sends `forward_to_vis` (a click on a pane) for a pane the training script has
just closed. Stock 0.2.4 looks the pane up with `env["jsons"][target]`: KeyError, so
tornado drops the page's WebSocket (`/socket`) or answers the poll's POST
(`/socket_wrap`) with 500. 0.3.0 drops the event upstream; patched 0.2.4 does with
patches/0.2.4/0012-forward-to-closed-pane.patch. Every target must still hand an
event for a pane that exists to the Python callbacks (`/vis_socket`) with its pane.
"""

from __future__ import annotations

import json
import time

import pytest
import requests
import websocket

from visdom_chaos.reports.serverlog import scan_server_log

pytestmark = [pytest.mark.visdom]

HTTP_TIMEOUT = 10
TARGETS = [("0.2.4", "stock"), ("0.2.4", "patched"), ("0.3.0", "stock"), ("0.3.0", "patched")]


def raises(version: str, variant: str) -> bool:
    """Where #1381 is still open."""
    return (version, variant) == ("0.2.4", "stock")


def ws_connect(url: str, path: str) -> websocket.WebSocket:
    return websocket.create_connection(url.replace("http://", "ws://") + path, timeout=5)


def recv_json(ws: websocket.WebSocket, timeout: float) -> dict | None:
    ws.settimeout(timeout)
    try:
        return json.loads(ws.recv())
    except websocket.WebSocketTimeoutException:
        return None


def wait_for(ws: websocket.WebSocket, pred, timeout: float = 5.0) -> dict | None:
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        msg = recv_json(ws, left)
        if msg is not None and pred(msg):
            return msg
    return None


def text_window(url: str, eid: str, win: str) -> None:
    r = requests.post(
        f"{url}/events",
        json={"eid": eid, "win": win, "data": [{"content": win, "type": "text"}], "opts": {}},
        timeout=HTTP_TIMEOUT,
    )
    assert r.status_code == 200, r.text


def close_window(url: str, eid: str, win: str) -> None:
    r = requests.post(f"{url}/close", json={"eid": eid, "win": win}, timeout=HTTP_TIMEOUT)
    assert r.status_code == 200, r.text


def click(eid: str, win: str) -> dict:
    return {"cmd": "forward_to_vis", "data": {"eid": eid, "target": win, "event_type": "Click"}}


def python_callbacks(url: str) -> websocket.WebSocket:
    """What `vis.register_event_handler` listens on: every forwarded event arrives here."""
    src = ws_connect(url, "/vis_socket")
    assert wait_for(src, lambda m: m.get("command") == "alive"), "no alive on /vis_socket"
    return src


def is_click(win: str):
    return lambda m: m.get("event_type") == "Click" and m.get("target") == win


def exceptions(target) -> dict:
    # the server logs synchronously while handling; a short grace for the file write
    time.sleep(0.3)
    return scan_server_log(target.log_path)


@pytest.mark.parametrize(("version", "variant"), TARGETS, ids=[f"{v}-{k}" for v, k in TARGETS])
def test_click_on_closed_pane_over_websocket(visdom_factory, version, variant):
    target = visdom_factory(version, variant)
    url, eid = target.url, "fac"
    text_window(url, eid, "keep")
    text_window(url, eid, "gone")
    src = python_callbacks(url)
    page = ws_connect(url, "/socket")
    reg = wait_for(page, lambda m: m.get("command") == "register")
    assert reg is not None
    requests.post(f"{url}/env/{eid}", json={"sid": reg["data"]}, timeout=HTTP_TIMEOUT)
    close_window(url, eid, "gone")

    page.send(json.dumps(click(eid, "gone")))  # the click that raced vis.close()
    page.send(json.dumps(click("no-such-env", "gone")))  # an env deleted meanwhile
    try:
        page.send(json.dumps(click(eid, "keep")))
        got = wait_for(src, is_click("keep"))
    except (websocket.WebSocketConnectionClosedException, BrokenPipeError, ConnectionError):
        got = None
    log = exceptions(target)

    if raises(version, variant):
        assert got is None, "stock 0.2.4 forwarded after its socket handler raised"
        assert log["by_type"] == {"KeyError @ request handler GET /socket": 1}, log
        # tornado aborted the page's socket after the uncaught exception
        with pytest.raises((websocket.WebSocketConnectionClosedException, ConnectionError)):
            page.settimeout(5)
            while True:
                if page.recv() in ("", b""):
                    raise websocket.WebSocketConnectionClosedException("closed")
    else:
        assert log["exceptions"] == 0, log
        assert got is not None, "the event for a live pane never reached the callbacks"
        assert got["pane_data"]["id"] == "keep"
        assert got["eid"] == eid
        # nothing was forwarded for the closed pane, and the page's socket is still live
        assert wait_for(src, is_click("gone"), timeout=0.5) is None
        text_window(url, eid, "after")
        assert wait_for(page, lambda m: m.get("command") == "window" and m["id"] == "after")
    page.close()
    src.close()


@pytest.mark.parametrize(("version", "variant"), TARGETS, ids=[f"{v}-{k}" for v, k in TARGETS])
def test_click_on_closed_pane_over_polling(visdom_factory, version, variant):
    target = visdom_factory(version, variant)
    url, eid = target.url, "fac"
    page = requests.Session()  # keeps the patched server's sid cookie (0010 / 0009)
    text_window(url, eid, "keep")
    text_window(url, eid, "gone")
    src = python_callbacks(url)
    sid = page.get(f"{url}/socket_wrap", timeout=HTTP_TIMEOUT).json()["sid"]
    requests.post(f"{url}/env/{eid}", json={"sid": sid}, timeout=HTTP_TIMEOUT)
    close_window(url, eid, "gone")

    def send(msg: dict) -> requests.Response:
        body = {"message_type": "send", "sid": sid, "message": json.dumps(msg)}
        return page.post(f"{url}/socket_wrap", json=body, timeout=HTTP_TIMEOUT)

    gone = send(click(eid, "gone"))
    keep = send(click(eid, "keep"))
    assert keep.status_code == 200 and keep.json()["success"], keep.text
    got = wait_for(src, is_click("keep"))
    assert got is not None and got["pane_data"]["id"] == "keep"
    log = exceptions(target)

    if raises(version, variant):
        assert gone.status_code == 500
        assert log["by_type"] == {"KeyError @ request handler POST /socket_wrap": 1}, log
        assert log["http_5xx"] == {"500 POST /socket_wrap": 1}, log
    else:
        assert gone.status_code == 200 and gone.json()["success"], gone.text
        assert log["exceptions"] == 0 and log["http_5xx"] == {}, log
        assert wait_for(src, is_click("gone"), timeout=0.5) is None
    src.close()
