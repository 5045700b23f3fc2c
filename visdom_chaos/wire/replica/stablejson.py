"""The browser side of 0.2.4's window hash: `md5(stringify(finalWindow))`.

Mirrors node_modules/json-stable-stringify/index.js (default options) and the `md5`
package as bundled in visdom 0.2.4's main.js: keys sorted with Array.prototype.sort
(UTF-16 code unit order), array holes as `null`, undefined properties skipped,
numbers and strings as V8's JSON.stringify writes them (non-ASCII raw, hashed as UTF-8).

This is deliberately NOT visdom's server-side `stringify` (utils/server_utils.py):
that one uses Python's json.dumps (ensure_ascii, `1e-07`, `1e+21`), so wherever the two
disagree the real browser sees a hash mismatch on every update.
"""

from __future__ import annotations

import hashlib
from typing import Any

from .jsvalue import UNDEFINED, js_primitive_json, js_quote


def _utf16_key(key: str) -> bytes:
    return key.encode("utf-16-be", "surrogatepass")


def stable_stringify(node: Any) -> str | None:
    """json-stable-stringify(node); None where the JS returns undefined.

    Raises HashError where the JS throws: an object inside itself ("Converting circular
    structure to JSON") or an array inside itself (stack overflow).
    """
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
