"""0.2.4's polling monitor raises on WebSocket subscribers (stock); patch 0008 skips them."""

from __future__ import annotations

import json
import time

import pytest
import requests
import websocket

MONITOR_PERIOD_S = 15  # socket_wrap_monitor_thread's PeriodicCallback


@pytest.mark.visdom
@pytest.mark.slow
def test_polling_monitor_with_websocket_subscribers(visdom_factory):
    stock, patched = visdom_factory("0.2.4", "stock"), visdom_factory("0.2.4", "patched")
    sockets = []
    for target in (stock, patched):
        sockets.append(websocket.create_connection("ws" + target.url[4:] + "/socket", timeout=5))
        sid = requests.get(target.url + "/socket_wrap", timeout=5).json()[
            "sid"
        ]  # starts the monitor
        requests.post(
            target.url + "/socket_wrap",
            data=json.dumps({"message_type": "query", "sid": sid}),
            timeout=5,
        )
    time.sleep(MONITOR_PERIOD_S + 2)
    for ws in sockets:
        ws.close()
    error = "AttributeError: 'SocketHandler' object has no attribute 'last_read_time'"
    assert error in stock.log_path.read_text()
    assert "AttributeError" not in patched.log_path.read_text()


@pytest.mark.visdom
def test_polling_sid_is_bound_to_the_page_that_opened_it(visdom_factory, version):
    """Stock: another client reads a page's messages with its sid. Patched: forbidden."""
    for variant, stolen in (("stock", True), ("patched", False)):
        target = visdom_factory(version, variant)
        page, thief = requests.Session(), requests.Session()
        sid = page.get(target.url + "/socket_wrap", timeout=5).json()["sid"]
        query = json.dumps({"message_type": "query", "sid": sid})
        got = thief.post(target.url + "/socket_wrap", data=query, timeout=5).json()
        assert got["success"] is stolen, (variant, got)
        if not stolen:
            assert got["reason"] == "forbidden"
            own = page.post(target.url + "/socket_wrap", data=query, timeout=5).json()
            assert own["success"] and own["messages"], own  # the page still gets its register etc.
