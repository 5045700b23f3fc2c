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
        sid = requests.get(target.url + "/socket_wrap", timeout=5).json()["sid"]  # starts the monitor
        requests.post(target.url + "/socket_wrap", data=json.dumps({"message_type": "query", "sid": sid}), timeout=5)
    time.sleep(MONITOR_PERIOD_S + 2)
    for ws in sockets:
        ws.close()
    error = "AttributeError: 'SocketHandler' object has no attribute 'last_read_time'"
    assert error in stock.log_path.read_text()
    assert "AttributeError" not in patched.log_path.read_text()
