"""The real page behind the chaos proxy: dropped frames heal, a reset socket stays dead.

Reference behaviour for the replica's fidelity check (issue 8): what stock Chromium +
stock Visdom UI actually do under the same faults.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import requests
from test_browser_index import built_target  # tests/ is on sys.path (rootdir, no package)

from visdom_chaos.ids import ids_in_window
from visdom_chaos.journal import JournalWriter, read_journal
from visdom_chaos.wire.browser import BrowserSubscriber
from visdom_chaos.wire.training import TrainingSource

pytestmark = [pytest.mark.browser, pytest.mark.visdom]

BATCH = 10
BADGE_JS = (
    "Array.from(document.querySelectorAll('.navbar-form button.btn'))"
    ".map(b => b.textContent.trim()).filter(t => t === 'online' || t === 'offline')"
)


def truth_seqs(url: str, win: str) -> list[int]:
    window = requests.post(f"{url}/win_data", json={"eid": "main", "win": None}, timeout=30).json()[
        win
    ]
    return [i.seq for i in ids_in_window(window)]


def shown(sub: BrowserSubscriber, win: str) -> list[int]:
    return [i.seq for i in sub.read_views().get(win, [])]


def appends(src: TrainingSource, n: int, server_log: Path | None = None) -> None:
    for _ in range(n):
        if not src.append():
            # Stock Visdom's #934 (closed-socket-write): a POST whose broadcast meets the
            # socket the proxy just reset answers 500 after the update is stored. That is
            # the server's known bug, not the page's; anything else fails the test.
            log = server_log.read_text(errors="replace") if server_log else ""
            assert "WebSocketClosedError" in log, "append failed for another reason"
        time.sleep(0.03)  # paced: the race at full speed is another matter (docs/browser.md)


def env_requests(sub: BrowserSubscriber) -> int:
    return sub.env_requests


@pytest.mark.parametrize("version", ["0.2.4", "0.3.0"])
@pytest.mark.parametrize("fault", ["ws_drop", "reset_peer"])
def test_real_page_under_proxy_faults(version: str, fault: str, tmp_path: Path) -> None:
    proxyproc = pytest.importorskip(
        "visdom_chaos.proxyproc", reason="chaos proxy runner not available"
    )
    targets, built = built_target(version)
    run = tmp_path / "run"
    (run / "journal").mkdir(parents=True)
    with (
        targets.start_built(built, tmp_path / "target") as target,
        JournalWriter(run / "journal" / "clients-browser.jsonl", role="clients") as journal,
    ):
        proxy = proxyproc.ProxyProcess(run, target.port)
        try:
            sub = BrowserSubscriber(proxy.url, "br-0", journal, sample_interval_s=1.0)
            sub.start()
            try:
                src = TrainingSource(target.url, "src-0", journal, kind="line")  # sources go direct
                assert src.create()
                deadline = time.monotonic() + 10
                while not shown(sub, src.win) and time.monotonic() < deadline:
                    time.sleep(0.05)
                appends(src, BATCH)
                deadline = (
                    time.monotonic() + 10
                )  # the page is level with the server before the fault
                while shown(sub, src.win) != list(range(BATCH + 1)) and time.monotonic() < deadline:
                    time.sleep(0.05)
                before_env = env_requests(sub)
                if fault == "ws_drop":  # lose 5 window_update frames, the socket stays up
                    proxy.client.add_toxic(
                        proxyproc.PROXY_NAME,
                        "ws_drop",
                        name="drop",
                        stream="downstream",
                        attributes={"match": {"command": "window_update"}, "limit": 5},
                    )
                else:  # RST the page's connections on the next server byte
                    proxy.client.add_toxic(
                        proxyproc.PROXY_NAME,
                        "reset_peer",
                        name="rst",
                        stream="downstream",
                        attributes={"timeout": 0},
                    )
                appends(src, BATCH, target.log_path)
                time.sleep(1.0)
                if fault == "reset_peer":
                    proxy.client.remove_toxic(proxyproc.PROXY_NAME, "rst")
                # ws_drop stays (its limit is spent): detaching a WebSocket toxic from a live
                # connection currently kills it in the proxy (chaos/link.py feed TypeError).
                appends(src, BATCH)
                truth = truth_seqs(target.url, src.win)
                assert truth == list(range(3 * BATCH + 1))
                # Heal within 8 s; a dead socket gets 3 s to (not) come back.
                deadline = time.monotonic() + (8 if fault == "ws_drop" else 3)
                view = shown(sub, src.win)
                while view != truth and time.monotonic() < deadline:
                    time.sleep(0.2)
                    view = shown(sub, src.win)
                badge = sub.evaluate(BADGE_JS)
                resyncs = env_requests(sub) - before_env
                conns = sub.conn
                healed: list[int] = []
                if (
                    fault == "reset_peer"
                ):  # the user clicks "offline": a new socket, the env re-fetched
                    assert sub.click_online_badge() == "offline"
                    deadline = time.monotonic() + 8
                    while healed != truth and time.monotonic() < deadline:
                        time.sleep(0.2)
                        healed = shown(sub, src.win)
            finally:
                sub.stop()
        finally:
            proxy.stop()

    records = list(read_journal(run / "journal" / "clients-browser.jsonl"))
    faults = [r for r in read_journal(run / "journal" / "faults.jsonl") if r["type"] == "fault"]
    assert faults, "the proxy journalled no fault"
    reasons = {
        r["conn"]: r["reason"]
        for r in records
        if r["type"] == "disconnect" and r["client"] == "br-0"
    }
    if fault == "ws_drop":
        # Both UIs notice the gap (0.2.4: hash mismatch, 0.3.0: version) and re-fetch the env.
        assert view == truth, f"the page did not heal: shows {len(view)} of {len(truth)}"
        assert resyncs >= 1, "no full-env re-request after dropped updates"
        assert badge == ["online"] and conns == 1 and reasons == {1: "end"}
    else:
        # Neither release reconnects by itself, only when the user clicks the badge: until
        # then the page stays on what it had before the reset, while the server moves on.
        assert view == list(range(BATCH + 1)), view
        assert badge == ["offline"] and conns == 1
        assert healed == truth, (
            f"clicking the badge did not bring the page back: {len(healed)} shown"
        )
        assert reasons == {1: "server_closed", 2: "end"}
