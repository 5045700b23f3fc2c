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
