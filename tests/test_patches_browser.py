"""The patched page of each version in headless Chromium: the bundle rebuilt from the
release's source map with the series' js/ part (0.2.4: main.js, Delivery.js, Legacy.js;
0.3.0: ApiProvider.js, Delivery.js, Legacy.js). Updates render, and after the page's TCP
connections are killed (`ss -K`) the page reconnects and resumes: it shows every
update, without an env reload and without page errors."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest
import requests
from conftest import chaos_proxy  # tests/ is on sys.path

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


def text_window(url: str, eid: str, content: str = "s") -> None:
    """A text window `t` in env `eid`, the page's subject."""
    requests.post(
        f"{url}/events",
        timeout=10,
        json={"eid": eid, "win": "t", "opts": {}, "data": [{"content": content, "type": "text"}]},
    )


def wait_view(sub, win: str, want: list, timeout: float) -> list:
    deadline = time.monotonic() + timeout
    seen: list = []
    while time.monotonic() < deadline:
        seen = sub.read_views().get(win, [])
        if seen == want:
            break
        time.sleep(0.2)
    return seen


def patched_page_loaded(sub, version: str) -> bool:
    """Whether the page runs the series' browser fix: it is in the bundle itself (the
    indicator's "reconnecting" state), on both versions."""
    return sub.evaluate(
        "fetch(document.querySelector('script[src*=\"js/main.js\"]').src)"
        ".then((r) => r.text()).then((t) => t.includes('reconnecting'))"
    )


# Every text the navbar's connection button shows, from now on.
WATCH_INDICATOR = """() => {
  window.__indicator = [];
  const seen = () => {
    for (const b of document.querySelectorAll('button')) {
      const t = b.textContent;
      if (['online', 'offline', 'reconnecting', 'resumed'].includes(t)
          && window.__indicator[window.__indicator.length - 1] !== t) {
        window.__indicator.push(t);
      }
    }
  };
  new MutationObserver(seen).observe(document.body, {subtree: true, childList: true,
    characterData: true});
  seen();
  return true;
}"""


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
    text_window(url, "br", "start")
    with JournalWriter(tmp_path / "journal" / "clients.jsonl", role="clients") as journal:
        sub = BrowserSubscriber(url, "br-0", journal, env="br", run_dir=tmp_path)
        sub.start()
        try:
            assert patched_page_loaded(sub, version), "the page runs no resume fix"
            assert sub.evaluate(f"({WATCH_INDICATOR})()")
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
            indicator = sub.evaluate("window.__indicator")
        finally:
            sub.stop()
    log = target.log_path.read_text(errors="replace")
    assert "resume" in log  # the page's resume command reached the server
    # ConnectionIndicator.js of 0.2.4/0007, 0.3.0/0006
    assert indicator[:1] == ["online"] and "resumed" in indicator, indicator
    assert indicator.index("reconnecting") < indicator.index("resumed"), indicator


@pytest.mark.parametrize("variant", ["stock", "patched"])
def test_plot_updates_reload_the_env_on_stock_024_and_not_with_0011(
    visdom_factory, variant, tmp_path: Path
):
    # 0.2.4's page copies the rendered plot pane (with Plotly's write-backs) into the copy
    # the next patch's md5 is checked against: every other plot update re-fetches the env.
    # Patch 0011 (processPane in js/main.js) keeps the copy _checkWindow computed.
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
            assert patched_page_loaded(sub, "0.2.4") is (variant == "patched")
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
    """Factory: a BrowserSubscriber whose page gets the release's shipped main.js
    instead of the rebuilt one: the stock bundle alone, i.e. a stock page (an old
    cached page) on a patched server."""

    @staticmethod
    def make(version: str):
        from conftest import built_or_skip

        from visdom_chaos.wire.browser import BrowserSubscriber

        shipped = Path(built_or_skip(version, "stock").package_dir) / "static" / "js"

        class StockPage(BrowserSubscriber):
            def _setup(self, context, page):
                page.route(
                    "**/js/main.js*",
                    lambda route: route.fulfill(
                        path=str(shipped / "main.js"), content_type="application/javascript"
                    ),
                )
                super()._setup(context, page)

        return StockPage


