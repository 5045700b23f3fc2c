"""visdom_chaos.wire.frames.WireReader: wire ids read from each frame's own payload.

Over the real frames captured from 0.2.4 and 0.3.0 (tests/fixtures/replica/*.jsonl) and
hand-made ones: plot appends, text appends, a patched server's stamps, and garbage.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from visdom_chaos.ids import ids_in_window, send_ms, text_token
from visdom_chaos.wire.frames import WireReader

FIXTURES = Path(__file__).parent / "fixtures" / "replica"
CAPTURES = sorted(p.stem for p in FIXTURES.glob("*.jsonl"))


def frames(name: str) -> list[dict | None]:
    out = []
    for line in (FIXTURES / f"{name}.jsonl").read_text().splitlines():
        try:
            out.append(json.loads(json.loads(line)["frame"]))
        except ValueError:
            out.append(None)
    return out


def runs_to_set(runs: dict) -> set[tuple[str, int]]:
    return {(src, s) for src, rs in runs.items() for a, b in rs for s in range(a, b)}


@pytest.mark.parametrize("name", CAPTURES)
def test_captured_stream_carries_every_id_of_the_truth(name):
    """Union of what the frames carried per window == the server's final window."""
    truth = json.loads((FIXTURES / f"{name}.truth.json").read_text())["windows"]
    reader = WireReader()
    carried: dict[str, set] = {}
    for msg in frames(name):
        out = reader.read(msg)
        assert not out.get("undecodable"), (msg, out)
        if "kind" not in out:
            assert out == {}
            continue
        win = msg["id"] if out["kind"] == "snapshot" else msg["win"]
        carried.setdefault(win, set()).update(runs_to_set(out["ids"]))
        for src, (seq, ns) in out["heads"].items():
            assert (src, seq) in runs_to_set(out["ids"])
            assert isinstance(ns, int)
    for win, window in truth.items():
        want = {(i.source, i.seq) for i in ids_in_window(window)}
        assert want <= carried.get(win, set()), win


@pytest.mark.parametrize("name", ["0.2.4-basic", "0.3.0-basic"])
def test_update_heads_count_up_by_one_on_a_perfect_stream(name):
    reader = WireReader()
    heads: dict[tuple[str, str], list[int]] = {}
    for msg in frames(name):
        out = reader.read(msg)
        if out.get("kind") == "update":
            for src, (seq, ns) in out["heads"].items():
                heads.setdefault((msg["win"], src), []).append(seq)
                assert ns > 1_700_000_000 * 10**9  # the send time survived the round trip
    assert heads
    for key, seqs in heads.items():
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), key


def test_030_frames_carry_version():
    reader = WireReader()
    versions = [
        reader.read(m).get("version")
        for m in frames("0.3.0-basic")
        if isinstance(m, dict) and m.get("command") == "window_update" and m["win"] == "line1"
    ]
    assert versions == list(range(2, 2 + len(versions)))


# -- hand-made frames -----------------------------------------------------------------------


def plot_window(
    win: str, traces: dict[str, list[int]], t0_ns: int = 1_795_000_000_000_000_000
) -> dict:
    data = [
        {
            "x": [float(s) for s in seqs],
            "y": [send_ms(t0_ns + s * 1000_000) for s in seqs],
            "name": src,
            "type": "scatter",
            "mode": "lines",
        }
        for src, seqs in traces.items()
    ]
    return {
        "command": "window",
        "id": win,
        "title": "",
        "contentID": "c",
        "type": "plot",
        "i": 0,
        "content": {"data": data, "layout": {}},
    }


def plot_append(
    win: str, trace: int, k: int, n: int, t0_ns: int = 1_795_000_000_000_000_000, **extra
) -> dict:
    ops = [
        {"op": "replace", "path": "/contentID", "value": "c2"},
        {"op": "add", "path": f"/content/data/{trace}/x/{k}", "value": float(n)},
        {
            "op": "add",
            "path": f"/content/data/{trace}/y/{k}",
            "value": send_ms(t0_ns + n * 1000_000),
        },
    ]
    return {
        "command": "window_update",
        "win": win,
        "env": "main",
        "content": ops,
        "finalHash": "h",
        **extra,
    }


def test_plot_append_names_its_source_through_the_last_snapshot():
    r = WireReader()
    snap = r.read(plot_window("w", {"a": [0, 1, 2], "b": [0]}))
    assert snap["kind"] == "snapshot"
    assert snap["ids"] == {"a": [[0, 3]], "b": [[0, 1]]}
    assert snap["heads"]["a"][0] == 2 and snap["heads"]["b"][0] == 0
    out = r.read(plot_append("w", 1, 1, 1))
    assert out["kind"] == "update"
    assert out["ids"] == {"b": [[1, 2]]}
    assert out["heads"] == {"b": [1, 1_795_000_000_001_000_000]}
    assert "undecodable" not in out


