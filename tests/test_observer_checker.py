"""ObserverChecker: the receive backlog histograms are exactly what recording each value
into HdrHistogram gives, though values are rounded and counted first (pure logic)."""

from __future__ import annotations

import random

from visdom_chaos.reports.checkers import Config
from visdom_chaos.reports.checkers.observer import FLUSH_AT, ObserverChecker
from visdom_chaos.reports.checkers.state import RunState
from visdom_chaos.reports.summary import Summary, _hist_to, new_hist

T0 = 1_700_000_000_000_000_000


def _feed(checker: ObserverChecker, n: int, seed: int) -> tuple[dict, dict]:
    """n recv records over 3 subscribers and ~n/1000 seconds; the histograms recorded value by value."""
    rnd = random.Random(seed)
    direct: dict[str, object] = {}
    per_second: dict[int, object] = {}
    state = RunState(Config(), Summary(t0=T0))
    for k in range(n):
        client = f"ws-{k % 3}"
        rx = T0 + k * 1_000_000
        us = max(1, min(int(rnd.lognormvariate(7, 3)), 3_600_000_000))
        t = rx + us * 1000 + rnd.randrange(1000)
        checker.on_record({"type": "recv", "t": t, "client": client, "rx": rx, "rxq": k % 7}, state)
        direct.setdefault(client, new_hist(2)).record_value(us)
        per_second.setdefault(rx - rx % 1_000_000_000, new_hist(2)).record_value(us)
    checker.finish(state)
    return state.summary.observer, {
        "subscribers": {c: _hist_to(h) for c, h in sorted(direct.items())},
        "buckets": {str(b): _hist_to(h) for b, h in sorted(per_second.items())},
    }


def test_backlog_histograms_equal_recording_every_value() -> None:
    got, want = _feed(ObserverChecker(), 30_000, seed=1)
    assert {c: s["backlog"] for c, s in got["subscribers"].items()} == want["subscribers"]
    assert got["buckets"] == want["buckets"] and len(got["buckets"]) == 30
    assert got["subscribers"]["ws-0"]["rxq_max"] == 6


def test_backlog_counts_fold_into_the_histograms_when_many(monkeypatch) -> None:
    # a run with more distinct values than FLUSH_AT folds early: same histograms
    import visdom_chaos.reports.checkers.observer as observer

    monkeypatch.setattr(observer, "FLUSH_AT", 500)
    assert FLUSH_AT > 500
    checker = ObserverChecker()
    got, want = _feed(checker, 20_000, seed=2)
    assert len(checker.pending) == len(checker.pending_buckets) == 0
    assert {c: s["backlog"] for c, s in got["subscribers"].items()} == want["subscribers"]
    assert got["buckets"] == want["buckets"]
