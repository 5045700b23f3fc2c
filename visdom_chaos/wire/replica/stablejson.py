"""The browser side of 0.2.4's window hash: `md5(stringify(finalWindow))`.

Mirrors node_modules/json-stable-stringify/index.js (default options) and the `md5`
package as bundled in visdom 0.2.4's main.js: keys sorted with Array.prototype.sort
(UTF-16 code unit order), array holes as `null`, undefined properties skipped,
numbers and strings as V8's JSON.stringify writes them (non-ASCII raw, hashed as UTF-8).

This is deliberately NOT visdom's server-side `stringify` (utils/server_utils.py):
that one uses Python's json.dumps (ensure_ascii, `1e-07`, `1e+21`), so wherever the two
disagree the real browser sees a hash mismatch on every update.

Two implementations with the same results. `stable_stringify_reference` is the exact
one, value by value. `stable_stringify` (what the replica uses: 0.2.4 hashes the whole
window on every update, and plot traces grow by a point per update) takes shortcuts
and hands the whole value to the reference whenever it is not sure:

- A list of plain ints/floats (exact types) is formatted in one C-speed step,
  `",".join(map(repr, ...))`: Python's repr has the same shortest round-trip digits as
  V8 and the same positional layout wherever repr uses no exponent (1e-4 <= |x| < 1e16;
  V8 goes positional for 1e-6 <= |x| < 1e21), except integral floats ("2.0" -> "2").
  Any exponent, nan/inf, -0.0 or int beyond 2**53 sends that list to the exact
  per-number path.
- Long number lists are cached by content (`_NumberTextCache`): a list that starts with
  a cached one (list equality against a private copy; equal ints/floats have equal JS
  texts) formats only its new tail. Long strings that need no escaping likewise
  (`_CleanTextCache`: a growing text window is checked only where it grew).
- Strings that are printable and hold no quote or backslash are quoted as they are
  (what js_quote's regex finds is never printable: controls, surrogates).
- Keys: plain sort when they are all ASCII (UTF-16 order is code point order there).
- Anything else unusual (another type, a non-str key, nesting deeper than
  _FAST_DEPTH such as a cycle, any exception at all) reruns the reference on the whole
  value, so errors (HashError, TypeError, OverflowError) are the reference's own.
"""

from __future__ import annotations

import hashlib
import threading
from typing import Any

from .jsvalue import MAX_SAFE, UNDEFINED, js_number_to_string, js_primitive_json, js_quote

_NUMBER_TYPES = frozenset((int, float))
_FAST_DEPTH = 200  # deeper nesting (or a cycle): the reference decides
CACHE_MIN_LEN = 64  # number lists shorter than this are formatted afresh
CLEAN_MIN_LEN = 4096  # strings shorter than this are checked afresh


def _utf16_key(key: str) -> bytes:
    return key.encode("utf-16-be", "surrogatepass")


def stable_stringify(node: Any) -> str | None:
    """json-stable-stringify(node); None where the JS returns undefined.

    Raises HashError where the JS throws: an object inside itself ("Converting circular
    structure to JSON") or an array inside itself (stack overflow).
    """
    try:
        return _fast(node, 0)
    except Exception:  # _Unsure, RecursionError, or an error the reference raises its own way
        return stable_stringify_reference(node)


def stable_stringify_reference(node: Any) -> str | None:
    """stable_stringify, the exact (slow) way: value by value."""
    try:
        return _stringify(node, [])
    except RecursionError as exc:
        raise HashError("RangeError: Maximum call stack size exceeded") from exc


def _stringify(node: Any, seen: list[int]) -> str | None:
    if isinstance(node, list):
        items = []
        for item in node:
            text = _stringify(item, seen)
            items.append("null" if text is None else text)
        return "[" + ",".join(items) + "]"
    if isinstance(node, dict):
        if id(node) in seen:  # mirrors the `seen` check (objects only, not arrays)
            raise HashError("TypeError: Converting circular structure to JSON")
        seen.append(id(node))
        out = []
        for key in sorted(node, key=_utf16_key):
            text = _stringify(node[key], seen)
            if not text:  # mirrors `if(!value) continue;`
                continue
            out.append(js_quote(key) + ":" + text)
        seen.pop()
        return "{" + ",".join(out) + "}"
    if node is UNDEFINED:
        return None
    return js_primitive_json(node)


class HashError(Exception):
    """What `md5(stringify(window))` throws: a cycle, or md5(undefined) ("Illegal argument")."""


def browser_md5(node: Any) -> str:
    """md5(stringify(node)) as 0.2.4's _checkWindow computes it."""
    text = stable_stringify(node)
    if text is None:
        raise HashError("Illegal argument undefined")
    # md5 package: utf8 via unescape(encodeURIComponent(str)); stringify never leaves lone surrogates
    return hashlib.md5(text.encode("utf-8")).hexdigest()


# ----- the fast path -----


class _Unsure(Exception):
    """The fast path cannot vouch for this value: run the reference."""


