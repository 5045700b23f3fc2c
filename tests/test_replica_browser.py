"""The replica against real Chromium running the real Visdom UI (stock targets).

The page's own WebSocket frames are fed to a replica of that version afterwards; the
env requests the replica derives must be the ones the page really POSTed, and the
replica's final view must be what the page shows. Scenarios where the two versions'
browser code does something notable: plain text appends (0.3.0 reloads the env on each,
its server never bumps a text window's version) and non-ASCII text (0.2.4's hash check
fails on each: the server hashes Python's json.dumps, the page V8's JSON.stringify).
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest
import requests

from visdom_chaos.ids import ids_in_text, text_token
from visdom_chaos.wire.replica import ProtocolError, RequestEnv, make_replica

pytestmark = [pytest.mark.browser, pytest.mark.visdom, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
]
TEXT_JS = "() => Array.from(document.querySelectorAll('.react-grid-item .content')).map(e => e.innerText).join('\\n')"


def run_page(url: str, suffix: str, appends: int) -> tuple[list[tuple[float, str]], list[str], str]:
    """Open the UI, create a text window and append to it; return (frames, env post bodies, DOM text)."""
    sync_api = pytest.importorskip("playwright.sync_api")
    if not CHROMIUM.exists() and not shutil.which("chromium"):
        pytest.skip("Debian chromium is not installed")
    frames: list[tuple[float, str]] = []
    posts: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page()
            page.on(
                "request",
                lambda req: (
                    posts.append(req.post_data or "")
                    if req.method == "POST" and "/env/" in req.url
                    else None
                ),
            )
            page.on(
                "websocket",
                lambda ws: ws.on(
                    "framereceived", lambda data: frames.append((time.monotonic(), data))
                ),
            )
            page.goto(url + "/", wait_until="load", timeout=30_000)
            page.wait_for_timeout(2000)

            def post(path: str, body: dict) -> None:
                requests.post(url + path, data=json.dumps(body), timeout=10).raise_for_status()
                page.wait_for_timeout(1)

            first = {"content": text_token("t", 0, 1000) + suffix, "type": "text"}
            post("/events", {"data": [first], "win": "tw", "eid": "main", "opts": {}})
            page.wait_for_timeout(700)
            for seq in range(1, appends + 1):
                data = [{"content": text_token("t", seq, 1000 + seq) + suffix, "type": "text"}]
                post(
                    "/update",
                    {"data": data, "win": "tw", "eid": "main", "append": True, "opts": {}},
                )
                page.wait_for_timeout(400)
            page.wait_for_timeout(2000)
            dom = page.evaluate(TEXT_JS)
        finally:
            browser.close()
    return frames, posts, dom


def replay(version: str, frames: list[tuple[float, str]]) -> tuple[object, list]:
    r = make_replica(version)
    t0 = frames[0][0]
    effects: list = []
    for t, data in frames:
        effects += r.handle(data, t - t0)
    effects += r.settle()
    return r, effects


@pytest.mark.parametrize(
    ("version", "suffix", "kind"),
    [("0.2.4", "", None), ("0.2.4", " grün", "hash_mismatch"), ("0.3.0", "", "version_gap")],
)
def test_env_requests_and_view_match_the_real_page(
    visdom_factory, version: str, suffix: str, kind: str | None
) -> None:
    target = visdom_factory(version)
    appends = 4
    frames, posts, dom = run_page(target.url, suffix, appends)
    r, effects = replay(version, frames)
    requests_ = [e for e in effects if isinstance(e, RequestEnv)]
    with_sid = [b for b in posts if json.loads(b).get("sid")]
    # 0.3.0 also posts once with sid null when it mounts, before any socket message
    assert len(posts) - len(with_sid) == (1 if version == "0.3.0" else 0)
    assert len(requests_) == len(with_sid)
    errors = [e.kind for e in effects if isinstance(e, ProtocolError)]
    assert errors == ([kind] * appends if kind else [])
    shown = [(i.source, i.seq) for i in r.views()[("main", "tw")]]
    assert (
        shown
        == [(i.source, i.seq) for i in ids_in_text(dom)]
        == [("t", s) for s in range(appends + 1)]
    )
