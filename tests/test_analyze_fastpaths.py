"""The analyzer's fast paths (issue 18) against the plain code they stand for, on arbitrary
inputs: the merge of sorted parts, the ids of long view lines, their order number, and the
engine calling view hooks only in the case each acts on."""

from __future__ import annotations

import json
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from visdom_chaos.reports.checkers import default_checkers
from visdom_chaos.reports.checkers.base import Checker
from visdom_chaos.reports.checkers.state import IdsFold, record_ids, record_order
from visdom_chaos.reports.engine import Analyzer
from visdom_chaos.reports.intervals import IntervalSet
from visdom_chaos.reports.journals import _big_ids_record, _merge_parts

# -- merging the files' parts of a batch ----------------------------------------------------

parts_st = st.lists(
    st.lists(st.integers(0, 30), max_size=120).map(sorted), min_size=1, max_size=5
).filter(lambda ps: all(ps))


@settings(max_examples=300, deadline=None)
@given(parts_st)
def test_merge_parts_is_a_stable_sort_of_the_parts_in_file_order(times: list[list[int]]) -> None:
    parts = [[{"t": t, "at": (f, i)} for i, t in enumerate(ts)] for f, ts in enumerate(times)]
    want = sorted((r for p in parts for r in p), key=lambda r: r["t"])  # stable
    got = _merge_parts([list(p) for p in parts])
    assert [r["at"] for r in got] == [r["at"] for r in want]


# -- ids of views and truths ------------------------------------------------------------------


def reference(items: list[list[Any]]) -> tuple[dict[str, list[int]], list[tuple[str, int]]]:
    """What the ids mean, one by one: seqs per source, and the ids listed again."""
    seen: dict[str, set[int]] = {}
    repeats = []
    for src, seq, *_ in items:
        if seq in seen.setdefault(src, set()):
            repeats.append((src, seq))
        seen[src].add(seq)
    return {s: sorted(v) for s, v in seen.items()}, repeats


def ascending(n: int, src: str = "src-0") -> list[list[Any]]:
    return [[src, s] for s in range(1, n + 1) if s % 97]  # runs with holes


ids_st = st.one_of(
    st.lists(
        st.tuples(st.sampled_from(["src-0", "src-1", "ü"]), st.integers(-3, 40)).map(list),
        max_size=60,
    ),
    st.integers(1, 9000).map(ascending),
)


@settings(max_examples=200, deadline=None)
@given(ids_st, st.lists(st.integers(1, 5000), max_size=4))
def test_ids_fold_in_pieces_equals_the_reference(items: list[list[Any]], cuts: list[int]) -> None:
    whole = IdsFold()
    whole.feed(items)
    pieces = IdsFold()
    at = 0
    for c in sorted(cuts) + [len(items)]:
        pieces.feed(items[at : max(at, c)])
        at = max(at, c)
    want_sets, want_repeats = reference(items)
    for fold in (whole, pieces):
        assert {s: list(v) for s, v in fold.sets.items()} == want_sets
        assert fold.repeats == want_repeats
        assert all(isinstance(v, IntervalSet) for v in fold.sets.values())
    assert pieces.order == whole.order


def test_a_piece_that_starts_on_the_last_seq_of_the_one_before_repeats_it() -> None:
    fold = IdsFold()
    fold.feed([["a", 1], ["a", 2]])
    fold.feed([["a", 2], ["a", 3]])  # ascending in itself, but 2 was there
    assert fold.repeats == [("a", 2)]
    assert list(fold.sets["a"]) == [1, 2, 3]


@settings(max_examples=100, deadline=None)
@given(ids_st, ids_st)
def test_order_numbers_are_equal_exactly_for_the_same_list(a: list[Any], b: list[Any]) -> None:
    ra, rb = {"ids": a}, {"ids": b}
    same = [(str(x[0]), int(x[1])) for x in a] == [(str(x[0]), int(x[1])) for x in b]
    assert (record_order(ra) == record_order(rb)) == same


def view_line(items: list[list[Any]], **extra: Any) -> bytes:
    rec = {"t": 5, "type": "view", "client": "ws-0", "conn": 1, "env": "main", "win": "w"}
    return orjson.dumps({**rec, "ids": items, "final": True, **extra}) + b"\n"


@settings(max_examples=30, deadline=None)
@given(st.integers(7000, 30000), st.booleans(), st.booleans())
def test_long_view_lines_read_as_the_ordinary_parse(n: int, shuffled: bool, two: bool) -> None:
    items = ascending(n) + (ascending(n // 3, "src-1") if two else [])
    if shuffled:
        items = items[::-1] + items[:50]  # descending, then repeats
    line = view_line(items)
    assert len(line) > 64 * 1024  # a long line: the fast path's
    fast = _big_ids_record(line)
    assert fast is not None
    plain = orjson.loads(line)
    assert fast["_ids"] == record_ids(plain)
    assert fast["_order"] == record_order(plain)
    assert {k: v for k, v in fast.items() if not k.startswith("_") and k != "ids"} == {
        k: v for k, v in plain.items() if not k.startswith("_") and k != "ids"
    }


def test_a_long_line_whose_ids_are_not_a_list_of_ids_takes_the_ordinary_parse() -> None:
    line = view_line([["src-0", s] for s in range(1, 8000)])
    bad = line.replace(b'["src-0",5000]', b'["src-0","x"]')
    assert _big_ids_record(bad) is None
    assert _big_ids_record(line) is not None
    assert json.loads(bad)["ids"][4999] == ["src-0", "x"]


# -- the engine's view hooks ------------------------------------------------------------------


class Spy(Checker):
    view_hooks = True

    def __init__(self, when: str) -> None:
        self.added_when = when
        self.calls: list[tuple[int, bool, bool]] = []

    def on_added(self, lin, env, win, src, seq, send_ns, t, sv, already, first, state):  # type: ignore[no-untyped-def]
        self.calls.append((seq, already, first))


def test_view_hooks_are_called_in_their_case_only() -> None:
    spies = {w: Spy(w) for w in ("any", "first", "late", "already")}
    a = Analyzer(checkers=[*default_checkers(), *spies.values()])
    recs = [
        {"t": 1, "type": "connect", "client": "ws-0", "conn": 1, "transport": "websocket"},
        {"t": 2, "type": "apply", "client": "ws-0", "env": "e", "win": "w", "added": [["s", 1]]},
        {"t": 3, "type": "apply", "client": "ws-0", "env": "e", "win": "w", "added": [["s", 1]]},
        {"t": 4, "type": "connect", "client": "ws-0", "conn": 2, "transport": "websocket"},
        {"t": 5, "type": "apply", "client": "ws-0", "env": "e", "win": "w", "added": [["s", 1]]},
        {"t": 6, "type": "apply", "client": "ws-0", "env": "e", "win": "w", "added": [["s", 3]]},
        {"t": 7, "type": "apply", "client": "ws-0", "env": "e", "win": "w", "added": [["s", 2]]},
    ]
    a.feed_all(recs)
    a.finish()
    # (seq, already, first): new; applied twice; back in view after a reconnect (neither);
    # 3 new; 2 new but after 3 (late)
    assert spies["any"].calls == [
        (1, False, True),
        (1, True, False),
        (1, False, False),
        (3, False, True),
        (2, False, True),
    ]
    assert spies["first"].calls == [(1, False, True), (3, False, True), (2, False, True)]
    assert spies["late"].calls == [(2, False, True)]
    assert spies["already"].calls == [(1, True, False)]
    assert a.summary.groups  # the duplicate checker saw the second apply
