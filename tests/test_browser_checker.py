"""The browser fidelity checker (reports/checkers/browser.py) in the one pass: final views
against the truth whatever way the reader parsed them, no work without tabs, merging."""

from __future__ import annotations

import json
from pathlib import Path

from visdom_chaos.journal import JournalWriter
from visdom_chaos.reports.analyze import analyze_run, summarize_run
from visdom_chaos.reports.checkers.state import record_order
from visdom_chaos.reports.journals import BIG_LINE, _big_ids_record
from visdom_chaos.reports.summary import Summary, merge

T0 = 1_700_000_000_000_000_000
S = 1_000_000_000


def _run(
    tmp_path: Path, views: dict[str, list[list]], truth: list[list], browser: bool = True
) -> Path:
    run = tmp_path / "run"
    w = JournalWriter(run / "journal" / "clients.jsonl", "clients")
    w.write("send", "src-0", 0, t=T0 + S, win="w", seq=0)
    for k, (client, ids) in enumerate(views.items()):
        transport = "browser" if client.startswith("browser") else "websocket"
        if transport == "browser" and not browser:
            continue
        w.write("connect", client, 1, t=T0 + k, transport=transport, local_port=0, env="main")
        w.write(
            "view",
            client,
            1,
            t=T0 + 5 * S + k,
            env="main",
            win="w",
            ids=ids,
            final=True,
            transport=transport,
        )
        w.write("disconnect", client, 1, t=T0 + 6 * S + k, reason="end")
    w.write("ack", "src-0", 0, t=T0 + 2 * S, win="w", seq=0, ok=True)
    w.write("truth", "orchestrator", 0, t=T0 + 4 * S, env="main", win="w", ids=truth)
    w.close()
    return run


def _subs(report: dict) -> dict[str, dict]:
    row = report["browser"]["fidelity"]["windows"][0]
    return {s["id"]: s for side in ("replica", "browser") for s in row[side]["subscribers"]}


def test_final_views_against_the_truth_in_order_whether_read_as_lists_or_sets(
    tmp_path: Path,
) -> None:
    n = 6000  # a view line of this many ids is read straight into interval sets
    truth = [["src-0", k] for k in range(n)]
    swapped = [*truth[:10], truth[11], truth[10], *truth[12:]]  # the same ids, two of them swapped
    short = truth[:3]
    run = _run(
        tmp_path,
        {"ws-0": truth, "ws-1": swapped, "browser-0": truth, "browser-1": short + [short[0]]},
        truth,
    )
    assert len(json.dumps(truth)) > BIG_LINE
    subs = _subs(analyze_run(run))
    assert subs["ws-0"] == {**subs["ws-0"], "final_ids": n, "equal_truth": True, "off_by": 0}
    assert subs["browser-0"]["equal_truth"] is True
    # the same ids in another order: no id off, but not equal to the truth
    assert subs["ws-1"]["off_by"] == 0 and subs["ws-1"]["equal_truth"] is False
    # a short list (parsed as a list) with a repeat: 3 shown, n - 3 absent, 1 repeated
    b1 = subs["browser-1"]
    assert (b1["final_ids"], b1["absent"], b1["extra"], b1["off_by"], b1["equal_truth"]) == (
        4,
        n - 3,
        0,
        n - 2,
        False,
    )


def test_a_long_line_read_as_sets_keeps_the_order_of_its_ids() -> None:
    ids = [["src-1", 5], ["src-0", 2], ["src-0", 1]] * 3000
    line = json.dumps(
        {"t": T0, "type": "view", "client": "ws-0", "ids": ids}, separators=(",", ":")
    ).encode()
    big = _big_ids_record(line)
    assert big is not None and big["ids"] == []
    assert big["_order"] == record_order(json.loads(line))
    assert big["_order"] != record_order({"ids": ids[1:] + ids[:1]})


def test_no_tab_no_browser_part_and_nothing_joined(tmp_path: Path) -> None:
    run = _run(tmp_path, {"ws-0": [["src-0", 0]]}, [["src-0", 0]], browser=False)
    summary, _meta, _stats = summarize_run(run)
    assert summary.browser == {}
    assert "browser" not in analyze_run(run)


def test_browser_part_round_trips_and_merges_by_client(tmp_path: Path) -> None:
    a = summarize_run(
        _run(tmp_path / "a", {"ws-0": [["src-0", 0]], "browser-0": [["src-0", 0]]}, [["src-0", 0]])
    )[0]
    b = summarize_run(
        _run(tmp_path / "b", {"ws-1": [["src-0", 0]], "browser-1": []}, [["src-0", 0]])
    )[0]
    a2, b2 = (Summary.from_dict(json.loads(json.dumps(s.to_dict()))) for s in (a, b))
    assert a2.browser == json.loads(json.dumps(a.browser))
    m = merge(a2, b2)
    assert sorted(m.browser["browsers"]) == ["browser-0", "browser-1"]
    assert sorted(m.browser["views"]) == ["browser-0", "browser-1", "ws-0", "ws-1"]
    assert m.browser["views"]["browser-1"]["main/w"]["absent"] == 1
    assert m.browser["latency"] is None  # per process: two make none
    assert merge(a2, Summary()).browser == a2.browser