def test_plot_append_without_a_snapshot_has_unnamed_ids():
    r = WireReader()
    out = r.read(plot_append("w", 0, 5, 5))
    assert out["kind"] == "update" and out["unnamed_ids"] == 1 and "undecodable" not in out
    assert out["ids"] == {} and out["heads"] == {}
    r.read(plot_window("w", {"a": [0]}))
    assert r.read(plot_append("w", 3, 0, 7))["unnamed_ids"] == 1  # trace index 3 unknown
    r.reset()  # a new connection knows no windows
    assert r.read(plot_append("w", 0, 1, 1))["unnamed_ids"] == 1


def test_new_trace_added_by_an_op_names_itself():
    r = WireReader()
    r.read(plot_window("w", {"a": [0]}))
    trace = {"x": [0.0], "y": [send_ms(1_795_000_000_000_000_000)], "name": "b", "type": "scatter"}
    out = r.read(
        {
            "command": "window_update",
            "win": "w",
            "content": [{"op": "add", "path": "/content/data/1", "value": trace}],
        }
    )
    assert out["ids"] == {"b": [[0, 1]]}
    assert r.read(plot_append("w", 1, 1, 1))["ids"] == {"b": [[1, 2]]}
    # a trace appended with "-" and points appended with "-"
    out = r.read(
        {
            "command": "window_update",
            "win": "w",
            "content": [
                {"op": "add", "path": "/content/data/-", "value": {**trace, "name": "c"}},
                {"op": "add", "path": "/content/data/0/x/-", "value": 1.0},
                {"op": "add", "path": "/content/data/0/y/-", "value": 1000.0},
            ],
        }
    )
    assert out["ids"] == {"c": [[0, 1]], "a": [[1, 2]]}
    assert out["heads"]["a"] == [1, 1_000_000_000]


def test_whole_arrays_and_renames():
    r = WireReader()
    r.read(plot_window("w", {"a": [0]}))
    out = r.read(
        {
            "command": "window_update",
            "win": "w",
            "content": [
                {"op": "replace", "path": "/content/data/0/name", "value": "z"},
                {"op": "replace", "path": "/content/data/0/x", "value": [0.0, 1.0, 2.0]},
                {"op": "replace", "path": "/content/data/0/y", "value": [1.0, 2.0, 3.0]},
            ],
        }
    )
    assert out["ids"] == {"z": [[0, 3]]} and out["heads"]["z"] == [2, 3_000_000]
    out = r.read(
        {
            "command": "window_update",
            "win": "w",
            "content": [
                {
                    "op": "replace",
                    "path": "/content",
                    "value": {"data": [{"name": "q", "x": [4], "y": [5.0]}]},
                }
            ],
        }
    )
    assert out["ids"] == {"q": [[4, 5]]}
    assert r.read(plot_append("w", 0, 1, 5))["ids"] == {"q": [[5, 6]]}


def test_patched_server_stamps_and_030_version():
    r = WireReader()
    r.read(plot_window("w", {"a": [0]}))
    msg = plot_append("w", 0, 1, 1, seq=17, epoch="e1")
    msg["content"] += [
        {"op": "add", "path": "/seq", "value": 17},
        {"op": "add", "path": "/epoch", "value": "e1"},
    ]
    out = r.read(msg)
    assert (out["seq"], out["epoch"]) == (17, "e1")
    msg = plot_append("w", 0, 2, 2)  # only the ops carry them
    msg["content"] += [
        {"op": "add", "path": "/seq", "value": 18},
        {"op": "add", "path": "/epoch", "value": "e1"},
        {"op": "replace", "path": "/version", "value": 3},
    ]
    out = r.read(msg)
    assert (out["seq"], out["epoch"], out["version"]) == (18, "e1", 3)
    out = r.read({**plot_window("w", {"a": [0, 1, 2]}), "seq": 20, "epoch": "e1", "version": 3})
    assert (out["kind"], out["seq"], out["version"]) == ("snapshot", 20, 3)
    assert "seq" not in r.read(plot_append("w", 0, 3, 3, seq=True))  # a bool is no seq


