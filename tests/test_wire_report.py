"""Wire findings, causes and the odd one out, against synthetic journals with known ground truth
(reports/synth.py: N injected wire duplicates / reorders / gaps on one subscriber, N found)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from visdom_chaos.journal import JournalWriter
from visdom_chaos.reports.analyze import analyze_run, build_report, config_for, summarize_run
from visdom_chaos.reports.checkers.wire import odd_one_out
from visdom_chaos.reports.engine import Analyzer
from visdom_chaos.reports.journals import ReadStats, run_records
from visdom_chaos.reports.render import findings_table, render_markdown, write_reports
from visdom_chaos.reports.summary import FINDING_KINDS, Summary, merge
from visdom_chaos.reports.synth import ENV, SRC, WIN, Inject, build_run

WIRE = ("wire_duplicate", "wire_reorder", "wire_gap", "undecodable")


def run(tmp_path: Path, **kw) -> tuple[dict, dict, dict]:
    causes: dict = {}
    expected = build_run(tmp_path / "run", Inject(**kw), causes_out=causes)
    return expected, causes, analyze_run(tmp_path / "run")


def nz(d: dict) -> dict:
    return {k: v for k, v in d.items() if v}


def by_client(report: dict) -> dict[str, dict[str, int]]:
    return {s["id"]: s["findings"] for s in report["subscribers"]}


def test_clean_wire_with_uniform_writeback_reloads_is_normal_behaviour(tmp_path):
    expected, causes, report = run(tmp_path, events=200, subscribers=4, writeback_every=10)
    assert report["findings"] == expected
    assert {k: report["findings"][k] for k in WIRE} == dict.fromkeys(WIRE, 0)
    assert report["findings"]["reload"] == report["findings"]["protocol_error"] == 4 * 20
    assert report["causes"]["by_subscriber"] == causes
    assert nz(report["causes"]["reload"]) == {"render_writeback": 80}
    assert report["causes"]["unknown_flagged"] is False
    assert report["singled_out"] == []
    assert {"protocol_error", "reload", "reloads_by_cause.render_writeback"} <= set(
        report["normal_behaviour"]
    )
    assert "every websocket subscriber (4)" in report["normal_behaviour_detail"]["reload"]
    assert report["wire"]["measured"] is True
    assert report["wire"]["subscribers"]["ws-0"]["updates"] == 200


def test_wire_faults_on_one_subscriber_are_found_exactly_and_single_it_out(tmp_path):
    expected, causes, report = run(
        tmp_path,
        events=300,
        subscribers=4,
        writeback_every=10,
        wire_duplicates={"ws-1": [13, 33]},
        wire_reorders={"ws-1": [55, 75, 95]},
        wire_gaps={"ws-1": [115, 116, 135]},
        undecodable={"ws-1": 2},
    )
    assert report["findings"] == expected
    assert (
        report["findings"]["wire_duplicate"],
        report["findings"]["wire_reorder"],
        report["findings"]["wire_gap"],
        report["findings"]["undecodable"],
    ) == (2, 3, 3, 2)
    rows = by_client(report)
    for c in ("ws-0", "ws-2", "ws-3"):
        assert {k: rows[c][k] for k in WIRE} == dict.fromkeys(WIRE, 0), c
    assert {k: rows["ws-1"][k] for k in WIRE} == {
        "wire_duplicate": 2,
        "wire_reorder": 3,
        "wire_gap": 3,
        "undecodable": 2,
    }
    detail = report["findings_detail"]
    assert nz(detail["wire_gap"]) == {"healed": 3}
    assert detail["wire_reorder"] == {"stream": 3} and detail["wire_duplicate"] == {"stream": 2}
    assert report["wire"]["gaps_healed"] == 3 and report["wire"]["gaps_unhealed"] == 0
    # every reload and error has its cause; the ones the wire faults made are laid at them
    assert report["causes"]["by_subscriber"] == causes
    ws1 = report["causes"]["by_subscriber"]["ws-1"]
    assert ws1["reload"]["wire_gap"] == 2 and ws1["reload"]["wire_reorder"] == 3
    assert ws1["reload"]["wire_duplicate"] == 2 and ws1["protocol_error"]["wire_undecodable"] == 2
    assert report["causes"]["unknown"] == 0
    # ws-1 is singled out, and why; the uniform write-back reloads stay the target's normal behaviour
    assert [s["client"] for s in report["singled_out"]] == ["ws-1"]
    out = report["singled_out"][0]
    assert {
        "wire_duplicate",
        "wire_reorder",
        "wire_gap",
        "undecodable",
        "reloads_by_cause.wire_gap",
    } <= set(out["kinds"])
    assert "wire_reorder 3 while the 3 other websocket subscribers show none" in out["why"]
    assert "reloads_by_cause.render_writeback" in report["normal_behaviour"]
    # evidence like every finding's: client, window, ids, span
    ev = [e for e in report["evidence"] if e["kind"] == "wire_reorder"]
    assert ev and ev[0]["clients"] == ["ws-1"] and ev[0]["windows"] == [f"{ENV}/{WIN}"]
    assert (
        ev[0]["ids"] == [[SRC, 55], [SRC, 75], [SRC, 95]] and ev[0]["t_first_s"] < ev[0]["t_last_s"]
    )


def test_an_unhealed_gap(tmp_path):
    expected, _, report = run(
        tmp_path, events=80, subscribers=2, wire_gaps={"ws-0": [40, 41]}, wire_gap_reload=False
    )
    assert report["findings"] == expected
    assert nz(report["findings_detail"]["wire_gap"]) == {"unhealed": 2}
    assert report["causes"]["by_subscriber"]["ws-0"] == {"protocol_error": {"wire_gap": 1}}
    assert [s["client"] for s in report["singled_out"]] == ["ws-0"]


def test_polling_newest_first_is_uniform_across_polling_tabs(tmp_path):
    expected, _, report = run(tmp_path, events=103, subscribers=2, polling=3, newest_first=5)
    assert report["findings"] == expected
    rows = by_client(report)
    assert all(rows[f"poll-{i}"]["wire_reorder"] == 20 * 4 + 2 for i in range(3))
    assert rows["ws-0"]["wire_reorder"] == rows["ws-1"]["wire_reorder"] == 0
    assert report["findings_detail"]["wire_reorder"] == {"within_response": 3 * 82}
    assert report["findings"]["wire_gap"] == 0  # every skipped id came, late
    assert report["singled_out"] == []
    assert "wire_reorder" in report["normal_behaviour"]
    assert "every polling subscriber (3)" in report["normal_behaviour_detail"]["wire_reorder"]


def test_unknown_causes_above_the_bound_are_a_finding(tmp_path):
    _, causes, report = run(tmp_path, events=100, subscribers=2, unknown_errors={"ws-0": 4})
    c = report["causes"]
    assert c["by_subscriber"] == causes and c["unknown"] == 8  # 4 errors, 4 reloads
    assert c["unknown_flagged"] is True and c["unknown_share"] == 1.0
    assert any(e["kind"] == "unknown_cause" for e in report["evidence"])
    assert any("no known cause" in n for n in report["notes"])


def test_without_wire_fields_nothing_is_measured_and_noted(tmp_path):
    _, _, report = run(tmp_path, events=50, subscribers=2, wire=False, protocol_errors={"ws-0": 1})
    assert report["wire"]["measured"] is False
    assert any("wire findings not measured" in n for n in report["notes"])
    assert report["causes"]["by_subscriber"]["ws-0"]["protocol_error"] == {"user_action": 1}


def _partial(run_dir: Path, keep) -> Summary:
    meta = json.loads((run_dir / "run.json").read_text())
    an = Analyzer(config_for(meta), t0=meta["started_ns"])
    an.feed_all(r for r in run_records(run_dir, ReadStats()) if keep(r))
    return an.finish()


def test_wire_and_causes_merge_across_workers(tmp_path):
    build_run(
        tmp_path / "run",
        Inject(
            events=150,
            subscribers=4,
            writeback_every=10,
            wire_reorders={"ws-1": [20]},
            wire_gaps={"ws-2": [40]},
        ),
    )
    whole, meta, _ = summarize_run(tmp_path / "run")

    def worker(mine):
        return lambda r: (
            r["client"] in mine or r["type"] in ("send", "ack", "truth", "phase", "fault", "sample")
        )

    parts = [_partial(tmp_path / "run", worker(c)) for c in ({"ws-0", "ws-1"}, {"ws-2", "ws-3"})]
    parts = [Summary.from_dict(json.loads(json.dumps(p.to_dict()))) for p in parts]
    merged = merge(parts[0], parts[1])
    cfg = config_for(meta)
    a, b = build_report(merged, meta, cfg), build_report(whole, meta, cfg)
    for key in ("findings", "wire", "causes", "singled_out", "normal_behaviour"):
        assert a[key] == b[key], key
    assert [s["client"] for s in a["singled_out"]] == ["ws-1", "ws-2"]


def test_a_tab_that_switches_env_and_bad_wire_fields(tmp_path):
    """Switching env mid-run: the new env's windows arrive as snapshots, in-flight updates of the
    old one still come; an error before the new window's snapshot is the user's action. Records
    with garbage wire fields are skipped and noted, never fatal."""
    t0 = 1_700_000_000 * 10**9
    w = JournalWriter(tmp_path / "run" / "journal" / "clients.jsonl", "clients")
    ms = 10**6
    w.write(
        "connect",
        "ws-0",
        1,
        t=t0,
        transport="websocket",
        url="ws://x/socket",
        local_port=1,
        env="a",
    )
    w.write("resync", "ws-0", 1, t=t0 + ms, reason="initial", env="a")
    w.write(
        "recv",
        "ws-0",
        1,
        t=t0 + 2 * ms,
        command="window",
        win="wa",
        kind="snapshot",
        heads={"s-a": [0, 0]},
        ids={"s-a": [[0, 1]]},
    )
    for k in range(1, 6):
        w.write(
            "recv",
            "ws-0",
            1,
            t=t0 + (10 + k) * ms,
            command="window_update",
            win="wa",
            kind="update",
            heads={"s-a": [k, 0]},
            ids={"s-a": [[k, k + 1]]},
        )
    w.write("resync", "ws-0", 1, t=t0 + 20 * ms, reason="switch_env", env="b")
    w.write(
        "recv",
        "ws-0",
        1,
        t=t0 + 21 * ms,
        command="window_update",
        win="wa",
        kind="update",
        heads={"s-a": [6, 0]},
        ids={"s-a": [[6, 7]]},
    )  # in flight before the switch
    w.write(
        "recv",
        "ws-0",
        1,
        t=t0 + 22 * ms,
        command="window_update",
        win="wb",
        kind="update",
        heads={"s-b": [9, 0]},
        ids={"s-b": [[9, 10]]},
    )
    w.write("protocol_error", "ws-0", 1, t=t0 + 23 * ms, kind="hash_mismatch", win="wb", detail="x")
    w.write("resync", "ws-0", 1, t=t0 + 23 * ms + 1, reason="hash_mismatch", env="b")
    w.write(
        "recv",
        "ws-0",
        1,
        t=t0 + 30 * ms,
        command="window",
        win="wb",
        kind="snapshot",
        heads={"s-b": [9, 0]},
        ids={"s-b": [[0, 10]]},
    )
    for k in range(10, 13):
        w.write(
            "recv",
            "ws-0",
            1,
            t=t0 + (30 + k) * ms,
            command="window_update",
            win="wb",
            kind="update",
            heads={"s-b": [k, 0]},
            ids={"s-b": [[k, k + 1]]},
        )
    w.write(
        "recv",
        "ws-0",
        1,
        t=t0 + 50 * ms,
        command="window_update",
        win="wb",
        kind="update",
        heads={"s-b": ["x"]},
        ids={"s-b": [[0, 1]]},
    )  # garbage
    w.write(
        "recv",
        "ws-0",
        1,
        t=t0 + 51 * ms,
        command="window_update",
        win="wb",
        kind="update",
        heads="nope",
        ids=None,
    )  # garbage
    w.write(
        "recv",
        "ws-0",
        1,
        t=t0 + 52 * ms,
        command="undecodable",
        bytes=3,
        win=None,
        undecodable=True,
    )
    w.close()
    report = analyze_run(tmp_path / "run")
    assert {k: report["findings"][k] for k in WIRE} == {**dict.fromkeys(WIRE, 0), "undecodable": 1}
    assert report["causes"]["by_subscriber"]["ws-0"] == {
        "protocol_error": {"user_action": 1},
        "reload": {"user_action": 2},
    }
    assert any("malformed recv" in n for n in report["notes"])
    write_reports(tmp_path / "run", report, plots=False)


def _journal(tmp_path: Path, frames: list) -> dict:
    """ws-0's frames on one connection: ("u", seq) updates, ("s", seq) snapshots, ("resumed",)."""
    t0 = 1_700_000_000 * 10**9
    w = JournalWriter(tmp_path / "run" / "journal" / "clients.jsonl", "clients")
    w.write(
        "connect",
        "ws-0",
        1,
        t=t0,
        transport="websocket",
        url="ws://x/socket",
        local_port=1,
        env="main",
    )
    for i, f in enumerate(frames):
        t = t0 + (i + 1) * 10**6
        if f[0] == "resumed":
            w.write("recv", "ws-0", 1, t=t, rx=t, command="resumed", bytes=9, win=None)
        elif f[0] == "s":
            w.write(
                "recv",
                "ws-0",
                1,
                t=t,
                rx=t,
                command="window",
                win="w",
                kind="snapshot",
                heads={"a": [f[1], 0]},
                ids={"a": [[0, f[1] + 1]]},
                seq=100 + f[1],
            )
        elif f[0] == "n":  # a plot update before any snapshot named its trace
            w.write(
                "recv",
                "ws-0",
                1,
                t=t,
                rx=t,
                command="window_update",
                win="w",
                kind="update",
                heads={},
                ids={},
                unnamed_ids=1,
            )
        else:
            w.write(
                "recv",
                "ws-0",
                1,
                t=t,
                rx=t,
                command="window_update",
                win="w",
                kind="update",
                heads={"a": [f[1], 0]},
                ids={"a": [[f[1], f[1] + 1]]},
                seq=100 + f[1],
            )
    w.close()
    return analyze_run(tmp_path / "run")


