"""The Chromium subscriber's pure parts and its one-line errors (no browser needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from visdom_chaos.ids import EventId
from visdom_chaos.journal import JournalWriter
from visdom_chaos.wire.browser import BrowserError, BrowserSubscriber, is_loopback, pane_ids


@pytest.mark.parametrize(
    ("url", "loop"),
    [
        ("http://127.0.0.1:8097/static/js/main.js", True),
        ("ws://localhost:1/socket", True),
        ("http://[::1]:80/", True),
        ("data:image/png;base64,AAAA", True),
        ("https://cdn.plot.ly/plotly-2.11.1.min.js", False),
        ("https://plot.ly", False),
        ("http://10.0.0.1/", False),
    ],
)
def test_is_loopback(url: str, loop: bool) -> None:
    assert is_loopback(url) is loop


def test_pane_ids_reads_plot_traces_and_text_tokens() -> None:
    plot = {"kind": "plot", "traces": [{"name": "src-0", "x": [0, 1], "y": [1.5, 2.25]}], "text": None}
    assert pane_ids(plot) == [EventId("src-0", 0, 1_500_000), EventId("src-0", 1, 2_250_000)]
    text = {"kind": "text", "traces": None, "text": "a[src-1#4@99] b [src-1#5@100]"}
    assert pane_ids(text) == [EventId("src-1", 4, 99), EventId("src-1", 5, 100)]
    assert pane_ids({"kind": "text", "traces": None, "text": None}) == []


def test_bad_url_and_missing_chromium_are_one_line_errors(tmp_path: Path) -> None:
    with JournalWriter(tmp_path / "journal" / "c.jsonl", role="clients") as journal:
        with pytest.raises(BrowserError, match="bad Visdom URL"):
            BrowserSubscriber("127.0.0.1:8097", "br-0", journal)
        sub = BrowserSubscriber("http://127.0.0.1:9", "br-0", journal, chromium=tmp_path / "no-chromium")
        with pytest.raises(BrowserError, match="chromium not found .*apt-get install"):
            sub.start()
        sub.stop()  # harmless after a failed start
        with pytest.raises(BrowserError, match="not running"):
            sub.read_views()


@pytest.mark.browser
def test_unreachable_server_fails_start_and_leaves_no_browser(tmp_path: Path) -> None:
    import psutil

    from visdom_chaos.netguard import free_port
    from visdom_chaos.wire.browser import DEFAULT_CHROMIUM

    if not DEFAULT_CHROMIUM.is_file():
        pytest.skip(f"chromium not installed at {DEFAULT_CHROMIUM} (apt-get install -y chromium)")
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with JournalWriter(tmp_path / "journal" / "c.jsonl", role="clients") as journal:
        sub = BrowserSubscriber(url, "br-0", journal, load_timeout_s=10)
        with pytest.raises(BrowserError, match="br-0: .*ERR_CONNECTION_REFUSED"):
            sub.start()
        sub.stop()
    leftovers = [p for p in psutil.Process().children(recursive=True) if "chrom" in p.name()]
    assert not leftovers, leftovers


def _reload_run(tmp_path: Path, replica: tuple[int, float], browser: tuple[int, float],
                browser_from: float = 0.0, load_from: float = 0.0) -> dict:
    """A run folder with one replica and one browser subscriber: (reloads, seconds connected
    until the end); the browser connects at `browser_from`, the load runs from `load_from`."""
    from reports.analyze import analyze_run

    t0 = 1_700_000_000_000_000_000
    end = max(replica[1], browser[1])
    w = JournalWriter(tmp_path / "run" / "journal" / "clients.jsonl", "clients")
    w.write("send", "src-0", 0, t=t0 + int(load_from * 1e9), win="w", seq=0)
    for client, transport, reason, (n, secs), start in (
            ("ws-0", "websocket", "hash_mismatch", replica, 0.0),
            ("browser-0", "browser", "env_request", browser, browser_from)):
        opened = t0 + int(start * 1e9)
        w.write("connect", client, 1, t=opened, transport=transport, local_port=0, env="main")
        w.write("register", client, 1, t=opened + 1, sid="s")
        for k in range(n):
            w.write("resync", client, 1, t=t0 + int(max(start, load_from) * 1e9) + 2 + k, reason=reason, env="main")
        w.write("view", client, 1, t=t0 + int(secs * 1e9) - 10, env="main", win="w", ids=[["src", 0]], final=True,
                transport=transport)
        w.write("disconnect", client, 1, t=t0 + int(secs * 1e9), reason="end")
    w.write("ack", "src-0", 0, t=t0 + int(end * 1e9), win="w", seq=0, ok=True)
    w.write("truth", "orchestrator", 0, t=t0 + int(end * 1e9), env="main", win="w", ids=[["src", 0]])
    w.close()
    return analyze_run(tmp_path / "run")["browser"]["fidelity"]["reloads"]


@pytest.mark.parametrize(
    ("replica", "browser", "per_minute", "agree"),
    [
        ((10, 60.0), (8, 60.0), (10.0, 8.0), True),  # ×1.25: timing only
        ((10, 60.0), (5, 30.0), (10.0, 10.0), True),  # same rate, half the connected time
        ((20, 60.0), (8, 60.0), (20.0, 8.0), False),  # ×2.5: a mechanism missing on one side
        ((0, 60.0), (3, 60.0), (0.0, 3.0), False),  # only one side reloads
        ((0, 60.0), (0, 60.0), (0.0, 0.0), True),
    ],
)
def test_fidelity_compares_reload_rates_per_connected_minute(tmp_path: Path, replica, browser, per_minute,
                                                             agree) -> None:
    reloads = _reload_run(tmp_path, replica, browser)
    assert reloads["replica"] == {"ws-0": replica[0]} and reloads["browser"] == {"browser-0": browser[0]}
    assert (reloads["per_minute"]["replica"], reloads["per_minute"]["browser"]) == per_minute
    assert reloads["agree"] is agree, reloads["summary"]


def test_reload_rates_count_connected_time_under_load_only(tmp_path: Path) -> None:
    # the replica connects at 0, the browser (Chromium starting) at 30 s, the load runs
    # 30..60 s: 10 reloads each in the same 30 s of load are the same rate
    reloads = _reload_run(tmp_path, (10, 60.0), (10, 60.0), browser_from=30.0, load_from=30.0)
    assert reloads["per_minute"] == {"replica": 20.0, "browser": 20.0}
    assert reloads["agree"] is True and reloads["ratio"] == 1.0


# --- first-seen stamps (browser_seen) and the latency row --------------------------------------

def test_seen_stamps_reads_text_and_plot_stamps_and_takes_the_clock_offset_off() -> None:
    from visdom_chaos.wire.browser import seen_stamps

    stamps = [
        ["src-1", 4, "1700000000123456789", 1_700_000_000_200.5],  # text: send ns as a string
        ["src-0", 7, 1_700_000_000_100.25, 1_700_000_000_150.0],  # plot: y = send ms
        ["src-0", 8.0, 1_700_000_000_101.0, 1_700_000_000_151.0],  # x as a float, as Plotly may keep it
    ]
    assert seen_stamps(stamps, offset_ns=500_000) == [
        ["src-1", 4, 1_700_000_000_123_456_789, 1_700_000_000_200_000_000],
        ["src-0", 7, 1_700_000_000_100_250_000, 1_700_000_000_149_500_000],
        ["src-0", 8, 1_700_000_000_101_000_000, 1_700_000_000_150_500_000],
    ]
    bad = [["src", True, "1", 1.0], ["src", float("nan"), "1", 1.0], ["src", 1, "x", 1.0], [3, 1, "1", 1.0],
           ["src", 1, "1"], "junk", ["src", 1, None, 1.0], ["src", 1, "1", "soon"]]
    assert seen_stamps(bad) == [] and seen_stamps(None) == [] and seen_stamps({"a": 1}) == []


def test_clock_sample_is_the_page_clock_minus_the_midpoint() -> None:
    from visdom_chaos.wire.browser import clock_sample

    assert clock_sample(1_001.5, 999_000_000, 1_003_000_000) == (500_000, 4_000_000)  # midpoint 1001 ms
    assert clock_sample(1_000.0, 1_000_000_000, 1_000_000_000) == (0, 0)


class _FakePage:
    def __init__(self, answers: list) -> None:
        self.answers = answers

    def evaluate(self, _js: str):
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def test_poll_seen_journals_stamps_corrected_chunked_and_keeps_no_ids(tmp_path: Path, monkeypatch) -> None:
    import time as time_mod
    from types import SimpleNamespace

    from visdom_chaos.journal import read_journal
    from visdom_chaos.wire import browser as mod

    monkeypatch.setattr(mod, "SEEN_CHUNK", 2)
    clock = iter([1_000_000_000, 1_002_000_000, 2_000_000_000, 2_010_000_000, 3_000_000_000])
    monkeypatch.setattr(mod, "time", SimpleNamespace(time_ns=lambda: next(clock), monotonic=time_mod.monotonic))
    path = tmp_path / "journal" / "c.jsonl"
    with JournalWriter(path, role="clients") as journal:
        sub = BrowserSubscriber("http://127.0.0.1:9", "browser-0", journal)
        stamps = [["src-1", k, str(10**18 + k), 1_001.0 + k] for k in range(3)]
        sub._page = _FakePage([
            {"now": 1_001.0 + 0.25, "wins": {"w": stamps}, "dropped": 2, "givenUp": 0, "scanMs": 1.5, "errors": 0},
            # a slower reading (10 ms round trip) does not replace the better one
            {"now": 2_005.0 + 3.0, "wins": {}, "dropped": 0, "givenUp": 1, "scanMs": 0, "errors": 0},
            RuntimeError("Execution context was destroyed"),  # navigating: skipped, nothing raised
        ])
        sub._poll_seen()
        sub._poll_seen()
        sub._poll_seen()
    recs = [r for r in read_journal(path) if r["type"] == "browser_seen"]
    offset = 250_000  # page 1001.25 ms at the midpoint 1001 ms
    assert sub.clock == {"offset_ns": offset, "rtt_ns": 2_000_000, "samples": 2}
    assert [len(r["ids"]) for r in recs] == [2, 1, 0]
    assert recs[0]["ids"][0] == ["src-1", 0, 10**18, 1_001_000_000 - offset]
    assert recs[0]["dropped"] == 2 and recs[0]["page_ms"] == 1.5 and "dropped" not in recs[1]
    assert all(r["clock_offset_ns"] == offset and r["clock_rtt_ns"] == 2_000_000 for r in recs)
    assert recs[2]["win"] is None and recs[2]["given_up"] == 1  # counters without stamps
    assert sub.seen_stats == {"stamped": 3, "dropped": 2, "given_up": 1, "page_ms": 1.5, "polls": 2, "errors": 0}
