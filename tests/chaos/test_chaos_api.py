"""The control API driven with plain HTTP, the way Toxiproxy's README shows it.

Toxiproxy's README (HTTP API section) does:
    curl -s -XPOST -d '{"name": "redis", "listen": "...", "upstream": "..."}' localhost:8474/proxies
    curl -s -XPOST -d '{"type" : "latency", "attributes" : {"latency" : 1000}}' localhost:8474/proxies/redis/toxics
    curl -s localhost:8474/proxies ; curl -s -XDELETE localhost:8474/proxies/redis/toxics/latency_downstream
Same here with `requests`, listen port 0 instead of a fixed one, and with the JSON
Content-Type the API requires of writes (curl's -d sends a form type a web page could
send too: chaos/apiguard.py), so curl needs -H 'Content-Type: application/json'.
"""

from __future__ import annotations

import socket
import time

import requests
from chaoshelp import journal, recv_exactly

from visdom_chaos.chaos import ChaosClient

JSON = {"Content-Type": "application/json"}

pytest_plugins = ["chaoshelp"]  # fixtures: real servers on loopback, a ChaosServer per test


def test_toxiproxy_readme_flow_over_plain_http(chaos, echo_server):
    api = chaos.api_url
    r = requests.post(
        f"{api}/proxies",
        data='{"name": "redis", "listen": "127.0.0.1:0", "upstream": "UP"}'.replace(
            "UP", echo_server.addr
        ),
        headers=JSON,
        timeout=5,
    )
    assert r.status_code == 201
    proxy = r.json()
    assert set(proxy) == {"name", "listen", "upstream", "enabled", "toxics"}
    assert proxy["enabled"] is True and proxy["toxics"] == [] and not proxy["listen"].endswith(":0")

    r = requests.post(
        f"{api}/proxies/redis/toxics",
        data='{"type" : "latency", "attributes" : {"latency" : 300}}',
        headers=JSON,
        timeout=5,
    )
    assert r.status_code == 200
    assert r.json() == {
        "name": "latency_downstream",
        "type": "latency",
        "stream": "downstream",
        "toxicity": 1.0,
        "attributes": {"latency": 300, "jitter": 0},
    }

    listed = requests.get(f"{api}/proxies", timeout=5).json()
    assert (
        list(listed) == ["redis"] and listed["redis"]["toxics"][0]["name"] == "latency_downstream"
    )
    assert requests.get(f"{api}/proxies/redis/toxics", timeout=5).json()[0]["type"] == "latency"

    host, port = proxy["listen"].rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=5)
    t0 = time.perf_counter()
    s.sendall(b"PING")
    assert recv_exactly(s, 4) == b"PING"
    assert time.perf_counter() - t0 >= 0.3

    r = requests.post(
        f"{api}/proxies/redis/toxics/latency_downstream",
        json={"attributes": {"latency": 0}},
        timeout=5,
    )
    assert r.status_code == 200 and r.json()["attributes"]["latency"] == 0
    assert (
        requests.delete(f"{api}/proxies/redis/toxics/latency_downstream", timeout=5).status_code
        == 204
    )
    assert requests.get(f"{api}/proxies/redis/toxics", timeout=5).json() == []
    t0 = time.perf_counter()
    s.sendall(b"PONG")
    assert recv_exactly(s, 4) == b"PONG"
    assert time.perf_counter() - t0 < 0.3
    s.close()

    assert requests.delete(f"{api}/proxies/redis", timeout=5).status_code == 204
    assert requests.get(f"{api}/proxies", timeout=5).json() == {}
    kinds = [r["kind"] for r in journal(chaos) if r["type"] == "fault"]
    assert kinds[:3] == ["proxy_create", "toxic_add", "toxic_attach"]
    assert "toxic_remove" in kinds and kinds[-1] == "proxy_delete"


def test_errors_have_toxiproxy_shape_and_status(chaos, echo_server):
    api = chaos.api_url
    body = {"name": "p", "listen": "127.0.0.1:0", "upstream": echo_server.addr}
    assert requests.post(f"{api}/proxies", json=body, timeout=5).status_code == 201
    r = requests.post(f"{api}/proxies", json=body, timeout=5)
    assert r.status_code == 409 and r.json() == {
        "error": "proxy already exists: 'p'",
        "status": 409,
    }
    r = requests.get(f"{api}/proxies/nope", timeout=5)
    assert r.status_code == 404 and r.json()["status"] == 404
    r = requests.post(f"{api}/proxies/p/toxics", data="{not json", headers=JSON, timeout=5)
    assert r.status_code == 400 and "JSON" in r.json()["error"]
    r = requests.post(f"{api}/proxies/p/toxics", json={"type": "bandwidth"}, timeout=5)
    assert r.status_code == 400 and "'rate' is required" in r.json()["error"]
    assert requests.delete(f"{api}/proxies/p/toxics/none", timeout=5).status_code == 404


def test_reset_version_populate_and_disable_via_client(chaos, echo_server):
    c = ChaosClient(chaos.api_url)
    assert c.version()
    c.populate(
        [
            {"name": "a", "listen": "127.0.0.1:0", "upstream": echo_server.addr},
            {"name": "b", "listen": "127.0.0.1:0", "upstream": echo_server.addr},
        ]
    )
    assert sorted(c.proxies()) == ["a", "b"]
    c.add_toxic("a", "latency", attributes={"latency": 10})
    c.update_proxy("b", enabled=False)
    assert c.proxy("b")["enabled"] is False
    c.reset()
    after = c.proxies()
    assert after["a"]["toxics"] == [] and after["b"]["enabled"] is True
    c.close()