@pytest.mark.parametrize(
    ("frames", "want", "detail"),
    [
        # a dropped frame a patched server replays after the tab's resume: a gap, healed by the resume
        (
            [("s", 0), ("u", 1), ("u", 2), ("u", 4), ("resumed",), ("u", 3), ("u", 4), ("u", 5)],
            {"wire_gap": 1},
            {"wire_gap": {"healed": 1}},
        ),
        # a reordered frame: the replay brings it, then the original arrives late: a reorder, no gap
        (
            [
                ("s", 0),
                ("u", 1),
                ("u", 2),
                ("u", 4),
                ("resumed",),
                ("u", 3),
                ("u", 4),
                ("u", 3),
                ("u", 5),
            ],
            {"wire_reorder": 1},
            {"wire_reorder": {"stream": 1}},
        ),
        (
            [
                ("s", 0),
                ("u", 1),
                ("u", 2),
                ("u", 4),
                ("u", 3),
                ("resumed",),
                ("u", 3),
                ("u", 4),
                ("u", 5),
            ],
            {"wire_reorder": 1},
            {"wire_reorder": {"stream": 1}},
        ),
        # outside a replay, the same update twice is a duplicate; a replay of what came is not
        (
            [("s", 0), ("u", 1), ("u", 1), ("u", 2), ("resumed",), ("u", 1), ("u", 2), ("u", 3)],
            {"wire_duplicate": 1},
            {"wire_duplicate": {"stream": 1}},
        ),
        # snapshots do not hide a lost update (the stream of updates skips it) but heal it
        (
            [("s", 0), ("u", 1), ("s", 2), ("u", 3), ("u", 4)],
            {"wire_gap": 1},
            {"wire_gap": {"healed": 1}},
        ),
        ([("s", 0), ("u", 1), ("u", 4), ("u", 5)], {"wire_gap": 2}, {"wire_gap": {"unhealed": 2}}),
        # a poll response newest-first before any snapshot: updates 10..2 unnamed, then the window (10),
        # then update 1; the next response 13, 12, 11: the unnamed ones were 2..10, no gap
        (
            [("n",)] * 9 + [("s", 10), ("u", 1), ("u", 13), ("u", 12), ("u", 11)],
            {"wire_reorder": 2},
            {"wire_reorder": {"stream": 2}},
        ),
        # ... or they were older than the first named one (1..3, window 3, then 8, 7): nothing to place
        (
            [("n",)] * 3
            + [("s", 3), ("u", 8), ("u", 7), ("u", 12), ("u", 11), ("u", 10), ("u", 9)],
            {"wire_reorder": 4},
            {"wire_reorder": {"stream": 4}},
        ),
    ],
)
def test_replays_gaps_and_late_frames_on_one_connection(tmp_path, frames, want, detail):
    report = _journal(tmp_path, frames)
    assert {k: report["findings"][k] for k in WIRE} == {**dict.fromkeys(WIRE, 0), **want}
    for kind, d in detail.items():
        assert nz(report["findings_detail"][kind]) == d


