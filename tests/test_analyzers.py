"""Analyzers against run folders with known, injected ground truth: exactly N in, N found."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from visdom_chaos.journal import JournalWriter
from visdom_chaos.reports.analyze import (
    analyze_run,
    build_report,
    config_for,
    finding_counts,
    summarize_run,
)
from visdom_chaos.reports.engine import Analyzer
from visdom_chaos.reports.intervals import IntervalSet, difference, intersection, union
from visdom_chaos.reports.journals import ReadStats, RunFolderError, run_records
from visdom_chaos.reports.summary import FINDING_KINDS, Summary, merge
from visdom_chaos.reports.synth import Inject, build_run


def run(tmp_path: Path, **kw) -> tuple[dict, dict]:
    expected = build_run(tmp_path / "run", Inject(**kw))
    return expected, analyze_run(tmp_path / "run")


def others_zero(report: dict, kind: str) -> None:
    rest = {k: v for k, v in report["findings"].items() if k != kind}
    assert rest == dict.fromkeys(rest, 0), report["evidence"]


def test_clean_run_has_no_findings(tmp_path):
    expected, report = run(tmp_path, events=150, subscribers=3, polling=1)
    assert report["findings"] == expected == dict.fromkeys(FINDING_KINDS, 0)
    assert report["totals"] == {
        "sent": 150,
        "acked": 150,
        "delivered": 600,
        "subscribers": 4,
        "not_acked": 0,
        "server_closed": 0,
    }
    assert report["schema"] == "visdom-chaos/report/1"
    assert {s["id"]: s["transport"] for s in report["subscribers"]} == {
        "ws-0": "websocket",
        "ws-1": "websocket",
        "ws-2": "websocket",
        "poll-0": "polling",
    }


@pytest.mark.parametrize("n", [1, 4, 9])
def test_duplicates_applied_twice(tmp_path, n):
    seqs = random.Random(n).sample(range(1, 120), n)
    expected, report = run(tmp_path, events=120, duplicates={"ws-1": seqs})
    assert report["findings"]["duplicate"] == expected["duplicate"] == n
    others_zero(report, "duplicate")
    ev = [e for e in report["evidence"] if e["kind"] == "duplicate"]
    assert ev[0]["clients"] == ["ws-1"] and ev[0]["ids"] == [["src-0", s] for s in sorted(seqs)]
    by_sub = {s["id"]: s["findings"]["duplicate"] for s in report["subscribers"]}
    assert by_sub == {"ws-0": 0, "ws-1": n, "ws-2": 0}


def test_duplicates_in_final_view(tmp_path):
    expected, report = run(tmp_path, view_duplicates={"ws-0": [3, 5]}, duplicates={"ws-2": [7]})
    assert report["findings"]["duplicate"] == expected["duplicate"] == 3
    assert report["findings_detail"]["duplicate"] == {"in_view": 2, "applied_twice": 1}


@pytest.mark.parametrize("n", [1, 3, 25])
def test_missing(tmp_path, n):
    seqs = random.Random(n).sample(range(1, 190), n)
    expected, report = run(tmp_path, events=200, missing={"ws-0": seqs, "ws-2": seqs[:1]})
    assert report["findings"]["missing"] == expected["missing"] == n + 1
    others_zero(report, "missing")
    ev = {e["clients"][0]: e for e in report["evidence"] if e["kind"] == "missing"}
    assert ev["ws-0"]["ids_total"] == n and ev["ws-0"]["ids"] == [
        ["src-0", s] for s in sorted(seqs)[:20]
    ]
    assert ev["ws-2"]["ids"] == [["src-0", seqs[0]]]


def test_missing_lines_up_with_nearest_fault(tmp_path):
    # ids 40..45 are sent from t=0.88 s on (20 ms apart); a reset_peer 300 ms before the first of them
    _, report = run(tmp_path, missing={"ws-0": list(range(40, 46))}, faults_at_ms=[480.0, 5000.0])
    ev = next(e for e in report["evidence"] if e["kind"] == "missing")
    near = ev["faults_near"][0]
    assert near["kind"] == "reset_peer" and near["t_s"] == pytest.approx(0.58, abs=1e-6)
    assert near["ms_before_first"] == pytest.approx(305, abs=11)  # ack 5 ms after send, 10 ms index
    assert "reset_peer at t=0.6 s" in ev["message"] and ev["message"].startswith("6 missing")


def test_without_truth_missing_is_judged_against_acks(tmp_path):
    expected, report = run(tmp_path, truth=False, missing={"ws-1": [4, 8]})
    assert report["findings"]["missing"] == expected["missing"] == 2
    assert any("no server truth" in n for n in report["notes"])


@pytest.mark.parametrize("n", [1, 5])
def test_reorder_in_stream(tmp_path, n):
    seqs = list(range(10, 10 + 3 * n, 3))  # k delivered after k+1, never adjacent
    expected, report = run(tmp_path, reorder={"ws-2": seqs})
    assert report["findings"]["reorder"] == expected["reorder"] == n
    assert report["findings_detail"]["reorder"] == {"in_stream": n}
    others_zero(report, "reorder")


def test_transient_gaps_are_not_missing(tmp_path):
    expected, report = run(tmp_path, gaps={"ws-0": [30, 60, 90]})
    assert report["findings"]["missing"] == 0
    assert report["findings_detail"]["reorder"] == {"after_gap": 3}
    assert report["findings"]["reorder"] == expected["reorder"] == 3
    assert report["findings"]["reload"] == expected["reload"] == 3  # each gap reloaded the env
    assert report["findings"]["stale"] == 0  # restored within the staleness bound


@pytest.mark.parametrize("n", [2, 7])
def test_stale_lag_beyond_bound(tmp_path, n):
    expected, report = run(tmp_path, late_tail={"ws-1": n})
    assert report["findings"]["stale"] == expected["stale"] == n
    assert report["findings_detail"]["stale"] == {"lag": n}
    others_zero(report, "stale")
    ev = next(e for e in report["evidence"] if e["kind"] == "stale")
    assert ev["info"]["max_lag_ms"] > report["config"]["stale_bound_ms"]
    assert report["memory"]["slow_subscribers"] == 1


def test_stale_bound_is_configurable(tmp_path):
    build_run(tmp_path / "run", Inject(late_tail={"ws-1": 3}, stale_bound_ms=2000))
    # the tail arrives 2.5 s after its ack: stale under a 2 s bound, not under a 3 s one
    assert (
        analyze_run(tmp_path / "run", config_for({}, stale_bound_ms=3000))["findings"]["stale"] == 0
    )
    assert (
        analyze_run(tmp_path / "run", config_for({}, stale_bound_ms=2000))["findings"]["stale"] == 3
    )


def test_stale_regression_and_divergence(tmp_path):
    expected, report = run(tmp_path, regression={"ws-0": 4}, divergent={"ws-2": 2})
    assert report["findings"]["stale"] == expected["stale"] == 6
    assert report["findings_detail"]["stale"] == {"regression": 4, "divergence": 2}
    others_zero(report, "stale")


@pytest.mark.parametrize("n", [1, 3])
def test_reloads_and_protocol_errors(tmp_path, n):
    expected, report = run(tmp_path, reloads={"ws-0": n, "ws-1": 1}, protocol_errors={"ws-2": n})
    assert report["findings"]["reload"] == expected["reload"] == n + 1
    assert report["findings"]["protocol_error"] == expected["protocol_error"] == n
    assert report["findings_detail"]["protocol_error"] == {"hash_mismatch": n}
    per = {s["id"]: s["findings"] for s in report["subscribers"]}
    assert per["ws-0"]["reload"] == n and per["ws-2"]["protocol_error"] == n


def test_reload_storm_rate(tmp_path):
    _, report = run(tmp_path, reloads={"ws-0": 12})  # 12 reloads in a ~10 s connection
    ev = next(e for e in report["evidence"] if e["kind"] == "reload")
    assert ev["info"]["storm"] is True and ev["info"]["per_min"] > 60
    assert report["findings_detail"]["reload"]["storm_subscribers"] == 1


@pytest.mark.parametrize("ghosts,clean", [(1, 2), (3, 0), (0, 3)])
def test_ghost_subscribers(tmp_path, ghosts, clean):
    expected, report = run(tmp_path, ghosts=ghosts, gone_clean=clean)
    assert report["findings"]["ghost_subscribers"] == expected["ghost_subscribers"] == ghosts
    assert sorted(g["client"] for g in report["ghosts"]) == [f"ghost-{i}" for i in range(ghosts)]
    for g in report["ghosts"]:
        assert g["still_there_s"] - g["disconnect_s"] >= report["config"]["ghost_settle_s"]


def test_ghost_through_the_proxy_uses_the_upstream_port(tmp_path):
    t0 = 1_700_000_000_000_000_000
    w = JournalWriter(tmp_path / "r" / "journal" / "all.jsonl", "clients")
    w.write("connect", "ws-0", 1, t=t0, transport="websocket", local_port=5001, env="main")
    w.write(
        "proxy_conn",
        "proxy",
        0,
        t=t0 + 1,
        proxy="v",
        event="open",
        downstream_port=5001,
        upstream_port=6001,
    )
    w.write("connect", "ws-1", 1, t=t0 + 2, transport="websocket", local_port=5002, env="main")
    w.write(
        "proxy_conn",
        "proxy",
        0,
        t=t0 + 3,
        proxy="v",
        event="open",
        downstream_port=5002,
        upstream_port=6002,
    )
    for c in ("ws-0", "ws-1"):
        w.write("disconnect", c, 1, t=t0 + 10**9, reason="abrupt", clean=False)
    # ws-0's server side (6001) lingers; ws-1's client port 5002 shows up but is not its server peer
    w.write("sample", "monitor", 0, t=t0 + 7 * 10**9, rss_mib=50.0, peers=[6001, 5002])
    w.close()
    report = analyze_run(tmp_path / "r")
    assert report["findings"]["ghost_subscribers"] == 1
    assert report["ghosts"][0]["client"] == "ws-0" and report["ghosts"][0]["peer_port"] == 6001


def _least_squares(points: list[tuple[float, float]]) -> float:
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    return sum((x - mx) * (y - my) for x, y in points) / sum((x - mx) ** 2 for x, _ in points)


@pytest.mark.parametrize("slope", [0.0, 3.0, 12.5, -2.0])
def test_memory_slope_over_the_steady_phase(tmp_path, slope):
    build_run(tmp_path / "run", Inject(rss_slope_mib_per_min=slope))
    report = analyze_run(tmp_path / "run", config_for({}, memory_min_growth_mib=0))
    mem = report["memory"]
    assert mem["slope_phase"] == "steady"
    assert mem["slope_mib_per_min"] == pytest.approx(slope, abs=1e-3)  # a noiseless line: exact
    assert mem["implied_mib_per_hour"] == pytest.approx(slope * 60, abs=0.1)
    assert mem["growth_flagged"] is (slope > mem["bound_mib_per_min"])
    assert mem["rss_start_mib"] == pytest.approx(100.0)


def test_memory_slope_with_noise_is_the_least_squares_fit(tmp_path):
    _, report = run(tmp_path, rss_slope_mib_per_min=6.0, rss_noise_mib=0.5)
    recs = [
        json.loads(x) for x in (tmp_path / "run/journal/monitor.jsonl").read_text().splitlines()[1:]
    ]
    phases = {
        json.loads(x).get("name"): json.loads(x)["t"]
        for x in (tmp_path / "run/journal/orchestrator.jsonl").read_text().splitlines()[1:]
    }
    pts = [
        (r["t"] / 60e9, r["rss_mib"])
        for r in recs
        if phases["steady"] <= r["t"] <= phases["sources_stopped"]
    ]
    assert report["memory"]["samples"] == len(pts)
    assert report["memory"]["slope_mib_per_min"] == pytest.approx(_least_squares(pts), abs=1e-3)
    assert report["memory"]["rss_peak_mib"] == pytest.approx(max(r["rss_mib"] for r in recs))


def test_memory_exact_slope_without_phases(tmp_path):
    t0 = 1_700_000_000_000_000_000
    w = JournalWriter(tmp_path / "r" / "journal" / "monitor.jsonl", "monitor")
    for i in range(240):  # one minute at 4 Hz, 7.25 MiB/min
        w.write(
            "sample", "monitor", 0, t=t0 + i * 250_000_000, rss_mib=40 + 7.25 * i / 240, peers=[]
        )
    w.close()
    mem = analyze_run(tmp_path / "r")["memory"]
    assert mem["slope_phase"] == "all" and mem["samples"] == 240
    assert mem["slope_mib_per_min"] == pytest.approx(7.25, abs=1e-3)
    assert mem["fitted_growth_mib"] == pytest.approx(7.25, rel=0.01)  # one minute of it
    # above the slope bound, but 7 MiB is below the default minimum growth: not flagged ...
    assert mem["growth_flagged"] is False and mem["min_growth_mib"] > mem["fitted_growth_mib"]
    # ... unless the minimum is lowered below what grew
    mem = analyze_run(tmp_path / "r", config_for({}, memory_min_growth_mib=7.0))["memory"]
    assert mem["growth_flagged"] is True


def test_latency_percentiles(tmp_path):
    _, report = run(tmp_path, lat_ms=12.0, late_tail={"ws-0": 1})
    lat = report["latency_ms"]
    assert lat["p50"] == pytest.approx(12.0, rel=0.002)  # HdrHistogram, 3 significant digits
    assert lat["max"] == pytest.approx(2000 + 500 + 5, rel=0.002)  # the one late id
    assert lat["count"] == report["totals"]["delivered"]
    assert lat["over_time"] and sum(b["n"] for b in lat["over_time"]) == lat["count"]


def test_truncated_journal_is_read_to_its_last_complete_line(tmp_path):
    build_run(tmp_path / "run", Inject(events=100))
    path = tmp_path / "run" / "journal" / "clients.jsonl"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 37])  # a crash mid-line
    report = analyze_run(tmp_path / "run")
    assert report["input"]["torn"] == 1
    assert any("torn" in n for n in report["notes"])
    assert report["totals"]["acked"] == 100


@pytest.mark.parametrize("chunk", [200, 1 << 20])
def test_small_inversions_across_threads_are_repaired(tmp_path, monkeypatch, chunk):
    from visdom_chaos.reports import journals

    monkeypatch.setattr(journals, "CHUNK_BYTES", chunk)  # many chunk boundaries, or one
    t0, slack = 10**18, 100
    writers = [JournalWriter(tmp_path / "journal" / f"{n}.jsonl", "clients") for n in "abc"]
    expect = []
    for i in range(300):
        t = t0 + i * 10
        if i % 50 == 7:
            t -= slack - 1  # a thread wrote this one late, but within the slack
        w = writers[i % 2] if i < 250 else writers[2]  # file c starts late
        w.write("register", "ws-0", 1, t=t, i=i)
        expect.append(t)
    for w in writers:
        w.close()
    stats = ReadStats()
    out = [r["t"] for r in run_records(tmp_path, stats, slack_ns=slack)]
    assert out == sorted(expect) and stats.records == 300 and stats.inversions == 0
    stats = ReadStats()
    out = [r["t"] for r in run_records(tmp_path, stats, slack_ns=1)]  # a window too small...
    assert sorted(out) == sorted(expect)
    # ...is counted, unless the late record was in the same chunk (chunks are sorted whole)
    assert (stats.inversions > 0) is (chunk < 1000) and (out == sorted(out)) is (chunk >= 1000)


def test_bad_run_folders(tmp_path):
    with pytest.raises(RunFolderError, match="not a directory"):
        analyze_run(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(RunFolderError, match="no \\*.jsonl"):
        analyze_run(tmp_path / "empty")
    (tmp_path / "foreign" / "journal").mkdir(parents=True)
    (tmp_path / "foreign" / "journal" / "x.jsonl").write_text('{"hello": 1}\n')
    with pytest.raises(RunFolderError, match="header"):
        analyze_run(tmp_path / "foreign")


# -- mergeability ------------------------------------------------------------------------------


def _partial(run_dir: Path, keep) -> Summary:
    meta = json.loads((run_dir / "run.json").read_text())
    an = Analyzer(config_for(meta), t0=meta["started_ns"])
    an.feed_all(r for r in run_records(run_dir, ReadStats()) if keep(r))
    return an.finish()


def test_worker_summaries_merge_to_the_whole(tmp_path):
    build_run(
        tmp_path / "run",
        Inject(
            subscribers=4,
            duplicates={"ws-0": [3]},
            missing={"ws-1": [5, 6]},
            reorder={"ws-2": [9]},
            late_tail={"ws-3": 2},
            ghosts=1,
            reloads={"ws-0": 2},
            protocol_errors={"ws-3": 1},
        ),
    )
    whole, meta, _ = summarize_run(tmp_path / "run")
    clients = {"ws-0", "ws-1"}, {"ws-2", "ws-3", "ghost-0"}

    def worker(mine):  # each worker journals its own subscribers plus the shared sources and truth
        return lambda r: (
            r["client"] in mine
            or r["type"] in ("send", "ack", "truth", "phase", "fault")
            or (r["type"] == "sample" and "ghost-0" in mine)
        )  # one process runs the monitor

    parts = [_partial(tmp_path / "run", worker(c)) for c in clients]
    merged = merge(parts[0], parts[1])
    assert finding_counts(merged) == finding_counts(whole)
    cfg = config_for(meta)
    a, b = build_report(merged, meta, cfg), build_report(whole, meta, cfg)
    for key in ("findings", "totals", "memory", "latency_ms", "subscribers"):
        assert a[key] == b[key], key


def test_merge_is_associative_and_round_trips(tmp_path):
    build_run(
        tmp_path / "run",
        Inject(
            subscribers=3,
            duplicates={"ws-0": [3]},
            missing={"ws-1": [5]},
            reorder={"ws-2": [9]},
            rss_slope_mib_per_min=4,
        ),
    )
    parts = [
        _partial(
            tmp_path / "run",
            lambda r, i=i: hash(r["client"]) % 3 == i or r["type"] in ("ack", "send"),
        )
        for i in range(3)
    ]
    parts = [Summary.from_dict(json.loads(json.dumps(p.to_dict()))) for p in parts]
    left, right = (
        merge(merge(parts[0], parts[1]), parts[2]),
        merge(parts[0], merge(parts[1], parts[2])),
    )
    dl, dr = left.to_dict(), right.to_dict()
    for reg in ("rss_all", "rss_steady"):
        for k in dl[reg]:
            assert dl[reg][k] == pytest.approx(dr[reg][k], rel=1e-9, abs=1e-9)
        del dl[reg], dr[reg]
    assert dl == dr
    assert finding_counts(merge(parts[1], parts[0])) == finding_counts(merge(parts[0], parts[1]))


# -- interval sets ---------------------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.tuples(st.booleans(), st.integers(0, 60)), max_size=120),
    st.sets(st.integers(0, 60)),
)
def test_interval_set_behaves_like_a_set(ops, other):
    s, ref = IntervalSet(), set()
    for add, v in ops:
        if add:
            assert s.add(v) == (v not in ref)
            ref.add(v)
        else:
            assert s.discard(v) == (v in ref)
            ref.discard(v)
    assert list(s) == sorted(ref) and len(s) == len(ref)
    assert all((v in s) == (v in ref) for v in range(-1, 62))
    o = IntervalSet(other)
    assert list(union(s, o)) == sorted(ref | other)
    assert list(intersection(s, o)) == sorted(ref & other)
    assert list(difference(s, o)) == sorted(ref - other)
    assert s.runs() <= len(ref)


def test_long_view_lines_take_the_compact_path(tmp_path):
    # a final view longer than BIG_LINE is parsed straight into interval sets: same findings as the list path
    from visdom_chaos.reports import journals

    n = 6000
    lost = {17, 4000, 5999}
    build_run(
        tmp_path / "run",
        Inject(
            events=n,
            interval_ms=1,
            subscribers=2,
            missing={"ws-1": sorted(lost)},
            view_duplicates={"ws-0": [5, 6]},
        ),
    )
    line = max((tmp_path / "run/journal/clients.jsonl").read_bytes().splitlines(), key=len)
    assert len(line) > journals.BIG_LINE and journals._big_ids_record(line) is not None
    fast = analyze_run(tmp_path / "run")
    old, journals.BIG_LINE = journals.BIG_LINE, 10**12
    try:
        slow = analyze_run(tmp_path / "run")
    finally:
        journals.BIG_LINE = old
    assert fast["findings"] == slow["findings"]
    assert fast["findings"]["missing"] == 3 and fast["findings"]["duplicate"] == 2


def test_rss_growth_is_related_to_the_stalled_subscriber(tmp_path):
    # RSS is flat, climbs 20 MiB/min while ws-1 is stalled (t = 20..50 s), then is flat again
    t0, sec = 1_700_000_000_000_000_000, 1_000_000_000
    w = JournalWriter(tmp_path / "r" / "journal" / "all.jsonl", "clients")
    w.write("phase", "orchestrator", 0, t=t0, name="steady")
    for c in ("ws-0", "ws-1"):
        w.write("connect", c, 1, t=t0 + 1, transport="websocket", local_port=0, env="main")
    w.write(
        "fault",
        "ws-1",
        1,
        t=t0 + 20 * sec,
        proxy="",
        toxic="behaviour",
        kind="stall",
        stream="",
        detail={"seconds": 30.0},
    )
    for i in range(0, 70 * 4):
        t = t0 + i * sec // 4
        s = min(max(i / 4 - 20, 0), 30)  # seconds of stall so far
        w.write("sample", "monitor", 0, t=t, rss_mib=60 + 20 * s / 60, peers=[])
    w.write("phase", "orchestrator", 0, t=t0 + 70 * sec, name="sources_stopped")
    w.close()
    mem = analyze_run(tmp_path / "r")["memory"]
    assert (
        mem["slow_subscribers"] == 1
        and mem["slow_subscriber_ids"] == ["ws-1"]
        and mem["stall_faults"] == 1
    )
    assert mem["growth_while_slow_mib_per_min"] == pytest.approx(20.0, abs=0.01)
    assert mem["growth_while_none_slow_mib_per_min"] == pytest.approx(0.0, abs=0.01)
    assert mem["minutes_while_slow"] == pytest.approx(0.5, abs=0.01)


def test_a_subscriber_that_switched_env_is_judged_on_the_env_it_shows(tmp_path):
    t0 = 1_700_000_000_000_000_000
    w = JournalWriter(tmp_path / "r" / "journal" / "all.jsonl", "clients")
    w.write("connect", "ws-0", 1, t=t0, transport="websocket", local_port=1, env="a")
    for env, src in (("a", "src-a"), ("b", "src-b")):
        for seq in (1, 2):
            w.write("ack", src, 1, t=t0 + seq, seq=seq, env=env, win="w", ok=True)
        w.write("truth", "orchestrator", 0, t=t0 + 100, env=env, win="w", ids=[[src, 1], [src, 2]])
    w.write("resync", "ws-0", 1, t=t0 + 50, reason="switch_env", env="b")
    w.write("view", "ws-0", 1, t=t0 + 200, env="b", win="w", ids=[["src-b", 1]], final=True)
    w.close()
    report = analyze_run(tmp_path / "r")
    assert report["findings"]["missing"] == 1  # src-b#2 only: env a is no longer on its screen
    assert report["evidence"][0]["ids"] == [["src-b", 2]]


def test_browser_ghost_is_matched_on_any_of_its_sockets(tmp_path):
    t0, sec = 1_700_000_000_000_000_000, 1_000_000_000
    w = JournalWriter(tmp_path / "r" / "journal" / "all.jsonl", "clients")
    w.write("connect", "br-0", 1, t=t0, transport="browser", local_port=0, local_ports=[7001, 7002])
    w.write("connect", "br-1", 1, t=t0, transport="browser", local_port=0, local_ports=[7003])
    w.write("sample", "monitor", 0, t=t0 + sec, rss_mib=1.0, peers=[7001, 7002, 7003])
    for c in ("br-0", "br-1"):
        w.write("disconnect", c, 1, t=t0 + 2 * sec, reason="end", clean=True)
    w.write("sample", "monitor", 0, t=t0 + 8 * sec, rss_mib=1.0, peers=[7002])
    w.close()
    report = analyze_run(tmp_path / "r")
    assert report["findings"]["ghost_subscribers"] == 1
    assert report["ghosts"][0]["client"] == "br-0" and report["ghosts"][0]["peer_ports"] == [7002]


def test_malformed_records_are_skipped_and_noted(tmp_path):
    build_run(tmp_path / "run", Inject(events=50, missing={"ws-0": [7]}))
    w = JournalWriter(tmp_path / "run" / "journal" / "buggy.jsonl", "clients")
    t = 1_700_000_000_000_000_000 + 10**9
    w.write("apply", "ws-1", 1, t=t, env="main", win="win-line", added=[{"not": "a pair"}])
    w.write("sample", "monitor", 0, t=t + 1, rss_mib=50.0, peers=5)  # peers not a list: ignored
    w.write("ack", "src-0", 1, t=t + 2, ok=True)  # no seq
    w.close()
    report = analyze_run(tmp_path / "run")
    assert report["findings"]["missing"] == 1  # everything else still analysed
    notes = [n for n in report["notes"] if n.startswith("malformed")]
    assert len(notes) == 2 and any("apply" in n for n in notes) and any("ack" in n for n in notes)


def test_server_closed_and_not_acked_count_exactly_what_was_injected(tmp_path):
    """A tab whose connection the server closed (it did not leave) and updates the server did
    not answer OK: exactly those in totals, per tab in `disconnects`; 0 on the clean run above."""
    build_run(tmp_path / "run", Inject(events=150, subscribers=3, polling=1))
    changed = {"server_closed": 0, "nack": 0}
    for path in (tmp_path / "run" / "journal").glob("*.jsonl"):
        lines = []
        for line in path.read_text().splitlines():
            rec = json.loads(line)
            if rec.get("type") == "disconnect" and rec.get("client") == "ws-1":
                rec["reason"], rec["clean"] = "server_closed", False
                changed["server_closed"] += 1
            if rec.get("type") == "ack" and rec.get("seq") in (7, 8, 9):
                rec["ok"], rec["status"] = False, 500
                changed["nack"] += 1
            lines.append(json.dumps(rec))
        path.write_text("\n".join(lines) + "\n")
    assert changed == {"server_closed": 1, "nack": 3}
    report = analyze_run(tmp_path / "run")
    assert report["totals"]["server_closed"] == 1 and report["totals"]["not_acked"] == 3
    subs = {s["id"]: s["disconnects"] for s in report["subscribers"]}
    assert subs["ws-1"] == {"server_closed": 1}
    assert all("server_closed" not in d for c, d in subs.items() if c != "ws-1")