@pytest.mark.parametrize("page_kind", ["patched", "stock"])
def test_text_appends_on_a_patched_server_in_chromium(
    visdom_factory, version, page_kind, tmp_path: Path
):
    """#695 (patches 0.2.4/0014, 0.3.0/0011): the patched page says hello and gets
    `text_append` frames of constant size; a stock page (the shipped bundle) on the same patched
    server gets the stock whole-text frames. Both show exactly the server's text, with
    no env re-fetch and no page error."""
    import json

    from visdom_chaos.wire.browser import DEFAULT_CHROMIUM, BrowserSubscriber

    if not DEFAULT_CHROMIUM.is_file():
        pytest.skip(f"chromium not installed at {DEFAULT_CHROMIUM}")
    target = visdom_factory(version, "patched")
    url = target.url
    text_window(url, "ta", "start")
    journal_path = tmp_path / "journal" / "clients.jsonl"
    make = BrowserSubscriber if page_kind == "patched" else _StockPageSubscriber.make(version)
    n = 60
    with JournalWriter(journal_path, role="clients") as journal:
        sub = make(url, "br-0", journal, env="ta", run_dir=tmp_path)
        sub.start()
        try:
            assert patched_page_loaded(sub, version) is (page_kind == "patched")
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


# Counts the page's own /socket_wrap queries in flight (a probe: it changes nothing).
POLL_PROBE = """
(() => {
  const native = window.fetch;
  window.__polls = { inFlight: 0, max: 0, queries: 0 };
  window.fetch = function (url, opts) {
    const body = opts && typeof opts.body === 'string' ? opts.body : '';
    if (!String(url).endsWith('socket_wrap') || !body.includes('"query"')) {
      return native.apply(this, arguments);
    }
    const p = window.__polls;
    p.inFlight += 1;
    p.queries += 1;
    p.max = Math.max(p.max, p.inFlight);
    const done = () => { p.inFlight -= 1; };
    return native.apply(this, arguments).then(
      (r) => r.text().then((t) => { done(); return new Response(t, r); }),
      (e) => { done(); throw e; });
  };
})();
"""


def _probed_subscriber():
    from visdom_chaos.wire.browser import BrowserSubscriber

    class Probed(BrowserSubscriber):
        def _setup(self, context, page):
            page.add_init_script(script=POLL_PROBE)
            super()._setup(context, page)

    return Probed