def _fast(node: Any, depth: int) -> str | None:
    t = type(node)
    if t is str:
        return _quote(node)
    if t is float:
        return _float_text(node)
    if t is int:
        return str(node) if -MAX_SAFE <= node <= MAX_SAFE else js_number_to_string(node)
    if t is list:
        if depth > _FAST_DEPTH:
            raise _Unsure
        if not node:
            return "[]"
        types = set(map(type, node))
        if types <= _NUMBER_TYPES:
            if len(node) >= CACHE_MIN_LEN:
                return "[" + _number_texts.body(node, types) + "]"
            return "[" + _numbers_body(node, types) + "]"
        items = []
        for item in node:
            text = _fast(item, depth + 1)
            items.append("null" if text is None else text)
        return "[" + ",".join(items) + "]"
    if t is dict:
        if depth > _FAST_DEPTH:
            raise _Unsure
        keys = list(node)
        if "".join(keys).isascii():  # (join raises TypeError for a non-str key: reference)
            keys.sort()
        else:
            keys.sort(key=_utf16_key)
        out = []
        for key in keys:
            text = _fast(node[key], depth + 1)
            if text:  # mirrors `if(!value) continue;`
                out.append(_quote(key) + ":" + text)
        return "{" + ",".join(out) + "}"
    if node is None:
        return "null"
    if t is bool:
        return "true" if node else "false"
    if node is UNDEFINED:
        return None
    raise _Unsure  # not a JSON value (or a subclass of one): the reference knows what to do


def _float_text(x: float) -> str:
    r = repr(x)
    if r.endswith(".0"):  # integral, positional (repr uses no exponent)
        return "0" if r == "-0.0" else r[:-2]
    if "e" in r or "n" in r:  # exponent, inf, nan
        return js_primitive_json(x)  # type: ignore[return-value]  # never None for a float
    return r


def _numbers_body(node: list[Any], types: set[type]) -> str:
    """The comma-joined JS texts of a list of exact ints/floats."""
    body = _numbers_body_fast(node, types)
    if body is None:
        return ",".join(map(js_primitive_json, node))  # type: ignore[arg-type]  # exact, per number
    return body


def _numbers_body_fast(node: list[Any], types: set[type] | frozenset[type]) -> str | None:
    """One C-speed step, or None where some number needs the exact path."""
    body = ",".join(map(repr, node))
    if "e" in body or "n" in body:  # an exponent somewhere, inf, nan
        return None
    if int in types and (max(node) > MAX_SAFE or min(node) < -MAX_SAFE):
        return None
    if float in types:
        body += ","
        if "-0.0," in body:  # "-" only starts a number here (no exponents)
            return None
        # a repr ending in ".0" is an integral float (shortest repr has no other trailing 0)
        body = body.replace(".0,", ",")[:-1]
    return body


class _NumberTextCache:
    """The JS texts of long number lists, by content, for lists that grow by appending.

    An entry is (a private copy of a list, its comma-joined texts). A list that starts
    with an entry's copy (C-speed list equality; both hold exact ints/floats only, and
    equal ones have equal JS texts: 2 == 2.0, -0.0 == 0.0 -> "0") reuses its texts and
    formats only the tail. Never keyed by identity: a list changed in place is a miss,
    not a stale text. Thread-safe (subscribers' threads share it); bounded in entries
    and in cached numbers.
    """

    SIZE = 16
    MAX_ITEMS = 2_000_000

    def __init__(self) -> None:
        self.entries: list[tuple[list[Any], str]] = []
        self._lock = threading.Lock()

    def body(self, node: list[Any], types: set[type]) -> str:
        n = len(node)
        with self._lock:
            best, best_k = -1, 0
            for i, (snap, _) in enumerate(self.entries):
                k = len(snap)
                if best_k < k <= n and node[k - 1] == snap[-1] and node[:k] == snap:
                    best, best_k = i, k
            if best_k == n:  # the same numbers again (the next hash, another subscriber)
                entry = self.entries.pop(best)
                self.entries.insert(0, entry)
                return entry[1]
            cached = self.entries[best][1] if best >= 0 else ""
        # `types` is the whole list's: a superset of the tail's only adds checks
        tail_body = _numbers_body(node[best_k:] if best_k else node, types)
        body = cached + "," + tail_body if best_k else tail_body
        with self._lock:
            if 0 <= best < len(self.entries) and len(self.entries[best][0]) == best_k:
                del self.entries[best]  # superseded by the longer list
            self.entries.insert(0, (list(node), body))
            del self.entries[self.SIZE :]
            total = 0
            for i, (snap, _) in enumerate(self.entries):
                total += len(snap)
                if total > self.MAX_ITEMS and i:
                    del self.entries[i:]
                    break
        return body


_number_texts = _NumberTextCache()


def _clean(s: str) -> bool:
    """True where js_quote(s) is '"' + s + '"': what its regex finds is never printable."""
    return s.isprintable() and '"' not in s and "\\" not in s


class _CleanTextCache:
    """Long strings known to need no escaping (a text window grows by appending): a string
    that starts with one of them is checked only past it. Strings are immutable, so
    holding them is holding their content. Thread-safe, bounded."""

    SIZE = 8

    def __init__(self) -> None:
        self.entries: list[str] = []
        self._lock = threading.Lock()

    def clean(self, s: str) -> bool:
        n = len(s)
        with self._lock:
            best, best_k = -1, 0
            for i, p in enumerate(self.entries):
                k = len(p)
                if best_k < k <= n and s.startswith(p):
                    best, best_k = i, k
            if best_k == n:  # this very text again (the next hash, another subscriber)
                self.entries.insert(0, self.entries.pop(best))
                return True
        if not _clean(s[best_k:] if best_k else s):
            return False
        with self._lock:
            if 0 <= best < len(self.entries) and len(self.entries[best]) == best_k:
                del self.entries[best]  # superseded by the longer text
            self.entries.insert(0, s)
            del self.entries[self.SIZE :]
        return True


_clean_texts = _CleanTextCache()


def _quote(s: str) -> str:
    if len(s) < CLEAN_MIN_LEN:
        if _clean(s):
            return '"' + s + '"'
    elif _clean_texts.clean(s):
        return '"' + s + '"'
    return js_quote(s)
