"""JavaScript value semantics the browser code relies on, for JSON-shaped Python data.

The replica holds window state the way the browser does after `JSON.parse`: every
number is a double, arrays may have holes (`UNDEFINED`), and JSON text is produced
the way V8's `JSON.stringify` does it. These helpers are shared by the patch
applier (`jspatch.py`) and the stable stringify (`stablejson.py`).
"""

from __future__ import annotations

import json
import math
import re
from decimal import Decimal
from typing import Any, TypeGuard

import orjson

MAX_SAFE = 2**53
_NUMBER_TYPES = frozenset((int, float))
# containers nested deeper than this are parsed by the stdlib: its recursion limit (the
# caller's stack) decides whether JSON.parse "fails" there, and orjson's limit is another
_FAST_PARSE_DEPTH = 200


class _Undefined:
    """JS `undefined`: an array hole or a missing property read."""

    _instance: _Undefined | None = None

    def __new__(cls) -> _Undefined:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "undefined"

    def __bool__(self) -> bool:
        return False


UNDEFINED: Any = _Undefined()


class JSParseError(ValueError):
    """What `JSON.parse` throws (SyntaxError)."""


def _parse_int(text: str) -> int | float:
    # JSON.parse yields doubles: integers beyond 2**53 lose precision like in JS.
    value = int(text)
    return value if -MAX_SAFE <= value <= MAX_SAFE else float(value)


def _refuse_constant(name: str) -> Any:
    # Python's json accepts NaN/Infinity; JSON.parse throws a SyntaxError.
    raise JSParseError(f"Unexpected token {name[0]} in JSON")


def js_json_parse(text: str) -> Any:
    """JSON.parse: strict JSON (no NaN/Infinity), numbers as doubles.

    orjson parses (several times faster); `js_json_parse_reference` (the stdlib) decides
    wherever orjson's answer could differ from it: orjson refuses the text (NaN, Infinity,
    numbers beyond the double range, lone surrogate escapes, anything invalid: the
    reference then raises its own error or, where it accepts, returns its own value), the
    input is not a str, or the parsed value holds an integer beyond +-2**53 (orjson keeps
    it exact, JS and the reference make it a double) or containers nested deeper than
    _FAST_PARSE_DEPTH. orjson's floats are correctly rounded like the stdlib's; duplicate
    keys keep the first position and the last value in both.
    """
    if type(text) is str:
        try:
            value = orjson.loads(text)
        except (ValueError, TypeError):  # orjson.JSONDecodeError is a ValueError
            pass
        else:
            if not _orjson_unsure(value):
                return value
    return js_json_parse_reference(text)


def js_json_parse_reference(text: str) -> Any:
    """JSON.parse, the exact (slow) way: stdlib json with JS number semantics."""
    try:
        return json.loads(text, parse_int=_parse_int, parse_constant=_refuse_constant)
    except JSParseError:
        raise
    except (ValueError, RecursionError) as exc:
        raise JSParseError(str(exc)) from exc


def _orjson_unsure(value: Any) -> bool:
    """True where orjson's parse may differ from the reference: an int beyond +-2**53 or
    nesting deeper than _FAST_PARSE_DEPTH. C-speed per container (type set, min/max)."""
    t = type(value)
    if t is int:
        return not -MAX_SAFE <= value <= MAX_SAFE
    if t is not dict and t is not list:
        return False
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > _FAST_PARSE_DEPTH:
            return True
        items = node.values() if type(node) is dict else node
        types = set(map(type, items))
        if int in types:
            if types <= _NUMBER_TYPES:  # orjson never yields NaN: min/max are exact
                if max(items) > MAX_SAFE or min(items) < -MAX_SAFE:
                    return True
            elif any(not -MAX_SAFE <= v <= MAX_SAFE for v in items if type(v) is int):
                return True
        if list in types or dict in types:
            stack.extend((v, depth + 1) for v in items if type(v) is list or type(v) is dict)
    return False


def is_number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def js_number_to_string(x: float | int) -> str:
    """ECMAScript Number::toString(10) (what JSON.stringify writes for finite numbers).

    Python's repr gives the same shortest round-trip digits as V8; only the layout
    differs (JS: `1e+21`, `1.5e-7`, `10000000000000000`, `0.000001`; integral
    floats without `.0`).
    """
    if isinstance(x, int) and not isinstance(x, bool):
        if -MAX_SAFE <= x <= MAX_SAFE:
            return str(x)
        x = float(x)
    if x != x or math.isinf(x):
        return "NaN" if x != x else ("Infinity" if x > 0 else "-Infinity")
    if x == 0:
        return "0"  # also -0
    sign = "-" if x < 0 else ""
    dec = Decimal(repr(abs(x)))
    _, digits_t, exp = dec.as_tuple()
    digits = "".join(map(str, digits_t)).rstrip("0") or "0"
    assert isinstance(exp, int)
    exp += len(digits_t) - len(digits)
    k = len(digits)
    n = exp + k  # value = 0.d1d2...dk * 10**n
    if k <= n <= 21:
        return sign + digits + "0" * (n - k)
    if 0 < n <= 21:
        return sign + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * (-n) + digits
    e = n - 1
    esign = "+" if e >= 0 else "-"
    mant = digits if k == 1 else digits[0] + "." + digits[1:]
    return f"{sign}{mant}e{esign}{abs(e)}"


_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
}
_NEEDS_ESCAPE = re.compile(r'["\\\x00-\x1f\ud800-\udfff]')