def _patched(tmp_path: Path, frames: list) -> dict:
    """Two windows on one connection of a patched server: ("l"|"t", id, broadcast seq), ("resumed", seq)."""
    t0 = 1_700_000_000 * 10**9
    w = JournalWriter(tmp_path / "run" / "journal" / "clients.jsonl", "clients")
    w.write(
        "connect",
        "ws-0",
        1,
        t=t0,
        transport="websocket",
        url="ws://x/socket",
        local_port=1,
        env="main",
    )
    for i, f in enumerate(frames):
        t = t0 + (i + 1) * 10**6
        if f[0] == "resumed":
            extra = {"replay_from": f[2], "mode": "replay"} if len(f) > 2 else {}
            w.write(
                "recv",
                "ws-0",
                1,
                t=t,
                rx=t,
                command="resumed",
                bytes=9,
                win=None,
                seq=f[1],
                epoch="e",
                **extra,
            )
            continue
        win, src = ("line", "l") if f[0] == "l" else ("text", "t")
        ids = [[f[1], f[1] + 1]] if f[0] == "l" else [[0, f[1] + 1]]
        w.write(
            "recv",
            "ws-0",
            1,
            t=t,
            rx=t,
            command="window_update",
            win=win,
            kind="update",
            heads={src: [f[1], 0]},
            ids={src: ids},
            seq=f[2],
            epoch="e",
        )
    w.close()
    return analyze_run(tmp_path / "run")


