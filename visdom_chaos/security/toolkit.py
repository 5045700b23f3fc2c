"""The probe turned on the toolkit itself: its proxy control API, its Locust wrapper, its run folders.

The API checks send what a web page can send (issue 20's curl requests) to a control API:
a running one (`--proxy-api URL`, loopback only) or, by default, a fresh one started here
from the same code the harness runs. Each check first asks the API as a JSON client
would (GET /version), so a dead API gives "error", never a false "ok".
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

from visdom_chaos.netguard import check_url
from visdom_chaos.security.common import EVIL_ORIGIN, HTTP_TIMEOUT_S, Finding, unique

# check name -> what it asks (the order of the table)
TOOLKIT_CHECKS = {
    "toolkit_api_cross_site": "toolkit: a web page's CORS-simple POST to the proxy API",
    "toolkit_api_browser": "toolkit: a browser's User-Agent or fetch metadata on the proxy API",
    "toolkit_api_rebinding": "toolkit: a DNS-rebound Host reading the proxy API",
    "toolkit_api_content_type": "toolkit: a write to the proxy API without a JSON Content-Type",
    "toolkit_locust_web_ui": "toolkit: visdom-chaos locust binds Locust's web UI to loopback",
    "toolkit_no_credentials": "toolkit: the login twin's credentials stay out of the run folder",
}

MAX_SCAN_BYTES = 64 << 20  # per file: journals beyond that are not credentials' place anyway


def _probe_proxy(api: str) -> dict[str, str]:
    # what a hostile page would create, aimed at the API itself so that creating it is harmless
    return {"name": unique("vc-probe"), "listen": "127.0.0.1:0", "upstream": api.split("://")[1]}


@contextmanager
def control_api(api_url: str | None) -> Iterator[str]:
    """The API to probe: the given one (loopback only) or a fresh ChaosServer on loopback."""
    if api_url:
        yield check_url(api_url)
        return
    from visdom_chaos.chaos import ChaosServer

    with ChaosServer("127.0.0.1:0") as server:
        yield server.api_url


def _control(api: str) -> str | None:
    """None if a JSON client is served; else why there is no verdict."""
    try:
        r = requests.get(f"{api}/version", timeout=HTTP_TIMEOUT_S)
    except requests.RequestException as exc:
        return f"the API did not answer a plain client: {type(exc).__name__}"
    if r.status_code != 200:
        return f"the API refused a plain client too (HTTP {r.status_code}): no verdict"
    return None


def _created(api: str, name: str) -> bool:
    r = requests.get(f"{api}/proxies", timeout=HTTP_TIMEOUT_S)
    return r.status_code == 200 and name in r.json()


def _write_check(title: str, api: str, headers: dict[str, str], attack: str) -> Finding:
    """POST /proxies as `headers` say: ok when refused (4xx) and nothing was created."""
    f = Finding(title)
    why = _control(api)
    if why:
        f.evidence = {"why": why}
        return f
    proxy = _probe_proxy(api)
    name = proxy["name"]
    r = requests.post(
        f"{api}/proxies", data=json.dumps(proxy), headers=headers, timeout=HTTP_TIMEOUT_S
    )
    made = _created(api, name)
    if made:
        requests.delete(f"{api}/proxies/{name}", timeout=HTTP_TIMEOUT_S)
    f.evidence = {"request": attack, "status": r.status_code, "answer": r.text[:200]}
    if made or r.status_code < 400:
        f.status = "vulnerable"
        f.evidence["why"] = f"accepted (HTTP {r.status_code}): a web page can reconfigure the proxy"
    else:
        f.status = "ok"
        f.evidence["why"] = f"refused (HTTP {r.status_code}): {_error(r)}"
    return f


def _error(r: requests.Response) -> str:
    try:
        return str(r.json().get("error", ""))[:160]
    except ValueError:
        return r.text[:160]


def check_cross_site(api: str) -> Finding:
    return _write_check(
        TOOLKIT_CHECKS["toolkit_api_cross_site"],
        api,
        {"Content-Type": "text/plain", "Origin": EVIL_ORIGIN},
        f"POST /proxies, Content-Type: text/plain, Origin: {EVIL_ORIGIN}",
    )


def check_browser(api: str) -> Finding:
    """Both signs of a browser, each alone: a Mozilla/ agent, then fetch metadata."""
    agent = _write_check(
        TOOLKIT_CHECKS["toolkit_api_browser"],
        api,
        {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64)", "Content-Type": "application/json"},
        "POST /proxies, User-Agent: Mozilla/5.0, JSON",
    )
    fetch = _write_check(
        agent.title,
        api,
        {
            "Sec-Fetch-Site": "cross-site",
            "Sec-Fetch-Mode": "cors",
            "Content-Type": "application/json",
        },
        "POST /proxies, Sec-Fetch-Site: cross-site, JSON",
    )
    worst = agent if agent.status != "ok" else fetch
    worst.evidence = {"user_agent": agent.evidence, "fetch_metadata": fetch.evidence,
                      "why": worst.evidence.get("why", "")}  # fmt: skip
    return worst


def check_content_type(api: str) -> Finding:
    return _write_check(
        TOOLKIT_CHECKS["toolkit_api_content_type"],
        api,
        {"Content-Type": "application/x-www-form-urlencoded"},
        "POST /proxies with a JSON body as a form (curl -d, or an HTML form)",
    )


def check_rebinding(api: str) -> Finding:
    f = Finding(TOOLKIT_CHECKS["toolkit_api_rebinding"])
    why = _control(api)
    if why:
        f.evidence = {"why": why}
        return f
    r = requests.get(
        f"{api}/proxies", headers={"Host": "rebind.evil.example:8474"}, timeout=HTTP_TIMEOUT_S
    )
    leaked = r.status_code == 200
    f.evidence = {
        "request": "GET /proxies, Host: rebind.evil.example:8474",
        "status": r.status_code,
    }
    f.status = "vulnerable" if leaked else "ok"
    f.evidence["why"] = (
        "answered with the configuration: a rebound page reads it"
        if leaked
        else f"refused (HTTP {r.status_code}): {_error(r)}"
    )
    return f


def check_locust_web_ui() -> Finding:
    from visdom_chaos.commands.tools import web_host_default

    f = Finding(TOOLKIT_CHECKS["toolkit_locust_web_ui"])
    argv = web_host_default(["--headless"])
    host = argv[argv.index("--web-host") + 1] if "--web-host" in argv else "*"
    f.evidence = {"locust_argv": argv}
    f.status = "ok" if host in ("127.0.0.1", "::1", "localhost") else "vulnerable"
    f.evidence["why"] = (
        f"the web UI binds {host} unless the user passes --web-host"
        if f.status == "ok"
        else "the web UI binds every interface: anyone on the network can start load"
    )
    return f


def scan_for_secrets(folder: Path, secrets: Iterable[str]) -> list[str]:
    """Files under `folder` holding any of `secrets` (their paths, never the secret)."""
    needles = sorted({s.encode() for s in secrets if len(s) >= 8})
    hits = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and not p.is_symlink()):
        try:
            with open(path, "rb") as fh:
                data = fh.read(MAX_SCAN_BYTES)
        except OSError:
            continue
        if any(n in data for n in needles):
            hits.append(str(path.relative_to(folder)))
    return hits


def check_no_credentials(run_dir: Path, secrets: list[str]) -> Finding:
    f = Finding(TOOLKIT_CHECKS["toolkit_no_credentials"])
    if not secrets:
        f.evidence = {"why": "no login twin ran, so there were no credentials to look for"}
        return f
    hits = scan_for_secrets(run_dir, secrets)
    f.evidence = {"secrets_looked_for": len({s for s in secrets if len(s) >= 8}), "files": hits}
    f.status = "vulnerable" if hits else "ok"
    f.evidence["why"] = (
        f"a credential of the login twin is in {', '.join(hits[:5])}"
        if hits
        else "no password, password digest, cookie secret or cookie value in the run folder"
    )
    return f


def api_steps(api: Callable[[], str]) -> dict[str, Callable[[], Finding]]:
    """The API checks, each asking `api()` for the URL (started once, lazily, by the caller)."""
    return {
        "toolkit_api_cross_site": lambda: check_cross_site(api()),
        "toolkit_api_browser": lambda: check_browser(api()),
        "toolkit_api_rebinding": lambda: check_rebinding(api()),
        "toolkit_api_content_type": lambda: check_content_type(api()),
    }


__all__ = [
    "TOOLKIT_CHECKS",
    "api_steps",
    "check_locust_web_ui",
    "check_no_credentials",
    "control_api",
    "scan_for_secrets",
]
