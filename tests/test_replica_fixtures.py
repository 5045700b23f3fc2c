"""Replaying real frames captured from stock 0.2.4 / 0.3.0 (tests/fixtures/replica/capture.py).

The capture ran a live replica against the real server and did what it asked (env
requests), so a replay must give exactly the same effects, and the final views must
equal the server's /win_data. On 0.2.4 the browser-side md5 must equal the server's
finalHash on every clean update: that is the replica's key fidelity check.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from visdom_chaos.ids import ids_in_window
from visdom_chaos.wire.replica import Applied, ProtocolError, RequestEnv, make_replica
from visdom_chaos.wire.replica.fake_server import server_hash
from visdom_chaos.wire.replica.stablejson import browser_md5

FIXTURES = Path(__file__).parent / "fixtures" / "replica"
CASES = [(v, s) for v in ("0.2.4", "0.3.0") for s in ("basic", "race", "divergent", "close")]


def summary(effect: object) -> list[object]:
    what = (
        getattr(effect, "kind", None)
        or getattr(effect, "reason", None)
        or getattr(effect, "command", None)
    )
    return [type(effect).__name__, what, getattr(effect, "win", None)]


def replay(version: str, scenario: str) -> tuple[Any, list[object], dict[str, Any], list[str]]:
    frames = [
        json.loads(line)
        for line in (FIXTURES / f"{version}-{scenario}.jsonl").read_text().splitlines()
    ]
    truth = json.loads((FIXTURES / f"{version}-{scenario}.truth.json").read_text())
    r = make_replica(version)
    # captured before the replica modelled Plotly's write-back into rendered plot panes:
    # the capture holds no answer to the env requests that would add (test_plot_render.py)
    r.render_writeback = False
    effects: list[object] = []
    for rec in frames:
        effects += r.handle(rec["frame"], rec["t"])
    effects += r.tick(frames[-1]["t"] + 5.0)
    return r, effects, truth, [rec["frame"] for rec in frames]


def keyed(ids: list) -> list[tuple[str, int]]:
    return [(i.source, i.seq) for i in ids]


@pytest.mark.parametrize(("version", "scenario"), CASES)
def test_replay_is_deterministic_and_ends_at_server_truth(version: str, scenario: str) -> None:
    r, effects, truth, _ = replay(version, scenario)
    assert [summary(e) for e in effects] == truth["live_effects"]
    for win, window in truth["windows"].items():
        assert keyed(r.views()[("main", win)]) == keyed(ids_in_window(window)), win
        assert len(ids_in_window(window)) >= 1


@pytest.mark.parametrize("version", ["0.2.4", "0.3.0"])
def test_basic_line_ids_arrive_once_in_order_without_errors(version: str) -> None:
    _, effects, truth, _ = replay(version, "basic")
    line = [e for e in effects if isinstance(e, Applied) and e.win == "line1"]
    added = [i for e in line for i in e.added]
    assert keyed(added) == [("line-0", s) for s in range(21)]
    assert all(e.removed == [] and e.dup == [] for e in line)
    assert [e for e in effects if isinstance(e, ProtocolError) and e.win == "line1"] == []


def test_v024_basic_is_clean_and_md5_matches_every_final_hash() -> None:
    r, effects, truth, frames = replay("0.2.4", "basic")
    assert [e for e in effects if isinstance(e, ProtocolError)] == []
    assert [e.reason for e in effects if isinstance(e, RequestEnv)] == ["initial", "initial"]
    text = [i for e in effects if isinstance(e, Applied) and e.win == "text1" for i in e.added]
    assert keyed(text) == [("text-0", s) for s in range(21)]
    updates = [json.loads(f) for f in frames if '"window_update"' in f]
    assert len(updates) == 40 and all("finalHash" in u for u in updates)
    for win, window in truth["windows"].items():
        assert browser_md5(r.window("main", win)) == truth["hashes"][win] == server_hash(window)


def test_v024_race_window_then_immediate_updates_mismatch_and_reload() -> None:
    # _checkWindow retries (100 ms) for updates racing the pane batch let later updates
    # overtake earlier ones: line patches (array adds) then fail the hash check
    _, effects, _, _ = replay("0.2.4", "race")
    mismatches = [e for e in effects if isinstance(e, ProtocolError) and e.kind == "hash_mismatch"]
    reloads = [e for e in effects if isinstance(e, RequestEnv) and e.reason == "hash_mismatch"]
    assert len(mismatches) > 0 and len(reloads) == len(mismatches)
    assert {e.win for e in mismatches} == {"line1"}


def test_v024_divergent_values_mismatch_on_every_update() -> None:
    # Python's json.dumps (server hash) and V8's JSON.stringify (browser hash) disagree
    # on non-ASCII and on floats below 1e-6: each such update reloads the env
    r, effects, truth, frames = replay("0.2.4", "divergent")
    n_updates = sum('"window_update"' in f for f in frames)
    kinds = Counter(e.kind for e in effects if isinstance(e, ProtocolError))
    assert n_updates > 0 and kinds == {"hash_mismatch": n_updates}
    for win, window in truth["windows"].items():
        assert server_hash(window) == truth["hashes"][win]
        assert browser_md5(r.window("main", win)) != truth["hashes"][win]


@pytest.mark.parametrize("scenario", ["basic", "race"])
def test_v030_every_text_append_is_a_version_gap_and_reload(scenario: str) -> None:
    _, effects, _, _ = replay("0.3.0", scenario)
    gaps = [e for e in effects if isinstance(e, ProtocolError)]
    assert {(e.kind, e.win) for e in gaps} == {("version_gap", "text1")}
    assert len(gaps) == 20
    assert sum(isinstance(e, RequestEnv) and e.reason == "gap" for e in effects) == 20


def test_v024_close_renumbers_i_and_costs_one_reload() -> None:
    # closing `a` makes relayout set c.i = 1 while the server keeps i = 2: the first
    # patch after that copies the renumbered pane into the consistent copy, the second
    # fails the hash; the env reload's `layout` runs before its batched windows land,
    # so the reloaded pane keeps the server's i and the storm stops there
    r, effects, truth, _ = replay("0.2.4", "close")
    errors = [(e.kind, e.win) for e in effects if isinstance(e, ProtocolError)]
    assert errors == [("hash_mismatch", "c")]
    assert truth["windows"]["c"]["i"] == 2 and r.window("main", "c")["i"] == 2
    assert ("main", "a") not in r.views()
