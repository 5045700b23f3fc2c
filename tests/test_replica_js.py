"""JS semantics under the replica: V8 number/string JSON, json-stable-stringify, fast-json-patch."""

from __future__ import annotations

import copy
import json

import jsonpatch
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from visdom_chaos.wire.replica.fake_server import server_hash, server_stringify
from visdom_chaos.wire.replica.jspatch import JSPatchError, apply_patch
from visdom_chaos.wire.replica.jsvalue import (
    UNDEFINED,
    JSParseError,
    js_json_clone,
    js_json_parse,
    js_number_to_string,
    js_quote,
)
from visdom_chaos.wire.replica.stablejson import browser_md5, stable_stringify


@pytest.mark.parametrize(
    ("value", "v8"),
    [
        (1.0, "1"),
        (-0.0, "0"),
        (0.1, "0.1"),
        (100.5, "100.5"),
        (1e16, "10000000000000000"),
        (1e21, "1e+21"),
        (1.5e-7, "1.5e-7"),
        (1.23e-5, "0.0000123"),
        (1e-6, "0.000001"),
        (5e-324, "5e-324"),
        (1763932935123.456, "1763932935123.456"),
        (123456789012345678, "123456789012345680"),  # an int beyond 2**53 is a double in JS
        (2**53, "9007199254740992"),
        (-2.5e-8, "-2.5e-8"),
    ],
)
def test_number_to_string_matches_v8(value: float, v8: str) -> None:
    assert js_number_to_string(value) == v8


def test_quote_like_json_stringify() -> None:
    assert js_quote('a"b\\c') == '"a\\"b\\\\c"'
    assert js_quote("\n\t\x01\x7f") == '"\\n\\t\\u0001\x7f"'  # DEL stays raw in JS
    assert js_quote("grün 😀") == '"grün 😀"'  # non-ASCII raw, unlike Python's ensure_ascii
    assert js_quote("\ud800x") == '"\\ud800x"'  # lone surrogate escaped (ES2019)
    assert js_quote("\ud83d\ude00") == '"😀"'  # a split pair is one JS character


def test_json_parse_is_strict_and_uses_doubles() -> None:
    with pytest.raises(JSParseError):
        js_json_parse('{"y": NaN}')
    with pytest.raises(JSParseError):
        js_json_parse("{'a': 1}")
    assert js_json_parse("12345678901234567890") == float(12345678901234567890)
    assert js_json_parse("5") == 5


def test_stable_stringify_sorts_by_utf16_code_units() -> None:
    # U+1F600 is the surrogate pair D83D DE00: before U+FFFF in JS, after it in Python's sort
    doc = {"\uffff": 1, "😀": 2, "b": [1.0, UNDEFINED, None], "a": UNDEFINED}
    assert stable_stringify(doc) == '{"b":[1,null,null],"😀":2,"\uffff":1}'


def test_browser_hash_equals_server_hash_for_ascii_and_plain_numbers() -> None:
    window = {
        "id": "w",
        "content": {"data": [{"x": [0.0, 1.0], "y": [1763932935123.456, 2.5]}]},
        "title": "t",
    }
    assert browser_md5(window) == server_hash(window)


@pytest.mark.parametrize("value", ["grün", 1.5e-7, 1e21, "\x7f"])
def test_browser_hash_differs_from_server_where_python_json_differs(value: object) -> None:
    # the real 0.2.4 browser then reports a hash mismatch and reloads on every update
    window = {"id": "w", "content": value}
    assert stable_stringify(window) != server_stringify(window)
    assert browser_md5(window) != server_hash(window)


def test_clone_is_json_round_trip() -> None:
    assert js_json_clone({"a": [UNDEFINED, float("nan")], "b": UNDEFINED, "c": -0.0}) == {
        "a": [None, None],
        "c": 0,
    }


# ----- fast-json-patch applyPatch (validateOperation=false, mutateDocument=true) -----


def test_add_past_array_end_appends_where_rfc_jsonpatch_raises() -> None:
    doc = {"x": [0, 1]}
    apply_patch(doc, [{"op": "add", "path": "/x/5", "value": 9}])
    assert doc == {"x": [0, 1, 9]}
    with pytest.raises(jsonpatch.JsonPatchConflict):
        jsonpatch.apply_patch({"x": [0, 1]}, [{"op": "add", "path": "/x/5", "value": 9}])


def test_dash_appends_and_insert_shifts() -> None:
    doc = {"x": [0, 2]}
    apply_patch(
        doc, [{"op": "add", "path": "/x/-", "value": 3}, {"op": "add", "path": "/x/1", "value": 1}]
    )
    assert doc["x"] == [0, 1, 2, 3]


def test_replace_and_remove_of_missing_paths_do_not_throw() -> None:
    doc = {"a": 1, "arr": [1]}
    apply_patch(
        doc,
        [
            {"op": "replace", "path": "/missing", "value": 2},
            {"op": "remove", "path": "/gone"},
            {"op": "remove", "path": "/arr/7"},
            {"op": "replace", "path": "/arr/2", "value": 5},
        ],
    )
    assert doc["missing"] == 2 and "gone" not in doc
    assert doc["arr"] == [1, UNDEFINED, 5]  # a hole, stringified as null
    assert stable_stringify(doc) == '{"a":1,"arr":[1,null,5],"missing":2}'


@pytest.mark.parametrize(
    "op",
    [
        {"op": "test", "path": "/a", "value": 2},
        {"op": "add", "path": "/nope/deeper/x", "value": 1},
        {"op": "frobnicate", "path": "/a", "value": 1},
        {"op": "add", "path": "/s/x", "value": 1},
        {"op": "add", "path": "/__proto__/x", "value": 1},
        "not-an-operation",
    ],
)
def test_throws_and_keeps_earlier_ops(op: object) -> None:
    doc = {"a": 1, "s": "str"}
    with pytest.raises(JSPatchError):
        apply_patch(doc, [{"op": "replace", "path": "/a", "value": 7}, op])
    assert doc["a"] == 7  # mutated in place before the throw, as in the browser


def test_test_op_uses_strict_equality() -> None:
    apply_patch({"a": 1.0}, [{"op": "test", "path": "/a", "value": 1}])
    with pytest.raises(JSPatchError):
        apply_patch({"a": True}, [{"op": "test", "path": "/a", "value": 1}])


def test_move_and_copy() -> None:
    doc = {"a": {"b": 1}, "c": []}
    apply_patch(
        doc,
        [
            {"op": "copy", "from": "/a", "path": "/c/0"},
            {"op": "move", "from": "/a/b", "path": "/z"},
        ],
    )
    assert doc == {"a": {}, "c": [{"b": 1}], "z": 1}


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=3), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=200, deadline=None)
@given(
    a=st.dictionaries(st.text(max_size=3), json_values, max_size=4),
    b=st.dictionaries(st.text(max_size=3), json_values, max_size=4),
)
def test_valid_patches_from_make_patch_give_the_same_result(a: dict, b: dict) -> None:
    # on the patches the server produces (jsonpatch.make_patch) the port agrees with RFC 6902
    patch = jsonpatch.make_patch(a, b).patch
    result = apply_patch(copy.deepcopy(a), copy.deepcopy(patch))
    assert json.dumps(result, sort_keys=True) == json.dumps(b, sort_keys=True)