@pytest.mark.parametrize(
    ("frames", "want"),
    [
        # line 8 (seq 17) dropped: text 8 shows the shim the seq gap, it resumes, the replay brings line 8:
        # the line window's own stream never skipped, yet the frame was lost on the wire
        (
            [
                ("l", 7, 15),
                ("t", 7, 16),
                ("t", 8, 18),
                ("resumed", 18),
                ("l", 8, 17),
                ("t", 8, 18),
                ("l", 9, 19),
            ],
            {"wire_gap": 1},
        ),
        # held (reordered), replayed, then the original arrives late: a reorder
        (
            [
                ("l", 7, 15),
                ("t", 7, 16),
                ("t", 8, 18),
                ("resumed", 18),
                ("l", 8, 17),
                ("t", 8, 18),
                ("l", 9, 19),
                ("l", 8, 17),
            ],
            {"wire_reorder": 1},
        ),
        # a duplicate the shim dropped by its seq: still a duplicate on the wire
        ([("l", 7, 15), ("l", 7, 15), ("t", 7, 16)], {"wire_duplicate": 1}),
        # a reconnect: the new connection's resume replays what it missed while away (no anomaly), a
        # replayed frame is lost (line 86), the next resume brings it again with what came after
        (
            [("l", 92, 277), ("resumed", 277, 246)]
            + [("l", i, 247 + 3 * (i - 82)) for i in range(82, 92) if i != 86]
            + [("resumed", 280, 258)]
            + [("l", i, 247 + 3 * (i - 82)) for i in range(86, 93)]
            + [("l", 93, 280)],
            {"wire_gap": 1},
        ),
        # ... and a replay that lost nothing, then more replays of the same: nothing either
        (
            [("l", 92, 277), ("resumed", 277, 246)]
            + [("l", i, 247 + 3 * (i - 82)) for i in range(82, 93)]
            + [("resumed", 280, 270)]
            + [("l", i, 247 + 3 * (i - 82)) for i in range(90, 93)]
            + [("l", 93, 280)],
            {},
        ),
    ],
)
def test_a_patched_servers_replay_by_broadcast_seq(tmp_path, frames, want):
    report = _patched(tmp_path, frames)
    assert {k: report["findings"][k] for k in WIRE} == {**dict.fromkeys(WIRE, 0), **want}
    if "wire_gap" in want:
        assert nz(report["findings_detail"]["wire_gap"]) == {"healed": 1}