def test_text_append_carries_the_whole_text_and_is_read_incrementally():
    r = WireReader()
    toks = [text_token("t", i, 1_795_000_000_000_000_000 + i) for i in range(4)]
    snap = r.read({"command": "window", "id": "x", "type": "text", "content": toks[0]})
    assert snap["ids"] == {"t": [[0, 1]]} and snap["heads"] == {"t": [0, 1_795_000_000_000_000_000]}
    for n in range(2, 5):
        out = r.read(
            {
                "command": "window_update",
                "win": "x",
                "content": [
                    {"op": "replace", "path": "/contentID", "value": "c"},
                    {"op": "replace", "path": "/content", "value": "<br>".join(toks[:n])},
                ],
            }
        )
        assert out["ids"] == {"t": [[0, n]]}
        assert out["heads"] == {"t": [n - 1, 1_795_000_000_000_000_000 + n - 1]}
    # a text that does not extend the last one (a server restart, another window) is read whole
    out = r.read(
        {
            "command": "window_update",
            "win": "x",
            "content": [{"op": "replace", "path": "/content", "value": toks[3]}],
        }
    )
    assert out["ids"] == {"t": [[3, 4]]}
    # a lost append: the next text still carries it (the gap heals in the payload itself)
    out = r.read(
        {
            "command": "window_update",
            "win": "x",
            "content": [
                {
                    "op": "replace",
                    "path": "/content",
                    "value": "<br>".join(toks[3:] + [text_token("t", 5, 5)]),
                }
            ],
        }
    )
    assert out["ids"] == {"t": [[3, 4], [5, 6]]} and out["heads"]["t"] == [5, 5]


def test_image_caption_tokens():
    r = WireReader()
    out = r.read(
        {
            "command": "window",
            "id": "im",
            "type": "image",
            "content": {"src": "x", "caption": "[i#3@9]"},
        }
    )
    assert out["ids"] == {"i": [[3, 4]]} and out["heads"] == {"i": [3, 9]}


def test_text_reading_stays_linear():
    """2,000 appends of a growing text: each read parses only what was appended."""
    r = WireReader()
    toks = [text_token("src-0", i, 1_795_000_000_000_000_000 + i) + "." * 40 for i in range(2000)]
    text = toks[0]
    r.read({"command": "window", "id": "x", "type": "text", "content": text})
    t = time.perf_counter()
    for tok in toks[1:]:
        text = text + "<br>" + tok
        out = r.read(
            {
                "command": "window_update",
                "win": "x",
                "content": [{"op": "replace", "path": "/content", "value": text}],
            }
        )
    assert out["ids"] == {"src-0": [[0, 2000]]}
    assert time.perf_counter() - t < 1.0


@pytest.mark.parametrize(
    "msg",
    [
        None,
        3,
        "not json",
        b"\xff\xfe",
        [1, 2],
        {"command": "window_update", "win": "w", "content": "nope"},
        {"command": "window_update", "content": []},
        {"command": "window", "content": {}},
    ],
)
def test_garbage_is_undecodable_never_raises(msg):
    out = WireReader().read(msg)
    assert out.get("undecodable") is True


def test_garbage_inside_a_frame_counts_bad_ids():
    r = WireReader()
    r.read(plot_window("w", {"a": [0]}))
    out = r.read(
        {
            "command": "window_update",
            "win": "w",
            "content": [
                7,
                {"path": 3},
                {"op": "add", "path": "/content/data/0/x/1", "value": "five"},
                {"op": "add", "path": "/content/data/0/x/2", "value": float("nan")},
                {"op": "add", "path": "/content/data/0/x/3", "value": 3.0},
                {"op": "add", "path": "/content/data/0/y/3", "value": float("inf")},
                {"op": "add", "path": "/content/data/zz/x/1", "value": 1.0},
                {"op": "remove", "path": "/content/data/0/x/0"},
            ],
        }
    )
    assert out["bad_ids"] == 4 and out["undecodable"] is True and "unnamed_ids" not in out
    assert out["ids"] == {"a": [[3, 4]]} and out["heads"] == {"a": [3, 0]}
    # a window whose trace list is garbage still names what it can
    out = r.read(
        {
            "command": "window",
            "id": "w",
            "type": "plot",
            "content": {"data": [5, {"x": [1], "y": [2], "name": 7}]},
        }
    )
    assert out["bad_ids"] == 1
    # a trace without a name is no toolkit trace (a user's own bar chart): no ids, no garbage
    out = r.read(
        {
            "command": "window",
            "id": "bar",
            "type": "plot",
            "content": {"data": [{"x": [1, 2, 3], "y": [4, 5, 6], "type": "bar"}]},
        }
    )
    assert "undecodable" not in out and out["ids"] == {}
    # raw text frames are decoded too; messages without window content give {}
    assert r.read(json.dumps(plot_append("w", 0, 1, 1)))["kind"] == "update"
    for msg in (
        {"command": "register", "data": "s"},
        {"command": "layout"},
        {"command": "close", "data": "w"},
        {},
    ):
        assert r.read(msg) == {}
    resumed = {
        "command": "resumed",
        "mode": "replay",
        "sid": "s",
        "eid": "main",
        "from": 3,
        "seq": 9,
        "epoch": "e",
    }
    assert r.read(resumed) == {"seq": 9, "epoch": "e", "replay_from": 3, "mode": "replay"}
