"""The real stock bundle of each version, served by a patched target, in headless
Chromium: the resume shim is loaded, updates render, and after the page's TCP
connections are killed (`ss -K`) the shim reconnects and resumes: the page shows
every update, without an env reload and without page errors."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest
import requests

from visdom_chaos.ids import ids_in_window, text_token
from visdom_chaos.journal import JournalWriter

pytestmark = [pytest.mark.browser, pytest.mark.visdom]


def append(url: str, eid: str, win: str, i: int) -> None:
    r = requests.post(
        f"{url}/update",
        timeout=10,
        json={
            "eid": eid,
            "win": win,
            "append": True,
            "opts": {},
            "data": [{"content": text_token("src-0", i, time.time_ns()), "type": "text"}],
        },
    )
    assert r.status_code == 200


def truth(url: str, eid: str, win: str) -> list:
    r = requests.post(f"{url}/win_data", json={"eid": eid, "win": win}, timeout=10)
    return ids_in_window(r.json())


def wait_view(sub, win: str, want: list, timeout: float) -> list:
    deadline = time.monotonic() + timeout
    seen: list = []
    while time.monotonic() < deadline:
        seen = sub.read_views().get(win, [])
        if seen == want:
            break
        time.sleep(0.2)
    return seen


def kill_client_sockets(port: int) -> None:
    """Abort every client-side TCP socket towards the server (the network drops)."""
    proc = subprocess.run(
        ["ss", "-K", "dst", "127.0.0.1", "dport", "=", str(port)],
        capture_output=True,
        text=True,
        timeout=10,
    )
    if proc.returncode != 0:
        pytest.skip(f"ss -K unavailable: {proc.stderr.strip()[:200]}")


def test_patched_page_resumes_after_connection_kill(visdom_factory, version, tmp_path: Path):
    from visdom_chaos.wire.browser import DEFAULT_CHROMIUM, BrowserSubscriber

    if not DEFAULT_CHROMIUM.is_file():
        pytest.skip(f"chromium not installed at {DEFAULT_CHROMIUM}")
    if shutil.which("ss") is None:
        pytest.skip("ss (iproute2) not installed")
    target = visdom_factory(version, "patched")
    url = target.url
    requests.post(
        f"{url}/events",
        timeout=10,
        json={"eid": "br", "win": "t", "opts": {}, "data": [{"content": "start", "type": "text"}]},
    )
    with JournalWriter(tmp_path / "journal" / "clients.jsonl", role="clients") as journal:
        sub = BrowserSubscriber(url, "br-0", journal, env="br", run_dir=tmp_path)
        sub.start()
        try:
            assert sub.evaluate("window.WebSocket.visdomResume === true"), "resume shim not loaded"
            for i in range(5):
                append(url, "br", "t", i)
            assert wait_view(sub, "t", truth(url, "br", "t"), 15) == truth(url, "br", "t")
            env_posts = sub.env_requests
            kill_client_sockets(target.port)
            for i in range(5, 12):
                append(url, "br", "t", i)
            want = truth(url, "br", "t")
            assert [e.seq for e in want] == list(range(12))
            assert wait_view(sub, "t", want, 20) == want, "page did not catch up after the drop"
            assert sub.env_requests == env_posts, "env reloaded"
            assert not sub.page_errors, sub.page_errors[:3]
        finally:
            sub.stop()
    log = target.log_path.read_text(errors="replace")
    assert "resume" in log  # the page's resume command reached the server


@pytest.mark.parametrize("variant", ["stock", "patched"])
def test_plot_updates_reload_the_env_on_stock_024_and_not_with_0011(
    visdom_factory, variant, tmp_path: Path
):
    # 0.2.4's page copies the rendered plot pane (with Plotly's write-backs) into the copy
    # the next patch's md5 is checked against: every other plot update re-fetches the env.
    # Patch 0011 (visdom-hashcopy.js) keeps the copy _checkWindow computed.
    from visdom_chaos.wire.browser import DEFAULT_CHROMIUM, BrowserSubscriber
    from visdom_chaos.wire.training import TrainingSource

    if not DEFAULT_CHROMIUM.is_file():
        pytest.skip(f"chromium not installed at {DEFAULT_CHROMIUM}")
    target = visdom_factory("0.2.4", variant)
    url = target.url
    with JournalWriter(tmp_path / "journal" / "clients.jsonl", role="clients") as journal:
        source = TrainingSource(url, "src-0", journal, env="plot", kind="line")
        assert source.create()
        sub = BrowserSubscriber(url, "br-0", journal, env="plot", run_dir=tmp_path)
        sub.start()
        try:
            assert sub.evaluate("window.__visdomHashCopy === true") is (variant == "patched")
            for _ in range(30):  # 5 updates/s: further apart than the 100 ms render batch
                assert source.append()
                time.sleep(0.2)
            want = truth(url, "plot", source.win)
            assert [e.seq for e in want] == list(range(31))
            assert wait_view(sub, source.win, want, 20) == want
            refetches = sub.env_refetches
            print(f"{variant}: {refetches} env re-fetches for 30 line updates")
            assert not sub.page_errors, sub.page_errors[:3]
        finally:
            sub.stop()
    if variant == "stock":
        assert refetches >= 10, refetches  # ~15: every other update
    else:
        assert refetches == 0


class _StockPageSubscriber:
    """Factory: a BrowserSubscriber whose page gets the patched index.html with the
    patches' scripts (visdom-resume.js, visdom-hashcopy.js) served empty: the stock
    bundle alone, i.e. a stock page (an old cached page) on a patched server."""

    @staticmethod
    def make(*args, **kwargs):
        from visdom_chaos.wire.browser import BrowserSubscriber

        class StockPage(BrowserSubscriber):
            def _setup(self, context, page):
                page.route(
                    "**/js/visdom-*.js*",
                    lambda route: route.fulfill(
                        status=200, content_type="application/javascript", body=""
                    ),
                )
                super()._setup(context, page)

        return StockPage(*args, **kwargs)


@pytest.mark.parametrize("page_kind", ["patched", "stock"])
def test_text_appends_on_a_patched_server_in_chromium(
    visdom_factory, version, page_kind, tmp_path: Path
):
    """#695 (patches 0.2.4/0014, 0.3.0/0011): the patched page says hello and gets
    `text_append` frames of constant size; a stock page (no shim) on the same patched
    server gets the stock whole-text frames. Both show exactly the server's text, with
    no env re-fetch and no page error."""
    import json

    from visdom_chaos.wire.browser import DEFAULT_CHROMIUM, BrowserSubscriber

    if not DEFAULT_CHROMIUM.is_file():
        pytest.skip(f"chromium not installed at {DEFAULT_CHROMIUM}")
    target = visdom_factory(version, "patched")
    url = target.url
    requests.post(
        f"{url}/events",
        timeout=10,
        json={"eid": "ta", "win": "t", "opts": {}, "data": [{"content": "start", "type": "text"}]},
    )
    journal_path = tmp_path / "journal" / "clients.jsonl"
    make = BrowserSubscriber if page_kind == "patched" else _StockPageSubscriber.make
    n = 60
    with JournalWriter(journal_path, role="clients") as journal:
        sub = make(url, "br-0", journal, env="ta", run_dir=tmp_path)
        sub.start()
        try:
            shim = sub.evaluate("window.WebSocket.visdomResume === true")
            assert shim is (page_kind == "patched")
            for i in range(n):
                append(url, "ta", "t", i)
                time.sleep(0.02)
            want = truth(url, "ta", "t")
            assert [e.seq for e in want] == list(range(n))
            assert wait_view(sub, "t", want, 20) == want
            assert sub.env_refetches == 0
            assert not sub.page_errors, sub.page_errors[:3]
        finally:
            sub.stop()
    frames = [
        r
        for r in map(json.loads, journal_path.read_text().splitlines())
        if r.get("type") == "recv" and r.get("win") == "t"
    ]
    updates = [r for r in frames if r.get("command") != "window"]
    assert len(updates) == n
    sizes = [r["bytes"] for r in updates]
    if page_kind == "patched":
        assert {r["command"] for r in updates} == {"text_append"}
        assert max(sizes) - min(sizes) < 16, (min(sizes), max(sizes))
    else:
        assert {r["command"] for r in updates} == {"window_update"}
        assert sizes[-1] > 5 * sizes[0], (sizes[0], sizes[-1])
    log = target.log_path.read_text(errors="replace")
    assert ('{"cmd":"hello"' in log) is (page_kind == "patched")  # JSON.stringify
