"""path_prefix: the app mounted under a prefix that the proxy strips on the way in (nginx
`location /visdom/ { proxy_pass http://app/; }`, Jupyter server-proxy).

The rewriting itself is pure and tested as such; the toxic is tested through real loopback
sockets: a keep-alive `requests` session against a real aiohttp server, and a WebSocket
upgrade through the prefix.
"""

from __future__ import annotations

import json

import pytest
import requests
import websocket
from chaoshelp import journal
from test_chaos_http import HttpServer, base

from visdom_chaos.chaos import ChaosError
from visdom_chaos.chaos.toxics.path_prefix import bare_prefix, rewrite_target, strip_prefix

pytest_plugins = ["chaoshelp"]


@pytest.mark.parametrize(
    ("target", "stripped"),
    [
        ("/visdom/", "/"),
        ("/visdom/env/main", "/env/main"),
        ("/visdom/static/js/main.js?v=abc", "/static/js/main.js?v=abc"),
        ("/visdom/socket", "/socket"),
        ("/visdom//double", "//double"),  # nginx passes the rest as it is
        ("/visdom", None),  # the bare prefix: redirected, not stripped
        ("/visdom?x=1", None),
        ("/visdomx/", None),  # a longer name is not under the prefix
        ("/static/js/main.js", None),  # an absolute URL that ignored the prefix
        ("/", None),
        ("*", None),
    ],
)
def test_strip_prefix(target, stripped):
    assert strip_prefix(target, "/visdom") == stripped


def test_strip_prefix_nested_and_empty():
    assert strip_prefix("/user/ana/proxy/8097/socket", "/user/ana/proxy/8097") == "/socket"
    assert strip_prefix("/anything", "") == "/anything"
    assert bare_prefix("/visdom", "/visdom") and bare_prefix("/visdom?x", "/visdom")
    assert not bare_prefix("/visdom/", "/visdom") and not bare_prefix("/x", "")


def test_rewrite_target_keeps_the_rest_of_the_head():
    raw = b"GET /visdom/env/main?x=1 HTTP/1.1\r\nHost: h\r\nX-A: /visdom/\r\n\r\n"
    assert (
        rewrite_target(raw, "/env/main?x=1")
        == b"GET /env/main?x=1 HTTP/1.1\r\nHost: h\r\nX-A: /visdom/\r\n\r\n"
    )


def test_prefix_attribute_is_required_and_checked(chaos, http_server):
    chaos.add_proxy("web", f"127.0.0.1:{http_server.port}")
    with pytest.raises(ChaosError, match="'prefix' is required"):
        chaos.add_toxic("web", "path_prefix")
    with pytest.raises(ChaosError, match="prefix"):
        chaos.add_toxic("web", "path_prefix", attributes={"prefix": "visdom"})
    chaos.add_toxic("web", "path_prefix", attributes={"prefix": "/visdom/"})
    [toxic] = chaos.toxics("web")
    assert toxic["attributes"] == {"prefix": "/visdom", "status": 404}


@pytest.fixture
def http_server():
    srv = HttpServer()
    yield srv
    srv.close()


def test_requests_under_the_prefix_reach_the_app_without_it(chaos, http_server):
    chaos.add_proxy("web", f"127.0.0.1:{http_server.port}")
    chaos.add_toxic("web", "path_prefix", attributes={"prefix": "/visdom"})
    url = base(chaos)
    with requests.Session() as s:  # one keep-alive connection: every request is judged
        r = s.get(url + "/visdom/env/main?x=1", timeout=5)
        assert r.status_code == 200 and r.json()["path"] == "/env/main"
        body = json.dumps({"win": "w", "data": [1]})
        r = s.post(url + "/visdom/update", data=body, timeout=5)
        assert r.json()["path"] == "/update"
        # outside the prefix: answered by the proxy, never forwarded
        r = s.get(url + "/static/js/main.js?v=1", timeout=5)
        assert r.status_code == 404 and r.headers["X-Chaos-Toxic"] == "path_prefix_downstream"
        r = s.post(url + "/events", data=body, timeout=5)  # its body is swallowed too
        assert r.status_code == 404
        r = s.get(url + "/visdom", timeout=5, allow_redirects=False)
        assert r.status_code == 301 and r.headers["Location"] == "/visdom/"
        assert s.get(url + "/visdom/", timeout=5).json()["path"] == "/"
    assert [(m, p) for m, p, _ in http_server.hits] == [
        ("GET", "/env/main"),
        ("POST", "/update"),
        ("GET", "/"),
    ]
    assert http_server.hits[1][2] == body.encode()
    recs = [r["detail"] for r in journal(chaos) if r.get("kind") == "path_prefix"]
    assert [(d["path"], d.get("to"), d.get("status")) for d in recs] == [
        ("/visdom/env/main?x=1", "/env/main?x=1", None),
        ("/visdom/update", "/update", None),
        ("/static/js/main.js?v=1", None, 404),
        ("/events", None, 404),
        ("/visdom", None, 301),
        ("/visdom/", "/", None),
    ]


def test_websocket_upgrade_through_the_prefix(chaos, ws_server):
    chaos.add_proxy("ws", ws_server.addr)
    chaos.add_toxic("ws", "path_prefix", attributes={"prefix": "/jup/proxy/8097"})
    host, port = chaos.listen_of("ws")
    ws = websocket.create_connection(f"ws://{host}:{port}/jup/proxy/8097/socket", timeout=5)
    ws.send("hello")
    assert ws.recv() == "hello"  # frames pass untouched after the rewritten upgrade
    ws.close()
    with pytest.raises(websocket.WebSocketBadStatusException) as exc:
        websocket.create_connection(f"ws://{host}:{port}/socket", timeout=5)
    assert exc.value.status_code == 404
    assert ws_server.received == ["hello"]