# -- the odd one out, directly ---------------------------------------------------------------


def rows(transport: str, **counts: dict[str, int]) -> dict[str, dict]:
    return {c: {"transport": transport, "counts": v} for c, v in counts.items()}


def test_odd_one_out_rules():
    # reload counts every tab has, a little apart (276 against 297-301): normal, no one singled out
    r = rows(
        "websocket",
        **{
            f"ws-{i}": {"reload": n, "reorder": o}
            for i, (n, o) in enumerate([(276, 2), (297, 3), (299, 4), (301, 3)])
        },
    )
    singled, normal, why = odd_one_out(r)
    assert singled == [] and normal == ["reload", "reorder"]
    # one tab with many more: an outlier; one tab with none of them while the rest have hundreds too
    r["ws-4"] = {"transport": "websocket", "counts": {"reload": 1200, "reorder": 3}}
    r["ws-5"] = {"transport": "websocket", "counts": {"reload": 0, "reorder": 3}}
    singled, normal, _ = odd_one_out(r)
    assert [(s["client"], s["rules"]) for s in singled] == [
        ("ws-4", ["outlier"]),
        ("ws-5", ["outlier"]),
    ]
    assert "reorder" in normal and "reload" not in normal
    # a lone wire finding singles out at 1, a lone view finding only from 10, and among 3 or more
    r = rows("websocket", a={"wire_gap": 1, "stale": 9}, b={}, c={})
    assert [(s["client"], s["kinds"]) for s in odd_one_out(r)[0]] == [("a", ["wire_gap"])]
    r = rows("websocket", a={"wire_gap": 1, "stale": 12}, b={}, c={})
    assert [(s["client"], s["kinds"]) for s in odd_one_out(r)[0]] == [("a", ["stale", "wire_gap"])]
    r = rows("polling", a={"wire_gap": 1, "stale": 12}, b={})
    assert [(s["client"], s["kinds"]) for s in odd_one_out(r)[0]] == [("a", ["wire_gap"])]
    # transports are compared apart, and a lone subscriber is compared with no one
    r = {
        **rows("polling", p0={"wire_reorder": 40}, p1={"wire_reorder": 38}),
        **rows("websocket", w0={"reload": 9}),
    }
    assert odd_one_out(r)[0] == [] and odd_one_out(r)[1] == ["wire_reorder"]
    # half of them: both stand out against the zeros
    r = rows("websocket", a={"wire_duplicate": 2}, b={"wire_duplicate": 1}, c={}, d={})
    assert [s["client"] for s in odd_one_out(r)[0]] == ["a", "b"]