def _escape_match(m: re.Match[str]) -> str:
    ch = m.group(0)
    if ch in _ESCAPES:
        return _ESCAPES[ch]
    return f"\\u{ord(ch):04x}"  # control chars and lone surrogates (ES2019 well-formed stringify)


def js_quote(s: str) -> str:
    """JSON.stringify(string): non-ASCII stays raw, lowercase \\u00xx escapes."""
    if _NEEDS_ESCAPE.search(s):
        # A surrogate pair left split in a Python str is one well-formed JS pair: join it first.
        s = s.encode("utf-16-be", "surrogatepass").decode("utf-16-be", "surrogatepass")
        s = _NEEDS_ESCAPE.sub(_escape_match, s)
    return '"' + s + '"'


def js_primitive_json(value: Any) -> str | None:
    """JSON.stringify of a non-object value; None where JS returns undefined."""
    if value is UNDEFINED:
        return None
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if is_number(value):
        if isinstance(value, float) and (value != value or math.isinf(value)):
            return "null"
        return js_number_to_string(value)
    if isinstance(value, str):
        return js_quote(value)
    raise TypeError(f"not a JSON value: {type(value).__name__}")


def js_json_clone(value: Any) -> Any:
    """JSON.parse(JSON.stringify(value)): the browser's deep copy.

    Holes become null, undefined properties vanish, NaN/Infinity become null, -0 becomes 0.
    A list of plain numbers that none of that touches (a plot trace's x or y) is copied in
    one C-speed step; everything else as `js_json_clone_reference` does it.
    """
    if type(value) is list:
        numbers = _clone_numbers(value)
        if numbers is not None:
            return numbers
        return [None if v is UNDEFINED else js_json_clone(v) for v in value]
    if isinstance(value, dict):
        return {k: js_json_clone(v) for k, v in value.items() if v is not UNDEFINED}
    return js_json_clone_reference(value)


def _clone_numbers(items: list[Any]) -> list[Any] | None:
    """The clone of a list of exact ints and finite floats (None for any other list)."""
    types = set(map(type, items))
    if not types <= _NUMBER_TYPES:
        return None
    out = list(items)
    if float in types:
        try:
            if not math.isfinite(sum(items)):  # NaN/inf anywhere make the sum non-finite
                return None
        except OverflowError:  # an int too large for a float next to a float
            return None
        i = -1
        try:
            while True:  # 0.0 and -0.0 become int 0 (an int 0 stays 0)
                i = items.index(0, i + 1)
                out[i] = 0
        except ValueError:
            pass
    return out


def js_json_clone_reference(value: Any) -> Any:
    """js_json_clone, the exact (slow) way: element by element."""
    if isinstance(value, dict):
        return {k: js_json_clone_reference(v) for k, v in value.items() if v is not UNDEFINED}
    if isinstance(value, list):
        return [None if v is UNDEFINED else js_json_clone_reference(v) for v in value]
    if isinstance(value, float):
        if value != value or math.isinf(value):
            return None
        if value == 0:
            return 0
    return value


def js_strict_equals_deep(a: Any, b: Any) -> bool:
    """fast-json-patch `_areEquals`: === on primitives (1 === 1.0, true !== 1), NaN equals NaN."""
    if is_number(a) and is_number(b):
        return a == b or (a != a and b != b)
    if (
        isinstance(a, bool)
        or isinstance(b, bool)
        or a is None
        or b is None
        or a is UNDEFINED
        or b is UNDEFINED
    ):
        return a is b
    if isinstance(a, str) or isinstance(b, str):
        return isinstance(a, str) and isinstance(b, str) and a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(
            js_strict_equals_deep(x, y) for x, y in zip(a, b, strict=True)
        )
    if isinstance(a, dict) and isinstance(b, dict):
        if len(a) != len(b) or any(k not in b for k in a):
            return False
        return all(js_strict_equals_deep(a[k], b[k]) for k in a)
    return False


def js_loose_number_equals(a: Any, b: Any) -> bool:
    """`a == b` where the browser compares version numbers (main.js updateWindow)."""

    def to_num(v: Any) -> float | None:
        if is_number(v):
            return float(v)
        if isinstance(v, bool):
            return float(v)
        if isinstance(v, str):
            try:
                return float(v.strip() or "0")
            except ValueError:
                return math.nan
        if v is None:
            return None
        return math.nan

    if a is UNDEFINED or b is UNDEFINED:
        return (a is UNDEFINED or a is None) and (b is UNDEFINED or b is None)
    if a is None or b is None:
        return a is None and b is None
    na, nb = to_num(a), to_num(b)
    return na is not None and nb is not None and na == nb


def js_to_string(value: Any) -> str:
    """String(value) for the property keys the browser builds (`newPane.id in panes`)."""
    if value is UNDEFINED:
        return "undefined"
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if is_number(value):
        return js_number_to_string(value)
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return ",".join("" if v is None or v is UNDEFINED else js_to_string(v) for v in value)
    return "[object Object]"


def js_add(a: Any, b: Any) -> Any:
    """`a + 1` for version numbers: undefined + 1 is NaN."""
    if is_number(a):
        return a + b
    if a is None:
        return b
    return math.nan


def js_truthy(value: Any) -> bool:
    """JS truthiness: {} and [] are true, 0/NaN/""/null/undefined/false are false."""
    if value is None or value is UNDEFINED or value is False:
        return False
    if is_number(value):
        return value == value and value != 0
    if isinstance(value, str):
        return value != ""
    return True
