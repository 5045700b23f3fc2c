"""With login enabled (-enable_login): which endpoints answer without the cookie?

Visdom reads its cookie secret from ~/.visdom/COOKIE_SECRET, so the login target runs
with a HOME of its own: the user's own ~/.visdom is never touched. That HOME is a temporary
folder outside the run folder, removed when the target stops, and the password and cookie
secret are fresh per target: run folders and reports carry no credential (the probe's
`toolkit_no_credentials` check greps the run folder for every one of them).
"""

from __future__ import annotations

import hashlib
import json
import secrets
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from visdom_chaos.security.common import (
    EVIL_ORIGIN,
    HTTP_TIMEOUT_S,
    Finding,
    text_window,
    try_ws,
    unique,
)
from visdom_chaos.targets import Target, TargetError, build_target, start_built

USERNAME = "probe"


@dataclass
class LoginTarget:
    url: str
    username: str
    password: str = field(repr=False)
    target: Target | None = field(default=None, repr=False)  # None: someone else's server
    home: Path | None = field(default=None, repr=False)  # removed at stop
    # what must never land in a run folder: password, its digest, cookie secret and values
    secrets: list[str] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        self.secrets += [self.password, password_digest(self.password)]

    def stop(self) -> None:
        if self.target is not None:
            self.target.stop()
        if self.home is not None:
            # -force_new_cookie: the server may have written a secret of its own
            secret = self.home / ".visdom" / "COOKIE_SECRET"
            if secret.is_file():
                self.secrets.append(secret.read_text(errors="replace").strip())
            shutil.rmtree(self.home, ignore_errors=True)


def password_digest(password: str) -> str:
    """What the browser's login form posts (Visdom compares sha256 hex digests)."""
    return hashlib.sha256(password.encode()).hexdigest()


def login_starter(version: str, variant: str, run_dir: Path) -> Callable[[], LoginTarget]:
    """A callable that starts `version:variant` with -enable_login under `run_dir`/security-login."""

    def start() -> LoginTarget:
        built = build_target(version, variant)
        root = Path(run_dir) / "security-login"
        home = Path(tempfile.mkdtemp(prefix="visdom-chaos-login-home-"))
        (home / ".visdom").mkdir(parents=True, exist_ok=True)
        password, cookie_secret = secrets.token_urlsafe(18), secrets.token_hex(16)
        # start_built treats the API's 400/401 without the cookie as "up" for -enable_login
        try:
            target = start_built(
                built,
                root,
                extra_args=["-enable_login", "-force_new_cookie"],
                env_overrides={
                    "HOME": str(home),
                    "VISDOM_USE_ENV_CREDENTIALS": "1",
                    "VISDOM_USERNAME": USERNAME,
                    "VISDOM_PASSWORD": password,
                    "VISDOM_COOKIE": cookie_secret,
                },
            )
        except BaseException:
            shutil.rmtree(home, ignore_errors=True)
            raise
        login = LoginTarget(target.url, USERNAME, password, target, home)
        login.secrets.append(cookie_secret)
        return login

    return start


def log_in(base: str, username: str, password: str) -> requests.Session:
    """The browser's login: POST / with the sha256 of the password; the cookie comes back."""
    s = requests.Session()
    r = s.post(
        f"{base}/",
        data=json.dumps({"username": username, "password": password_digest(password)}),
        timeout=HTTP_TIMEOUT_S,
    )
    if r.status_code != 200 or not s.cookies:
        raise ValueError(f"login failed: HTTP {r.status_code}, cookies {list(s.cookies.keys())}")
    return s


def _http(method: str, base: str, path: str, body: Any = None) -> dict[str, Any]:
    """One request without any cookie; 'answered' = 2xx with a non-empty body."""
    data = None if body is None else (body if isinstance(body, str) else json.dumps(body))
    try:
        r = requests.request(method, f"{base}{path}", data=data, timeout=HTTP_TIMEOUT_S)
    except requests.RequestException as exc:
        return {"status": None, "answered": False, "detail": type(exc).__name__}
    answered = 200 <= r.status_code < 300 and bool(r.content.strip())
    return {
        "status": r.status_code,
        "answered": answered,
        "bytes": len(r.content),
        "detail": r.text[:120] if answered else "",
    }


