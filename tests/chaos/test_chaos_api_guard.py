"""The control API refuses what a web page can send, and keeps serving Toxiproxy's clients.

Issue 20's reproduction, against a real ChaosServer on loopback: a CORS-simple POST from
a foreign Origin, a browser's User-Agent and a rebound Host were all accepted before.
Each attack is also checked for having had no effect (no proxy created, nothing read).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time

import pytest
import requests
from chaoshelp import recv_exactly, serve_process

from visdom_chaos.chaos import ChaosClient, ChaosServer
from visdom_chaos.chaos.apiguard import TOKEN_ENV, GuardPolicy, host_name, refusal
from visdom_chaos.chaos.spec import ChaosError

pytest_plugins = ["chaoshelp"]

JSON = {"Content-Type": "application/json"}
SSH = '{"name": "ssh", "listen": "127.0.0.1:0", "upstream": "127.0.0.1:22"}'


# -- the rule, as a pure function ---------------------------------------------------------
def _refused(method: str, headers: dict[str, str], policy: GuardPolicy | None = None):
    from multidict import CIMultiDict  # aiohttp's header type: case-insensitive

    hdrs = CIMultiDict({"Host": "127.0.0.1:8474", **headers})
    return refusal(method, hdrs, policy or GuardPolicy())


@pytest.mark.parametrize(
    "method,headers,status",
    [
        ("GET", {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64)"}, 403),
        ("GET", {"Sec-Fetch-Site": "cross-site"}, 403),
        ("POST", {"Origin": "http://evil.example", **JSON, "Content-Length": "2"}, 403),
        ("POST", {"Origin": "null", **JSON, "Content-Length": "2"}, 403),
        ("GET", {"Host": "evil.example:8474"}, 403),
        ("GET", {"Host": "127.0.0.1.nip.io:8474"}, 403),  # resolves to 127.0.0.1: never resolved
        ("POST", {"Content-Type": "text/plain", "Content-Length": "2"}, 415),
        ("POST", {"Content-Length": "2"}, 415),
        (
            "PATCH",
            {"Content-Type": "application/x-www-form-urlencoded", "Content-Length": "2"},
            415,
        ),
        ("POST", {"Transfer-Encoding": "chunked"}, 415),
    ],
)
def test_browser_and_cross_site_requests_are_refused(method, headers, status):
    why = _refused(method, headers)
    assert why is not None and why.status == status
    assert "\n" not in why.reason and why.reason


@pytest.mark.parametrize(
    "method,headers",
    [
        ("GET", {"User-Agent": "python-requests/2.31"}),
        ("GET", {"Host": "localhost:8474"}),
        ("GET", {"Host": "[::1]:8474"}),
        ("GET", {"Host": "127.8.9.10"}),
        ("GET", {"Host": "lab.localhost:8474"}),
        ("POST", {"Content-Type": "application/json; charset=utf-8", "Content-Length": "2"}),
        ("POST", {"Content-Length": "0"}),  # toxiproxy-python's POST /reset
        ("POST", {}),
        ("DELETE", {}),
        ("POST", {"Origin": "http://127.0.0.1:8474", **JSON, "Content-Length": "2"}),  # own origin
    ],
)
def test_programs_on_this_machine_are_served(method, headers):
    assert _refused(method, headers) is None


def test_the_bound_host_and_named_hosts_are_served_others_not():
    policy = GuardPolicy.from_env(None, ["lab.example"])
    assert _refused("GET", {"Host": "lab.example:8474"}, policy) is None
    assert _refused("GET", {"Host": "LAB.example"}, policy) is None
    assert _refused("GET", {"Host": "other.example:8474"}, policy) is not None


def test_host_name_parsing():
    assert host_name("127.0.0.1:8474") == "127.0.0.1"
    assert host_name("[::1]:80") == "::1"
    assert host_name("Example.COM") == "example.com"


def test_the_token_is_required_when_set_and_compared_whole():
    policy = GuardPolicy(token="s3cret")
    assert _refused("GET", {}, policy).status == 401
    assert _refused("GET", {"Authorization": "Bearer s3cre"}, policy).status == 401
    assert _refused("GET", {"Authorization": "s3cret"}, policy).status == 401
    assert _refused("GET", {"Authorization": "Bearer s3cret"}, policy) is None
    # a browser is refused as a browser even with the token
    assert _refused("GET", {"Authorization": "Bearer s3cret", "Origin": "http://x"}, policy)


def test_the_token_comes_from_the_environment_unless_given(monkeypatch):
    monkeypatch.setenv(TOKEN_ENV, "from-env")
    assert GuardPolicy.from_env().token == "from-env"
    assert GuardPolicy.from_env("given").token == "given"
    monkeypatch.setenv(TOKEN_ENV, "")
    assert GuardPolicy.from_env().token is None


# -- the issue's requests, against a real server --------------------------------------------
def test_the_issues_requests_are_refused_and_change_nothing(chaos):
    api = chaos.api_url
    simple = requests.post(
        f"{api}/proxies",
        data=SSH,
        headers={"Content-Type": "text/plain", "Origin": "http://evil.example"},
        timeout=5,
    )
    assert simple.status_code == 403 and "Origin" in simple.json()["error"]
    browser = requests.post(
        f"{api}/proxies", data=SSH, headers={"User-Agent": "Mozilla/5.0", **JSON}, timeout=5
    )
    assert browser.status_code == 403
    assert browser.json() == {
        "error": "User agent not allowed: the control API refuses browsers",
        "status": 403,
    }
    rebound = requests.get(f"{api}/proxies", headers={"Host": "evil.example:8474"}, timeout=5)
    assert rebound.status_code == 403 and "DNS rebinding" in rebound.json()["error"]
    assert "upstream" not in rebound.text
    plain = requests.post(f"{api}/proxies", data=SSH, timeout=5)  # curl -d without -H
    assert plain.status_code == 415 and "application/json" in plain.json()["error"]
    assert chaos.proxies() == {}  # none of them created the proxy
    assert chaos.guard.refused == 4


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_as_the_issue_typed_it(chaos):
    def curl(*args: str) -> tuple[int, str]:
        out = subprocess.run(
            ["curl", "-s", "-w", "\n%{http_code}", *args],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout
        body, _, code = out.rpartition("\n")
        return int(code), body

    api = chaos.api_url
    assert curl("-XPOST", "-H", "Content-Type: text/plain", "-H", "Origin: http://evil.example",
                "-d", SSH, f"{api}/proxies")[0] == 403  # fmt: skip
    assert curl("-XPOST", "-A", "Mozilla/5.0", "-H", "Content-Type: application/json",
                "-d", SSH, f"{api}/proxies")[0] == 403  # fmt: skip
    assert curl("-H", "Host: evil.example:8474", f"{api}/proxies")[0] == 403
    assert curl("-XPOST", "-d", SSH, f"{api}/proxies")[0] == 415
    assert chaos.proxies() == {}
    code, body = curl("-XPOST", "-H", "Content-Type: application/json", "-d", SSH, f"{api}/proxies")
    assert code == 201 and '"ssh"' in body
    assert curl("-XPOST", f"{api}/reset")[0] == 204
    assert curl("-XDELETE", f"{api}/proxies/ssh")[0] == 204


def test_toxiproxy_python_still_drives_the_proxy(chaos, echo_server):
    toxiproxy = pytest.importorskip("toxiproxy")
    host, port = chaos.api.rsplit(":", 1)
    server = toxiproxy.Toxiproxy()
    server.update_api_consumer(host, int(port))
    assert b"chaos" in server.version()
    proxy = server.create(upstream=echo_server.addr, name="echo")
    proxy.add_toxic(type="latency", attributes={"latency": 300})
    assert list(proxy.toxics()) == ["latency_downstream"]
    lhost, lport = chaos.listen_of("echo")
    s = socket.create_connection((lhost, lport), timeout=5)
    t0 = time.perf_counter()
    s.sendall(b"PING")
    assert recv_exactly(s, 4) == b"PING" and time.perf_counter() - t0 >= 0.3
    assert server.reset()  # bodiless POST /reset: served
    assert proxy.toxics() == {}
    s.close()
    proxy.disable()
    assert chaos.proxy("echo")["enabled"] is False
    assert server.destroy(proxy)
    assert server.proxies() == {}
    assert chaos.guard.refused == 0


def test_a_token_server_serves_only_clients_with_it(tmp_path, monkeypatch):
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    with ChaosServer("127.0.0.1:0", api_token="t0ken") as srv:
        assert requests.get(f"{srv.api_url}/version", timeout=5).status_code == 401
        with pytest.raises(ChaosError, match="401"):
            ChaosClient(srv.api_url).proxies()
        assert ChaosClient(srv.api_url, token="t0ken").proxies() == {}
        monkeypatch.setenv(TOKEN_ENV, "t0ken")
        assert ChaosClient(srv.api_url).version().endswith("chaos")  # the client reads it too


def test_serve_takes_the_token_from_its_flag(tmp_path):
    proc, ready = serve_process(tmp_path, "--api-token", "flag-token")
    try:
        api = "http://" + ready["api"]
        assert requests.get(f"{api}/proxies", timeout=5).status_code == 401
        auth = {"Authorization": "Bearer flag-token"}
        assert requests.get(f"{api}/proxies", headers=auth, timeout=5).status_code == 200
    finally:
        proc.terminate()
        proc.wait(10)
