"""HTTP-request-aware toxics against a real aiohttp server and `requests` (keep-alive session)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import pytest
import requests
from aiohttp import web
from chaoshelp import journal

pytest_plugins = ["chaoshelp"]  # fixtures: real servers on loopback, a ChaosServer per test


class HttpServer:
    def __init__(self) -> None:
        self.hits: list[tuple[str, str, bytes]] = []
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.port = 0
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        assert self.ready.wait(10)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.hits.append((request.method, request.path, body))
        return web.json_response({"ok": True, "path": request.path})

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        runner = web.AppRunner(app, access_log=None)
        self.loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)
        self.loop.run_until_complete(site.start())
        self.port = runner.addresses[0][1]
        self.ready.set()
        self.loop.run_forever()
        self.loop.run_until_complete(runner.cleanup())

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.fixture
def http_server() -> Iterator[HttpServer]:
    srv = HttpServer()
    yield srv
    srv.close()


def base(chaos) -> str:
    host, port = chaos.listen_of("web")
    return f"http://{host}:{port}"


def test_http_fail_answers_503_for_matching_requests_only(chaos, http_server):
    chaos.add_proxy("web", f"127.0.0.1:{http_server.port}")
    chaos.add_toxic(
        "web", "http_fail", attributes={"method": "POST", "path": "/update", "status": 503}
    )
    with requests.Session() as s:
        assert s.get(base(chaos) + "/env/main", timeout=5).status_code == 200
        r = s.post(base(chaos) + "/update", json={"win": "w1", "data": [1, 2, 3]}, timeout=5)
        assert r.status_code == 503 and r.headers["X-Chaos-Toxic"] == "http_fail_downstream"
        # the session reconnects after the 503's Connection: close and carries on
        assert s.post(base(chaos) + "/events", json={"x": 1}, timeout=5).status_code == 200
    paths = [(m, p) for m, p, _ in http_server.hits]
    assert paths == [
        ("GET", "/env/main"),
        ("POST", "/events"),
    ]  # the failed request never reached the server
    fails = [r for r in journal(chaos) if r["type"] == "fault" and r["kind"] == "http_fail"]
    assert [(f["detail"]["method"], f["detail"]["path"], f["detail"]["status"]) for f in fails] == [
        ("POST", "/update", 503)
    ]


def test_http_delay_only_delays_matching_requests(chaos, http_server):
    chaos.add_proxy("web", f"127.0.0.1:{http_server.port}")
    chaos.add_toxic(
        "web", "http_delay", attributes={"method": "POST", "path": "/update", "delay": 250}
    )
    with requests.Session() as s:
        t0 = time.perf_counter()
        assert s.get(base(chaos) + "/x", timeout=5).status_code == 200
        quick = time.perf_counter() - t0
        t0 = time.perf_counter()
        r = s.post(base(chaos) + "/update", data=b"payload", timeout=5)
        slow = time.perf_counter() - t0
    assert r.status_code == 200 and r.json()["path"] == "/update"
    assert slow >= 0.25 and quick < 0.25
    assert http_server.hits[-1] == ("POST", "/update", b"payload")


def test_http_fail_with_probability_and_limit(chaos, http_server):
    chaos.add_proxy("web", f"127.0.0.1:{http_server.port}")
    chaos.add_toxic("web", "http_fail", attributes={"path": "/update", "limit": 2})
    with requests.Session() as s:
        codes = [
            s.post(base(chaos) + "/update", data=b"x", timeout=5).status_code for _ in range(5)
        ]
    assert codes == [503, 503, 200, 200, 200]
    assert len(http_server.hits) == 3