def endpoint_matrix(base: str, cookie_session: requests.Session) -> dict[str, dict[str, Any]]:
    """Every endpoint the transport uses, asked without the cookie."""
    win = unique("loginprobe")
    cookie_session.post(
        f"{base}/events", data=json.dumps(text_window(win, "with-cookie")), timeout=HTTP_TIMEOUT_S
    )
    out: dict[str, dict[str, Any]] = {}
    for path in ("/socket", "/vis_socket"):
        att = try_ws(base, path)
        out[path] = {**att.to_json(), "answered": bool(att.messages)}
    out["GET /socket_wrap"] = _http("GET", base, "/socket_wrap")
    out["POST /vis_socket_wrap"] = _http("POST", base, "/vis_socket_wrap", {})
    out["POST /win_data"] = _http("POST", base, "/win_data", {"eid": "main", "win": None})
    out["GET /env/main"] = _http("GET", base, "/env/main")
    out["POST /env_state"] = _http("POST", base, "/env_state", {})
    out["POST /win_exists"] = _http("POST", base, "/win_exists", {"win": win, "eid": "main"})
    out["POST /win_hash"] = _http("POST", base, "/win_hash", {"win": win, "env": "main"})
    created = unique("anon")
    out["POST /events"] = _http("POST", base, "/events", text_window(created, "no-cookie"))
    out["POST /update"] = _http(
        "POST",
        base,
        "/update",
        {
            "data": [{"content": "no-cookie", "type": "text"}],
            "win": win,
            "eid": "main",
            "append": True,
        },
    )
    # A write counts even with an empty answer: did the window appear / change?
    check = cookie_session.post(
        f"{base}/win_data", data=json.dumps({"eid": "main", "win": None}), timeout=HTTP_TIMEOUT_S
    )
    state = check.text if check.status_code == 200 else ""
    out["POST /events"]["wrote"] = created in state
    out["POST /update"]["wrote"] = "no-cookie" in state
    for key in ("POST /events", "POST /update"):
        out[key]["answered"] = out[key]["answered"] or out[key]["wrote"]
    return out


def cookie_flags(session: requests.Session) -> dict[str, Any]:
    """What protects the login cookie from a page on another site."""
    out = {}
    for c in session.cookies:
        out[c.name] = {
            "httponly": c.has_nonstandard_attr("HttpOnly"),
            "samesite": c.get_nonstandard_attr("SameSite"),
            "secure": bool(c.secure),
            "expires": c.expires,
        }
    return out


def cross_origin_with_cookie(base: str, session: requests.Session) -> Finding:
    """CSWSH as it happens under login: the victim's browser sends its cookie with the foreign page's handshake."""
    f = Finding(
        f"with -enable_login: cross-origin /socket handshake carrying the login cookie (Origin: {EVIL_ORIGIN})"
    )
    cookie = "; ".join(f"{c.name}={c.value}" for c in session.cookies)
    evil = try_ws(base, "/socket", origin=EVIL_ORIGIN, cookie=cookie)
    flags = cookie_flags(session)
    f.evidence = {"evil_origin_with_cookie": evil.to_json(), "cookie": flags}
    lax = all(v["samesite"] and v["samesite"].lower() in ("lax", "strict") for v in flags.values())
    if evil.status == 101 and evil.messages:
        f.status = "vulnerable"
        f.evidence["why"] = (
            f"a foreign page with the user's cookie got {evil.messages[0]!r}: it reads the logged-in "
            "session"
            + (
                ""
                if lax
                else "; the cookie has no SameSite, so browsers that do not "
                "default to Lax send it cross-site"
            )
        )
    else:
        f.status = "ok"
        f.evidence["why"] = (
            f"refused (HTTP {evil.status})"
            if evil.status != 101
            else "handshake accepted but nothing was sent to the foreign page"
        )
    return f


def check_login(start: Callable[[], LoginTarget]) -> dict[str, Finding]:
    """Two findings from one login target: `login_bypass` and `origin_with_login`."""
    f = Finding("with -enable_login: endpoints that answer without the cookie")
    g = Finding(
        f"with -enable_login: cross-origin /socket handshake carrying the login cookie (Origin: {EVIL_ORIGIN})"
    )
    try:
        target = start()
    except (TargetError, OSError) as exc:
        f.evidence = g.evidence = {"why": f"could not start a login target: {exc}"[:300]}
        return {"login_bypass": f, "origin_with_login": g}
    try:
        session = log_in(target.url, target.username, target.password)
        target.secrets += [c.value for c in session.cookies if c.value]
        control = session.post(
            f"{target.url}/win_exists",
            data=json.dumps({"win": "x", "eid": "main"}),
            timeout=HTTP_TIMEOUT_S,
        )
        matrix = endpoint_matrix(target.url, session)
        g = cross_origin_with_cookie(target.url, session)
    except (requests.RequestException, ValueError) as exc:
        f.evidence = {"why": f"probe failed: {type(exc).__name__}: {exc}"[:300]}
        g.evidence = dict(f.evidence) if not g.evidence else g.evidence
        return {"login_bypass": f, "origin_with_login": g}
    finally:
        target.stop()
    open_ = sorted(k for k, v in matrix.items() if v["answered"])
    f.evidence = {
        "with_cookie_control": f"HTTP {control.status_code}",
        "endpoints": matrix,
        "answered_without_cookie": open_,
    }
    if control.status_code != 200:
        f.evidence["why"] = "the logged-in control request failed: no verdict"
        return {"login_bypass": f, "origin_with_login": g}
    f.status = "vulnerable" if open_ else "ok"
    f.evidence["why"] = (
        f"{len(open_)} endpoint(s) answer without the cookie: {', '.join(open_)}"
        if open_
        else f"all {len(matrix)} endpoints refuse or say nothing without the cookie"
    )
    return {"login_bypass": f, "origin_with_login": g}
