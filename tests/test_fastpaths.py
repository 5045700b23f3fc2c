"""The observer's fast paths give exactly what their reference implementations give.

Each fast path (stable_stringify/browser_md5, js_json_parse, js_json_clone, the id and
head caches, diff_views and the render's view diff, the journal's orjson lines) is run
against the exact implementation it shortcuts, on arbitrary inputs (hypothesis) and on
the shapes the harness sees (growing traces and texts, changed in place), and a whole
replica with every fast path is replayed against one with every reference.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime
import hashlib
import json
import threading
from collections import namedtuple
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from visdom_chaos import ids as ids_mod
from visdom_chaos.ids import (
    EventId,
    heads,
    heads_of,
    heads_of_reference,
    ids_in_text,
    ids_in_traces,
    ids_in_traces_reference,
    ids_in_window,
    ids_in_window_reference,
    text_token,
)
from visdom_chaos.journal import JournalWriter, read_journal, record_line, record_line_reference
from visdom_chaos.wire.replica import RequestEnv, make_replica
from visdom_chaos.wire.replica import base as base_mod
from visdom_chaos.wire.replica import jspatch as jspatch_mod
from visdom_chaos.wire.replica import v024 as v024_mod
from visdom_chaos.wire.replica import v030 as v030_mod
from visdom_chaos.wire.replica.base import _diff_render, diff_views, diff_views_reference
from visdom_chaos.wire.replica.effects import Applied
from visdom_chaos.wire.replica.fake_server import FakeServer
from visdom_chaos.wire.replica.jsvalue import (
    UNDEFINED,
    JSParseError,
    js_json_clone,
    js_json_clone_reference,
    js_json_parse,
    js_json_parse_reference,
)
from visdom_chaos.wire.replica.stablejson import (
    HashError,
    browser_md5,
    stable_stringify,
    stable_stringify_reference,
)

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def same(a: Any, b: Any) -> bool:
    """Equal values of equal types (1 is not 1.0, -0.0 is not 0.0, NaN is NaN), same key order."""
    if type(a) is not type(b):
        return False
    if type(a) is float:
        return repr(a) == repr(b)
    if type(a) is list:
        return len(a) == len(b) and all(map(same, a, b))
    if type(a) is dict:
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    return a is b or a == b


def outcome(fn: Any, *args: Any) -> tuple[Any, ...]:
    try:
        return ("ok", fn(*args))
    except Exception as exc:  # noqa: BLE001 - the exception is the outcome compared
        return ("raise", type(exc), str(exc))


def same_outcome(a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
    if a[0] != b[0]:
        return False
    return same(a[1], b[1]) if a[0] == "ok" else a == b


# ----- strategies -----

SPECIAL_FLOATS = [
    0.0,
    -0.0,
    1.0,
    2.0,
    -2.0,
    0.5,
    0.1,
    123.456,
    1e-7,
    1.5e-7,
    1e-6,
    9.99e-7,
    1e-5,
    1.23e-5,
    1e-4,
    9.999e-5,
    1e15,
    1e16,
    9999999999999998.0,
    1e20,
    1e21,
    1e22,
    5e-324,
    2.2250738585072014e-308,
    1.7976931348623157e308,
    2.0**53,
    2.0**53 + 2,
    -(2.0**53),
    1763932935123.456,
    1795469421466.86,
    float("nan"),
    float("inf"),
    float("-inf"),
]
SPECIAL_INTS = [
    0,
    1,
    -1,
    2**53 - 1,
    2**53,
    2**53 + 1,
    -(2**53) - 1,
    2**63,
    2**64,
    2**64 + 1,
    10**21,
    10**30,
    10**400,
    -(10**400),
]
SPECIAL_CHARS = [
    '"',
    "\\",
    "\x00",
    "\x01",
    "\x1f",
    "\x7f",
    "\b",
    "\f",
    "\n",
    "\r",
    "\t",
    "\u2028",
    "é",
    "\uffff",
    "\ue000",
    "😀",
    "\ud83d",
    "\ude00",
    "\ud800",
    "\udfff",
]

floats = st.one_of(
    st.floats(),
    st.sampled_from(SPECIAL_FLOATS),
    st.integers(-(2**60), 2**60).map(float),
    st.floats(min_value=1e-8, max_value=1e-3),
    st.floats(min_value=1e14, max_value=1e23),
)
ints = st.one_of(
    st.integers(-1000, 1000),
    st.integers(-(2**53) - 5, -(2**53) + 5),
    st.integers(2**53 - 5, 2**53 + 5),
    st.integers(-(10**30), 10**30),
    st.sampled_from(SPECIAL_INTS),
    st.just(5000).map(lambda e: 10**e),  # repr() refuses it (int max str digits)
)
numbers = st.one_of(ints, floats)
# what the fast paths take (repr without exponent, ints within 2**53), with now and then a
# value that sends a list to the exact path: most lists must reach the fast path
nice_floats = st.one_of(
    st.floats(min_value=1e-4, max_value=1e15),
    st.floats(min_value=-1e15, max_value=-1e-4),
    st.integers(-(10**6), 10**6).map(float),
    st.sampled_from([0.0, -0.0, 0.5, 1795469421466.86, 1763932935123.456, 1e15, 123456789012345.6]),
)
nice_numbers = st.one_of(
    nice_floats, nice_floats, nice_floats, st.integers(-(2**53), 2**53), st.integers(-9, 9)
)
rare = st.one_of(
    nice_numbers,
    nice_numbers,
    nice_numbers,
    nice_numbers,
    nice_numbers,
    nice_numbers,
    nice_numbers,
    nice_numbers,
    nice_numbers,
    numbers,
    st.booleans(),
)
chars = st.one_of(st.characters(exclude_categories=()), st.sampled_from(SPECIAL_CHARS))
strings = st.one_of(
    st.text(chars, max_size=12), st.sampled_from(SPECIAL_CHARS + ["", "a", "b", "<br>", "[a#1@2]"])
)
number_lists = st.one_of(
    st.lists(nice_numbers, max_size=80),
    st.lists(nice_floats, min_size=60, max_size=160),
    st.lists(rare, min_size=60, max_size=160),
    st.lists(rare, max_size=30),
    st.lists(numbers, max_size=20),
)
leaves = st.one_of(st.none(), st.booleans(), numbers, strings, st.just(UNDEFINED))
trees = st.recursive(
    leaves,
    lambda kids: st.one_of(
        st.lists(kids, max_size=5),
        st.dictionaries(strings, kids, max_size=5),
        number_lists,
    ),
    max_leaves=30,
)


# ----- stable_stringify / browser_md5 -----


def reference_md5(node: Any) -> str:
    text = stable_stringify_reference(node)
    if text is None:
        raise HashError("Illegal argument undefined")
    return hashlib.md5(text.encode("utf-8")).hexdigest()


@SETTINGS
@given(trees)
def test_stringify_and_md5_equal_the_reference(tree: Any) -> None:
    assert same_outcome(outcome(stable_stringify, tree), outcome(stable_stringify_reference, tree))
    assert same_outcome(outcome(browser_md5, tree), outcome(reference_md5, tree))


@SETTINGS
@given(number_lists, st.booleans())
def test_number_lists_equal_the_reference(numbers_: list[Any], in_window: bool) -> None:
    node: Any = (
        {"content": {"data": [{"x": numbers_, "y": list(reversed(numbers_))}]}}
        if in_window
        else numbers_
    )
    assert same_outcome(outcome(stable_stringify, node), outcome(stable_stringify_reference, node))


@SETTINGS
@given(
    st.lists(nice_numbers, min_size=64, max_size=120),
    st.lists(
        st.tuples(
            st.sampled_from(["append", "set", "pop", "insert0", "extend", "bool", "copy"]),
            st.integers(0, 10**6),
            rare,
        ),
        max_size=12,
    ),
)
def test_number_text_cache_follows_in_place_changes(
    base: list[Any], ops: list[tuple[str, int, Any]]
) -> None:
    trace = list(base)
    window = {"content": {"data": [{"x": trace, "name": "s"}]}, "contentID": "c"}
    assert stable_stringify(window) == stable_stringify_reference(window)
    for op, i, v in ops:
        if op == "append":
            trace.append(v)
        elif op == "set" and trace:
            trace[i % len(trace)] = v
        elif op == "pop" and trace:
            trace.pop()
        elif op == "insert0":
            trace.insert(0, v)
        elif op == "extend":
            trace.extend([v] * (i % 70))
        elif op == "bool" and trace:
            trace[i % len(trace)] = bool(
                i % 2
            )  # True == 1: a cache keyed by equality alone would miss it
        elif op == "copy":
            window = copy.deepcopy(window)
            trace = window["content"]["data"][0]["x"]
        assert same_outcome(
            outcome(stable_stringify, window), outcome(stable_stringify_reference, window)
        )


EDGE_VALUES = [
    *SPECIAL_FLOATS,
    *SPECIAL_INTS,
    *SPECIAL_CHARS,
    True,
    False,
    None,
    UNDEFINED,
    10**5000,
]


@pytest.mark.parametrize(
    "value",
    EDGE_VALUES,
    ids=lambda v: (
        type(v).__name__
        + ":"
        + (repr(v)[:20] if not (type(v) is int and v > 10**4000) else "10**5000")
    ),
)
def test_edge_values_in_every_position(value: Any) -> None:
    long = [float(i) + 0.25 for i in range(100)]
    nodes = [
        value,
        [value],
        {"k": value},
        [None, value],
        [1.5, value],
        [value, 2.0, 3],
        long[:10] + [value],
        long + [value],
        [value] + long,
        long[:50] + [value] + long[50:],
        {"data": [{"x": long + [value], "y": [value] * 3}]},
    ]
    stable_stringify(long)  # cached: the lists above that start with it format only their tail
    for node in nodes:
        assert same_outcome(
            outcome(stable_stringify, node), outcome(stable_stringify_reference, node)
        ), node
    if type(value) is not str and value is not UNDEFINED:
        for node in ([value] * 70, long + [value] * 70):
            assert same_outcome(
                outcome(stable_stringify, node), outcome(stable_stringify_reference, node)
            )
            assert same_outcome(
                outcome(js_json_clone, node), outcome(js_json_clone_reference, node)
            )


def test_bool_and_number_equal_by_value_are_told_apart_by_the_cache() -> None:
    xs = [float(i) for i in range(100)]
    assert stable_stringify(xs) == stable_stringify_reference(xs)
    xs[1] = True  # True == 1.0
    xs[0] = -0.0  # -0.0 == 0.0, and both print "0": no difference, but the exact path
    assert stable_stringify(xs) == stable_stringify_reference(xs)
    assert stable_stringify(xs).startswith("[0,true,2,")


@SETTINGS
@given(st.text(chars, min_size=1, max_size=40), st.lists(st.text(chars, max_size=30), max_size=6))
def test_long_strings_and_their_cache_equal_the_reference(unit: str, tails: list[str]) -> None:
    text = (unit * (5000 // len(unit) + 1))[:5000]
    for tail in ["", *tails]:
        text += tail
        node = {"content": text, "type": "text"}
        assert same_outcome(
            outcome(stable_stringify, node), outcome(stable_stringify_reference, node)
        )


def test_growing_text_window_equals_the_reference() -> None:
    text = text_token("t", 0, 1)
    for k in range(1, 400):
        text += "<br>" + text_token("t", k, k)
        if k % 37 == 0:
            text += 'é"\\\x01\ud800'[k % 5]  # now and then a character that needs escaping
        node = {"content": text, "type": "text"}
        assert stable_stringify(node) == stable_stringify_reference(node)


def test_cycles_and_foreign_values_raise_as_the_reference() -> None:
    obj: dict[str, Any] = {"a": 1}
    obj["self"] = obj
    arr: list[Any] = [1]
    arr.append(arr)

    class Foreign:
        pass

    for node in (
        obj,
        arr,
        {"k": [obj]},
        [Foreign()],
        {"k": (1, 2)},
        {1: "int key"},
        [10**400],
        [10**5000],
        {"k": {"deep": [[[[[[1]]]]]]}},
    ):
        assert outcome(stable_stringify, node) == outcome(stable_stringify_reference, node)
    deep: Any = 1
    deep_dict: Any = 1
    for _ in range(300):  # deeper than the fast path goes: the reference decides
        deep, deep_dict = [deep], {"k": deep_dict}
    assert outcome(stable_stringify, deep) == outcome(stable_stringify_reference, deep)
    assert outcome(stable_stringify, deep_dict) == outcome(stable_stringify_reference, deep_dict)


def test_keys_in_utf16_order() -> None:
    doc = {
        "\uffff": 1,
        "😀": 2,
        "b": [1, UNDEFINED, None],
        "\ue000": 3,
        "\ud83d\ude00": 4,
        "a": UNDEFINED,
    }
    assert stable_stringify(doc) == stable_stringify_reference(doc)


# ----- js_json_parse -----

json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), floats, st.text(chars, max_size=10)),
    lambda kids: st.one_of(
        st.lists(kids, max_size=5), st.dictionaries(st.text(chars, max_size=6), kids, max_size=5)
    ),
    max_leaves=25,
)


@st.composite
def json_texts(draw: Any) -> str:
    value = draw(json_values)
    text = json.dumps(
        value,
        ensure_ascii=draw(st.booleans()),
        separators=draw(st.sampled_from([(",", ":"), (", ", ": "), (" ,\n", " :\t")])),
    )
    for _ in range(draw(st.integers(0, 3))):  # mutations: mostly invalid JSON, now and then valid
        if not text:
            break
        i = draw(st.integers(0, len(text) - 1))
        piece = draw(
            st.sampled_from(
                [
                    '"',
                    "\\",
                    "[",
                    "]",
                    "{",
                    "}",
                    ",",
                    ":",
                    "-",
                    "0",
                    "1e5",
                    "NaN",
                    "\\ud800",
                    "\\udc00",
                    "\\u00e9",
                    " ",
                    "\x00",
                    "9" * 20,
                    "true",
                    "",
                ]
            )
        )
        text = text[:i] + piece + text[i + draw(st.integers(0, 2)) :]
    return text


@SETTINGS
@given(json_texts())
def test_json_parse_equals_the_reference(text: str) -> None:
    assert same_outcome(outcome(js_json_parse, text), outcome(js_json_parse_reference, text))


@pytest.mark.parametrize(
    "text",
    [
        "[9007199254740993]",
        "9007199254740992",
        "-9007199254740993",
        "18446744073709551615",
        "18446744073709551616",
        "-9223372036854775809",
        "1" * 400,
        "[1e400]",
        "-1e400",
        "1e-400",
        '{"a": 12345678901234567890}',
        '{"a":1,"b":2,"a":3}',
        '{"a":{"x":1},"a":[2]}',
        '"\\ud800"',
        '"\\udc00\\ud800"',
        '"\\ud83d\\ude00"',
        '{"\\ud800": 1}',
        '"\ud800"',
        "NaN",
        "[Infinity]",
        "[-Infinity]",
        '{"y": NaN}',
        "-0",
        "-0.0",
        "[1.0, 2.5e3, 0.1]",
        "\ufeff[1]",
        "",
        " ",
        "[1,]",
        "\t[ 1 ,\n2 ]\r",
        "null",
        "true",
        "01",
        '"\x1f"',
        '"\x7f"',
        "[1e2.5]",
        "0.1000000000000000055511151231257827",
    ],
)
def test_json_parse_edge_cases_equal_the_reference(text: str) -> None:
    assert same_outcome(outcome(js_json_parse, text), outcome(js_json_parse_reference, text))


@pytest.mark.parametrize("depth", [1, 199, 200, 201, 500, 900, 1023, 1024, 1025, 3000])
def test_deep_nesting_parses_as_the_reference(depth: int) -> None:
    for text in ("[" * depth + "]" * depth, '{"a":' * depth + "1" + "}" * depth):
        got, want = outcome(js_json_parse, text), outcome(js_json_parse_reference, text)
        assert got[0] == want[0] and (got[0] == "ok" or got == want)
        if got[0] == "ok":
            assert json.dumps(got[1]) == json.dumps(want[1])


def test_json_parse_of_bytes_and_big_numbers_in_containers() -> None:
    for raw in (
        b"[1, 2]",
        "[1, 2, 3, 9007199254740993.0, 9007199254740993]",
        '{"x": [1.5, 2, 3e400]}',
    ):
        assert same_outcome(outcome(js_json_parse, raw), outcome(js_json_parse_reference, raw))
    assert type(js_json_parse("[9007199254740993]")[0]) is float
    with pytest.raises(JSParseError):
        js_json_parse('{"y": NaN}')


# ----- js_json_clone -----


@SETTINGS
@given(trees)
def test_json_clone_equals_the_reference(tree: Any) -> None:
    assert same_outcome(outcome(js_json_clone, tree), outcome(js_json_clone_reference, tree))


@SETTINGS
@given(number_lists)
def test_json_clone_of_number_lists(numbers_: list[Any]) -> None:
    got = js_json_clone(numbers_)
    assert same(got, js_json_clone_reference(numbers_))
    assert got is not numbers_


# ----- ids and heads -----

x_values = st.one_of(
    st.integers(-3, 300),
    st.integers(-3, 300).map(float),
    st.sampled_from(
        [float("nan"), 2.5, -0.5, -0.0, True, False, None, "7", [1], 10**30, 1e300, float("inf")]
    ),
)
y_values = st.one_of(
    st.floats(1.7e12, 1.8e12),
    st.integers(0, 10**6),
    st.sampled_from(
        [float("nan"), float("inf"), 1e306, -1e306, 10**400, True, None, "y", 0.0, -0.0]
    ),
)


@st.composite
def traces(draw: Any) -> Any:
    n = draw(st.sampled_from([0, 1, 5, 63, 64, 65, 100]))
    plain = draw(st.booleans())  # mostly numbers, as a real trace
    xs = draw(
        st.lists(st.integers(0, 400).map(float) if plain else x_values, min_size=n, max_size=n)
    )
    ys = draw(
        st.lists(
            st.floats(1.7e12, 1.8e12) if plain else y_values, min_size=max(0, n - 2), max_size=n + 2
        )
    )
    trace: dict[str, Any] = {
        "name": draw(st.sampled_from(["a", "b", "é"])),
        "x": xs,
        "y": ys,
        "type": "scatter",
    }
    if draw(st.integers(0, 9)) == 0:
        del trace[draw(st.sampled_from(["name", "x", "y"]))]
    return trace if draw(st.integers(0, 19)) else draw(st.sampled_from([None, "trace", [1, 2]]))


@st.composite
def windows(draw: Any) -> Any:
    kind = draw(st.sampled_from(["plot", "text", "image", "other"]))
    if kind == "text":
        n = draw(st.sampled_from([0, 3, 200]))
        content: Any = "<br>".join(
            text_token(draw(st.sampled_from(["s", "t"])), draw(st.integers(0, 50)), k)
            for k in range(n)
        )
    elif kind == "image":
        content = {"caption": text_token("s", draw(st.integers(0, 9)), 1)}
    else:
        content = {"data": draw(st.lists(traces(), max_size=4))}
    return {"type": kind, "content": content}


def check_window(window: Any) -> None:
    assert same_outcome(outcome(ids_in_window, window), outcome(ids_in_window_reference, window))
    assert same_outcome(outcome(heads_of, window), outcome(heads_of_reference, window))


@SETTINGS
@given(windows())
def test_ids_and_heads_of_windows_equal_the_reference(window: Any) -> None:
    check_window(window)
    check_window(copy.deepcopy(window))  # a second copy of the same content (cache hit)


@SETTINGS
@given(
    st.lists(st.tuples(st.integers(0, 300), st.floats(1.7e12, 1.8e12)), min_size=64, max_size=120),
    st.lists(
        st.tuples(
            st.sampled_from(
                ["append", "setx", "sety", "pop", "insert0", "truncate", "copy", "other"]
            ),
            st.integers(0, 10**6),
            x_values,
            y_values,
        ),
        max_size=12,
    ),
)
def test_trace_cache_never_returns_stale_ids(
    points: list[tuple[int, float]], ops: list[tuple[str, int, Any, Any]]
) -> None:
    trace = {"name": "s", "x": [float(x) for x, _ in points], "y": [y for _, y in points]}
    window = {"type": "plot", "content": {"data": [trace, {"name": "t", "x": [1.0], "y": [2.0]}]}}
    check_window(window)
    for op, i, x, y in ops:
        xs, ys = trace["x"], trace["y"]
        if op == "append":
            xs.append(x)
            ys.append(y)
        elif op == "setx" and xs:
            xs[i % len(xs)] = x
        elif op == "sety" and ys:
            ys[i % len(ys)] = y
        elif op == "pop" and xs:
            xs.pop()
        elif op == "insert0":
            xs.insert(0, x)
            ys.insert(0, y)
        elif op == "truncate":
            del xs[i % 70 :]
        elif op == "copy":
            window = copy.deepcopy(window)
            trace = window["content"]["data"][0]
        elif op == "other":
            trace["name"] = "t" if trace["name"] == "s" else "s"
        check_window(window)


ODD_POINTS = [
    float("nan"),
    float("inf"),
    float("-inf"),
    -0.0,
    -0.5,
    -1,
    -2.5,
    True,
    False,
    None,
    "3",
    10**30,
    1e300,
    1e306,
    -1e306,
    10**400,
    2.5,
]


@pytest.mark.parametrize("odd", ODD_POINTS, ids=repr)
@pytest.mark.parametrize("n", [2, 63, 64, 100])
def test_odd_points_anywhere_in_short_and_long_traces(odd: Any, n: int) -> None:
    for where in (0, 1, n // 2, n - 1):
        for axis in ("x", "y"):
            trace = {
                "name": "s",
                "x": [float(i) for i in range(n)],
                "y": [1.7e12 + i for i in range(n)],
            }
            check_window({"type": "plot", "content": {"data": [trace]}})  # cached before the change
            trace[axis][where] = odd
            check_window({"type": "plot", "content": {"data": [trace]}})
            check_window(
                {
                    "type": "plot",
                    "content": {"data": [{"name": "s", "x": [odd] * n, "y": [odd] * n}]},
                }
            )


def test_trace_cache_shared_by_threads() -> None:
    base = {"name": "s", "x": [float(i) for i in range(200)], "y": [1.7e12 + i for i in range(200)]}
    errors: list[str] = []

    def worker(k: int) -> None:
        trace = copy.deepcopy(base)
        window = {"type": "plot", "content": {"data": [trace]}}
        for step in range(150):
            trace["x"].append(float(200 + step))
            trace["y"].append(1.8e12 + step * (k + 1))
            if step % 17 == k:
                trace["x"][step] = -1.0  # in place, as a patch would
            if ids_in_window(window) != ids_in_window_reference(window) or heads_of(
                window
            ) != heads_of_reference(window):
                errors.append(f"thread {k} step {step}")

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_text_heads_follow_a_growing_and_rewritten_text() -> None:
    content = text_token("s", 0, 1)
    for k in range(1, 300):
        content += "<br>" + text_token("s" if k % 3 else "t", k, k)
        window = {"type": "text", "content": content}
        check_window(window)
        if k % 50 == 0:  # an older text, then a rewritten one
            check_window({"type": "text", "content": content[: len(content) // 2]})
            check_window({"type": "text", "content": content.replace(f"#{k - 1}@", "#0@")})
    assert ids_in_text(content) == ids_mod._parse_tokens(content)


@st.composite
def id_lists(draw: Any) -> list[EventId]:
    sources = draw(st.sampled_from(["a", "ab", "abc", "abcdefghij"]))
    lo, hi = draw(st.sampled_from([(0, 60), (-3, 3), (-1, 200)]))
    n = draw(st.sampled_from([0, 5, 31, 32, 40, 120]))
    return draw(
        st.lists(
            st.builds(EventId, st.sampled_from(sources), st.integers(lo, hi), st.integers(0, 2)),
            min_size=n,
            max_size=n,
        )
    )


@SETTINGS
@given(id_lists())
def test_heads_equal_the_fold(ids: list[EventId]) -> None:
    assert same(heads(ids), ids_mod._fold_heads({}, ids))


def test_ids_in_traces_fast_and_reference() -> None:
    traces_ = [
        {"name": "s", "x": [float(i) for i in range(100)], "y": [1.7e12] * 100},
        "junk",
        {"name": "s", "x": [1, 2], "y": [3, 4]},
    ]
    assert ids_in_traces(traces_) == ids_in_traces_reference(traces_)
    assert ids_in_traces(iter(traces_)) == ids_in_traces_reference(iter(traces_))
    for bad in (5, None):
        assert outcome(ids_in_window, {"type": "plot", "content": {"data": bad}}) == outcome(
            ids_in_window_reference, {"type": "plot", "content": {"data": bad}}
        )


# ----- diff_views and the render's view diff -----

event_ids = st.builds(EventId, st.sampled_from(["a", "b"]), st.integers(0, 12), st.integers(0, 1))


@st.composite
def view_pairs(draw: Any) -> tuple[list[EventId], list[EventId]]:
    before = draw(st.lists(event_ids, max_size=25))
    shape = draw(st.sampled_from(["append", "same", "random", "insert", "drop"]))
    if shape == "append":
        after = before + draw(st.lists(event_ids, max_size=6))
    elif shape == "same":
        after = list(before)
    elif shape == "insert" and before:
        i = draw(st.integers(0, len(before)))
        after = before[:i] + draw(st.lists(event_ids, max_size=4)) + before[i:]
    elif shape == "drop" and before:
        after = [e for e in before if draw(st.booleans())]
    else:
        after = draw(st.lists(event_ids, max_size=25))
    return before, after


@SETTINGS
@given(view_pairs())
def test_diff_views_equals_the_reference(pair: tuple[list[EventId], list[EventId]]) -> None:
    before, after = pair
    want = diff_views_reference("e", "w", "window", before, after)
    assert diff_views("e", "w", "window", before, after) == want
    applied, view = _diff_render("e", "w", "window", before, after)
    assert applied == want
    assert list(view) == after


@SETTINGS
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["append", "same", "random", "insert", "drop", "dupe"]),
            st.lists(event_ids, max_size=5),
            st.integers(0, 30),
        ),
        max_size=15,
    )
)
def test_render_diff_chain_equals_the_reference(
    steps: list[tuple[str, list[EventId], int]],
) -> None:
    shown: list[EventId] = []  # what _render keeps (a _View after the first step)
    plain: list[EventId] = []
    for shape, new, i in steps:
        if shape == "append":
            after = plain + new
        elif shape == "same":
            after = list(plain)
        elif shape == "insert":
            k = i % (len(plain) + 1)
            after = plain[:k] + new + plain[k:]
        elif shape == "drop":
            after = plain[: i % (len(plain) + 1)]
        elif shape == "dupe":
            after = plain + plain[: i % 3]
        else:
            after = new
        want = diff_views_reference("e", "w", "window_update", plain, after)
        applied, shown = _diff_render("e", "w", "window_update", shown, after)
        assert applied == want
        assert list(shown) == after
        plain = after


def test_applied_effect_types_match() -> None:
    before = [EventId("a", 0, 1)]
    after = before + [EventId("a", 1, 2), EventId("b", 1, 2)]
    got = diff_views("e", "w", "window", before, after)
    want = diff_views_reference("e", "w", "window", before, after)
    assert got == want and isinstance(got, Applied)
    assert [type(x) for x in got.added] == [EventId, EventId]
    got = diff_views("e", "w", "window", after, before)
    assert got == diff_views_reference("e", "w", "window", after, before)
    assert [type(k) for k in got.removed] == [tuple, tuple]


# ----- the journal -----

NT = namedtuple("NT", "a b")


@dataclasses.dataclass
class DC:
    x: int


record_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(),
        st.text(chars, max_size=10),
        st.sampled_from(
            [
                NT(1, "x"),
                DC(3),
                datetime.datetime(2024, 1, 2, 3, 4, 5),
                b"raw",
                (1, 2),
                EventId("s", 1, 2),
                2**64,
                -(2**63) - 1,
                10**30,
            ]
        ),
    ),
    lambda kids: st.one_of(
        st.lists(kids, max_size=4),
        st.dictionaries(
            st.one_of(
                st.text(chars, max_size=6), st.integers(), st.floats(), st.booleans(), st.none()
            ),
            kids,
            max_size=4,
        ),
    ),
    max_leaves=20,
)


def parse_line(line: bytes) -> Any:
    assert line.endswith(b"\n") and line.count(b"\n") == 1 and line.isascii()
    return json.loads(line)


@SETTINGS
@given(
    st.dictionaries(st.text(chars, max_size=8), record_values, max_size=6), st.integers(0, 2**63)
)
def test_journal_lines_parse_back_as_the_reference(fields: dict[str, Any], t: int) -> None:
    fields = {k: v for k, v in fields.items() if k not in ("t", "type", "client", "conn")}
    record = {"t": t, "type": "recv", "client": "ws-0", "conn": 1, **fields}
    got, want = outcome(record_line, record), outcome(record_line_reference, record)
    assert got[0] == want[0]
    if got[0] == "raise":
        assert got == want
        return
    assert same(parse_line(got[1]), parse_line(want[1]))
    assert got[1].find(b'"type":"recv"', 0, 96) >= 0  # reports/journals.py skips recv records by it


def test_journal_lines_of_the_awkward_values() -> None:
    circular: list[Any] = []
    circular.append(circular)
    for fields in (
        {"x": float("nan")},
        {"x": [float("inf"), None]},
        {"x": None},
        {"k": {1: 2, None: 3, 1.5: 4}},
        {"x": "\ud800"},
        {"x": "é"},
        {"x": 2**64},
        {"x": EventId("s", 1, 2)},
        {"x": DC(1)},
        {"x": circular},
        {"x": {(1, 2): 3}},
        {"x": [1e-7, 1e16, -0.0, 5e-324]},
    ):
        record = {"t": 1, "type": "view", "client": "c", "conn": 0, **fields}
        got, want = outcome(record_line, record), outcome(record_line_reference, record)
        assert got[0] == want[0], fields
        if got[0] == "ok":
            assert same(parse_line(got[1]), parse_line(want[1])), fields
        else:
            assert got == want


def test_journal_writer_threads_and_reader(tmp_path: Any) -> None:
    path = tmp_path / "journal" / "c.jsonl"
    writer = JournalWriter(path, "clients", run="x")
    records = {k: [] for k in range(4)}

    def worker(k: int) -> None:
        for i in range(300):
            fields = {
                "i": i,
                "ids": [["s", i]] * (i % 5),
                "f": i / 7,
                "nan": float("nan") if i % 50 == 0 else 1.0,
                "name": "é" if i % 40 == 0 else "e",
                "ev": EventId("s", i, 1),
            }
            writer.write("view", f"c{k}", 1, t=i, **fields)
            records[k].append(fields)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    writer.close()
    assert writer.error is None
    got = list(read_journal(path))
    assert got[0]["type"] == "header" and got[0]["meta"] == {"run": "x"}
    by_client: dict[str, list[dict[str, Any]]] = {}
    for rec in got[1:]:
        by_client.setdefault(rec["client"], []).append(rec)
    for k, fields_list in records.items():
        mine = by_client[f"c{k}"]
        assert len(mine) == 300
        for rec, fields in zip(mine, fields_list, strict=True):
            want = json.loads(
                record_line_reference(
                    {"t": rec["t"], "type": "view", "client": f"c{k}", "conn": 1, **fields}
                )
            )
            assert same(rec, want)
    # a crash mid-line: the torn last line is skipped, everything before it is read
    with open(path, "ab") as f:
        f.write(b'{"t":5,"type":"view","cli')
    tail = list(read_journal(path))
    assert tail[-1]["type"] == "torn" and len(tail) == len(got) + 1


def test_journal_writer_records_the_first_oserror_and_never_raises(tmp_path: Any) -> None:
    writer = JournalWriter("/dev/full", "clients")  # every flush fails with ENOSPC
    assert isinstance(writer.error, OSError)
    writer.write("recv", "c", 1, command="x")  # closed: ignored, no raise
    writer.close()
    assert isinstance(writer.error, OSError)

    class Failing:
        def __init__(self) -> None:
            self.calls = 0

        def write(self, data: bytes) -> int:
            self.calls += 1
            raise OSError(28, "No space left on device")

        def flush(self) -> None:
            pass

        def close(self) -> None:
            raise OSError(5, "close failed")

    w = JournalWriter(tmp_path / "j.jsonl", "clients")
    first = Failing()
    w._file = first  # type: ignore[assignment]
    w.write("recv", "c", 1)
    w.write("recv", "c", 1)
    assert first.calls == 1 and isinstance(w.error, OSError) and w.error.errno == 28
    w.close()
    assert w.error.errno == 28


# ----- Replica.decode and a whole replica, fast against reference -----


def test_decode_is_what_handle_parses() -> None:
    for version in ("0.2.4", "0.3.0"):
        r = make_replica(version, transport="polling")
        for raw in (
            '{"command": "register", "data": "s"}',
            b'{"a": [1, 2.0]}',
            '{"y": NaN}',
            "null",
            "[1]",
        ):
            assert same_outcome(outcome(r.decode, raw), outcome(r._decode, raw))
        with pytest.raises(JSParseError):
            r.decode(b"\xff")


def stream(version: str, updates: int) -> list[tuple[float, str]]:
    """A server's frames for line appends (two sources in one window) and text appends, with the
    env reloads a live replica asks for answered (0.2.4's render write-back makes many)."""
    srv = FakeServer(version)
    live = make_replica(version)
    frames: list[tuple[float, str]] = []
    t = 0.0

    def feed(frame: str) -> None:
        nonlocal t
        t += 0.03
        frames.append((round(t, 4), frame))
        effects = live.handle(frame, t)
        for e in effects:
            if isinstance(e, RequestEnv):
                for f in srv.env_frames():
                    feed(f)

    ns = 1_763_900_000_000_000_000
    feed(srv.register("s1"))
    feed(srv.create_line("line", "a", [0], [ns]))
    feed(srv.create_line("solo", "c", [0], [ns]))
    feed(srv.create_text("text", text_token("t", 0, ns)))
    for i in range(1, updates):
        feed(srv.append_line("line", "a" if i % 3 else "b", i, ns + i * 1_000_123))
        feed(srv.append_line("solo", "c", i, ns + i * 999_001))
        feed(srv.append_text("text", "t", i, ns + i * 1_000_321))
        if i % 40 == 0:
            feed(srv.window_frame("line"))
    return frames


def replay(version: str, frames: list[tuple[float, str]], decoded: bool = False) -> list[str]:
    r = make_replica(version)
    out: list[str] = []
    for t, frame in frames:
        msg: Any = frame
        if decoded:
            cmd = r.decode(frame)
            msg = cmd if isinstance(cmd, dict) else frame
        out += map(repr, r.handle(msg, t))
        out += map(repr, r.drain_accepted())
    out += map(repr, r.settle())
    out.append(repr(r.views()))
    out.append(stable_stringify_reference(r.panes) or "")
    out.append(stable_stringify_reference(getattr(r, "consistent", {})) or "")
    return out


def reference_render(
    env: str, win: str, command: str, before: list[EventId], after: list[EventId]
) -> Any:
    return diff_views_reference(env, win, command, before, after), list(after)


@pytest.mark.parametrize("version", ["0.2.4", "0.3.0"])
def test_replica_with_fast_paths_equals_replica_with_references(
    version: str, monkeypatch: Any
) -> None:
    frames = stream(version, 120)
    fast = replay(version, frames)
    assert replay(version, frames, decoded=True) == fast
    references = {
        "browser_md5": reference_md5,
        "heads_of": heads_of_reference,
        "js_json_clone": js_json_clone_reference,
        "ids_in_window": ids_in_window_reference,
        "_diff_render": reference_render,
        "js_json_parse": js_json_parse_reference,
    }
    with monkeypatch.context() as m:
        for mod in (base_mod, v024_mod, v030_mod, jspatch_mod):  # wherever the replica calls them
            for name, reference_fn in references.items():
                if hasattr(mod, name):
                    m.setattr(mod, name, reference_fn)
        reference = replay(version, frames)
    assert fast == reference
    assert any("hash_mismatch" in line for line in fast) == (version == "0.2.4")