def test_outputs_show_causes_and_who_is_singled_out(tmp_path):
    _, _, report = run(
        tmp_path, events=200, subscribers=3, writeback_every=10, wire_reorders={"ws-2": [50]}
    )
    md = render_markdown(report)
    assert "## Reloads and protocol errors by cause" in md and "render write-back" in md
    assert "## Singled out" in md and "ws-2" in md.split("## Singled out")[1]
    assert "normal behaviour" in md.lower()
    from rich.console import Console

    console = Console(width=220, record=True)
    console.print(findings_table(report))
    text = console.export_text()
    assert "reloads by cause" in text and "render_writeback 59 · wire_reorder 1" in text
    assert "singled out" in text and "ws-2" in text
    for kind in FINDING_KINDS:
        assert kind in report["findings"]


def test_evidence_passes_over_faults_aimed_at_other_clients():
    from visdom_chaos.reports.analyze import FaultIndex

    s = 10**9
    faults = [
        {
            "t": 1 * s,
            "client": "proxy",
            "kind": "toxic_add",
            "toxic": "r",
            "detail": {"attributes": {"clients": ["ws-1"]}},
        },
        {
            "t": 2 * s,
            "client": "ws-1",
            "kind": "ws_reorder",
            "toxic": "r",
            "detail": {"client": "ws-1"},
        },
        {
            "t": 3 * s,
            "client": "proxy",
            "kind": "schedule",
            "toxic": "r",
            "detail": {
                "op": "add_toxic",
                "args": {"type": "ws_drop", "attributes": {"clients": ["poll-*"]}},
            },
        },
        {"t": 4 * s, "client": "proxy", "kind": "reset_peer", "toxic": "x", "detail": {}},
    ]
    idx = FaultIndex(faults, 0, 10.0)
    assert [f["kind"] for f in idx.near(5 * s, 5 * s, client="ws-0")] == ["reset_peer"]
    assert [f["kind"] for f in idx.near(int(2.5 * s), 5 * s, client="ws-1")] == [
        "ws_reorder",
        "reset_peer",
    ]
    assert idx.near(int(2.5 * s), None, client="ws-1")[0]["client"] == "ws-1"
    assert [f["kind"] for f in idx.near(int(1.5 * s), int(1.5 * s), client="ws-1")] == ["toxic_add"]
    assert [f["kind"] for f in idx.near(int(3.5 * s), int(3.5 * s), client="poll-0")] == [
        "schedule"
    ]
    assert idx.near(int(1.5 * s), int(1.5 * s), client="ws-0") == []