@pytest.mark.parametrize("variant", ["stock", "patched"])
def test_polling_page_one_query_in_flight_and_resume(
    visdom_factory, version, variant, tmp_path: Path
):
    """The poller (Legacy.js) under 800 ms of latency through the chaos proxy: stock
    polls on a 500 ms setInterval, so queries overlap; patched (0.2.4/0007, 0.3.0/0006)
    keeps one in flight. Then (patched) the proxy answers 503 to /socket_wrap for 1.5 s:
    the poller's session is lost, the page retries with backoff, opens a new session
    once the proxy heals and resumes the env; the page shows every update without an
    env reload."""
    from visdom_chaos.wire.browser import DEFAULT_CHROMIUM

    if not DEFAULT_CHROMIUM.is_file():
        pytest.skip(f"chromium not installed at {DEFAULT_CHROMIUM}")
    target = visdom_factory(version, variant, polling=True)
    with chaos_proxy(tmp_path, target.port) as proxy:
        text_window(target.url, "pl")
        with JournalWriter(tmp_path / "journal" / "clients.jsonl", role="clients") as journal:
            sub = _probed_subscriber()(proxy.url, "br-0", journal, env="pl", run_dir=tmp_path)
            sub.start()
            try:
                for i in range(3):
                    append(target.url, "pl", "t", i)
                want = truth(target.url, "pl", "t")
                assert wait_view(sub, "t", want, 15) == want
                proxy.client.add_toxic(
                    "visdom", "latency", name="slow", attributes={"latency": 800}
                )
                time.sleep(4)
                polls = sub.evaluate("window.__polls")
                proxy.client.remove_toxic("visdom", "slow")
                if variant == "stock":
                    assert polls["max"] >= 2, polls  # answers overlap
                    return
                assert polls["max"] == 1, polls
                assert sub.evaluate(f"({WATCH_INDICATOR})()")
                env_posts = sub.env_requests
                proxy.client.add_toxic(
                    "visdom",
                    "http_fail",
                    name="fail",
                    stream="upstream",
                    attributes={"path": "/socket_wrap", "status": 503},
                )
                for i in range(3, 9):
                    append(target.url, "pl", "t", i)
                time.sleep(1.5)
                proxy.client.remove_toxic("visdom", "fail")
                want = truth(target.url, "pl", "t")
                assert [e.seq for e in want] == list(range(9))
                assert wait_view(sub, "t", want, 20) == want, "page did not catch up"
                assert sub.env_requests == env_posts, "env reloaded"
                assert not sub.page_errors, sub.page_errors[:3]
                indicator = sub.evaluate("window.__indicator")
                assert sub.evaluate("window.__polls")["max"] == 1
            finally:
                sub.stop()
    assert "resumed" in indicator, indicator


@pytest.mark.parametrize("variant", ["stock", "patched"])
def test_030_page_through_the_proxy_resumes_after_it_resets_the_socket(
    visdom_factory, variant, tmp_path: Path
):
    """Issue 16's done: real Chromium on 0.3.0 through the chaos proxy, which resets the
    page's socket (`reset_peer`, kept 0.5 s so the first retries are reset too). Patched
    (the rebuilt bundle): the page reconnects and resumes, shows every update exactly once
    and in order, without an env reload, and its indicator says so. Stock: the page stays
    offline and never shows the updates sent after the reset."""
    from visdom_chaos.wire.browser import DEFAULT_CHROMIUM, BrowserSubscriber

    if not DEFAULT_CHROMIUM.is_file():
        pytest.skip(f"chromium not installed at {DEFAULT_CHROMIUM}")
    target = visdom_factory("0.3.0", variant)
    with chaos_proxy(tmp_path, target.port) as proxy:
        text_window(target.url, "rp")
        with JournalWriter(tmp_path / "journal" / "clients.jsonl", role="clients") as journal:
            sub = BrowserSubscriber(proxy.url, "br-0", journal, env="rp", run_dir=tmp_path)
            sub.start()
            try:
                for i in range(3):
                    append(target.url, "rp", "t", i)
                want = truth(target.url, "rp", "t")
                assert wait_view(sub, "t", want, 15) == want
                assert sub.evaluate(f"({WATCH_INDICATOR})()")
                env_posts = sub.env_requests
                proxy.client.add_toxic(
                    "visdom", "reset_peer", name="rst", attributes={"timeout": 0}
                )
                time.sleep(0.5)
                proxy.client.remove_toxic("visdom", "rst")
                for i in range(3, 9):
                    append(target.url, "rp", "t", i)
                want = truth(target.url, "rp", "t")
                assert [e.seq for e in want] == list(range(9))
                seen = wait_view(sub, "t", want, 20 if variant == "patched" else 5)
                indicator = sub.evaluate("window.__indicator")
                if variant == "stock":
                    assert seen != want and indicator[-1:] == ["offline"], (seen, indicator)
                    return
                assert seen == want, "page did not catch up after the reset"
                assert sub.env_requests == env_posts, "env reloaded"
                assert not sub.page_errors, sub.page_errors[:3]
            finally:
                sub.stop()
    # online, reconnecting, online (the socket opened), resumed (the replay came)
    assert "reconnecting" in indicator and "resumed" in indicator, indicator
    assert indicator.index("reconnecting") < indicator.index("resumed"), indicator
