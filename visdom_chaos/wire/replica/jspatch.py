"""fast-json-patch `applyPatch` (module/core.mjs, the copy bundled in both 0.2.4 and 0.3.0).

The browser calls `jsonpatch.applyPatch(doc, patch)` with the defaults:
validateOperation=false, mutateDocument=true. So, unlike RFC 6902 and the python
`jsonpatch` library (which raise a conflict):
- `add` to an array index past the end appends (Array.splice clamps); `-` appends;
- `replace`/`remove` of a missing object key just sets/deletes it, `replace` past an
  array's end leaves holes; `remove` past the end does nothing;
- it throws only on: a failed `test`, an unknown `op`, walking through
  undefined/null (missing intermediate path), writing a property on a primitive,
  `__proto__`; and the document is mutated op by op, so a throw leaves the earlier
  ops applied.
The python `jsonpatch` library cannot be used for that reason; this is a line-by-line
port instead, checked against the bundled JS under node (tests/test_replica_node.py).
Not modelled: named (non-index) properties on arrays, which only a patch that copies an
array to the document root and then addresses it by name could create; visdom's server
never sends such patches.
"""

from __future__ import annotations

from typing import Any

from .jsvalue import UNDEFINED, js_json_clone, js_strict_equals_deep, js_to_string


class JSPatchError(Exception):
    """Anything applyPatch throws (JsonPatchError or TypeError in the JS)."""


def _is_integer(key: Any) -> bool:
    # helpers.mjs isInteger: for a string, all chars are digits ("" counts!);
    # for a number `str.length` is undefined so the loop never runs -> true.
    if isinstance(key, str):
        return all("0" <= c <= "9" for c in key)
    return True


def _to_int32(key: str) -> int:
    # `~~key` on a digit string
    value = int(key) if key else 0
    value &= 0xFFFFFFFF
    return value - 2**32 if value >= 2**31 else value


def _get(obj: Any, key: Any) -> Any:
    """obj[key] in JS, for JSON-shaped values."""
    if obj is None or obj is UNDEFINED:
        raise JSPatchError(
            f"TypeError: Cannot read properties of {js_to_string(obj)} (reading '{js_to_string(key)}')"
        )
    if isinstance(obj, dict):
        return obj.get(js_to_string(key), UNDEFINED)
    if isinstance(obj, list):
        if isinstance(key, int) and not isinstance(key, bool):
            return obj[key] if 0 <= key < len(obj) else UNDEFINED
        if key == "length":
            return len(obj)
        return UNDEFINED
    if isinstance(obj, str):
        if isinstance(key, int) or (isinstance(key, str) and key.isdigit()):
            i = int(key)
            return obj[i] if i < len(obj) else UNDEFINED
        return len(obj) if key == "length" else UNDEFINED
    return UNDEFINED


def _set(obj: Any, key: Any, value: Any) -> None:
    if isinstance(obj, dict):
        obj[js_to_string(key)] = value
        return
    if isinstance(obj, list) and isinstance(key, int) and not isinstance(key, bool) and key >= 0:
        while len(obj) <= key:
            obj.append(UNDEFINED)  # arr[i] = v past the end leaves holes
        obj[key] = value
        return
    if isinstance(obj, list):
        return  # a named property on an array: invisible to JSON, nothing to model
    # strict mode: assigning a property to a primitive / undefined / null throws
    raise JSPatchError(
        f"TypeError: Cannot create property '{js_to_string(key)}' on {type(obj).__name__}"
    )


def _delete(obj: Any, key: Any) -> Any:
    if obj is None or obj is UNDEFINED:
        raise JSPatchError("TypeError: Cannot convert undefined or null to object")
    removed = _get(obj, key)
    if isinstance(obj, dict):
        obj.pop(js_to_string(key), None)
    elif isinstance(obj, list) and isinstance(key, int) and 0 <= key < len(obj):
        obj[key] = UNDEFINED  # `delete arr[i]` leaves a hole
    elif isinstance(obj, str) and removed is not UNDEFINED:
        raise JSPatchError("TypeError: Cannot delete property of string")
    return removed


def _splice_start(key: Any) -> int:
    try:
        value = float(key)
    except (TypeError, ValueError):
        return 0
    if value != value:
        return 0
    return int(max(min(value, 2**53), -(2**53)))


def _splice_insert(arr: list[Any], i: int, value: Any) -> None:
    n = len(arr)
    start = max(n + i, 0) if i < 0 else min(i, n)
    arr.insert(start, value)


def _splice_remove(arr: list[Any], i: int) -> Any:
    n = len(arr)
    start = max(n + i, 0) if i < 0 else min(i, n)
    if start < n:
        return arr.pop(start)
    return UNDEFINED


def _deep_clone(value: Any) -> Any:
    # helpers.mjs _deepClone: objects via JSON round trip, undefined -> null, primitives as is
    if value is UNDEFINED:
        return None
    return js_json_clone(value)


def get_value_by_pointer(document: Any, pointer: Any) -> Any:
    # pointer: a JSON Pointer, or whatever a malformed op's path/from holds (missing: None),
    # handled as the JS library handles it
    if pointer == "":
        return document
    op: dict[str, Any] = {"op": "_get", "path": pointer}
    apply_operation(document, op)
    return op.get("value", UNDEFINED)


def _obj_op(op: dict[str, Any], name: str, obj: Any, key: Any, document: Any) -> dict[str, Any]:
    value = op.get("value", UNDEFINED)
    if name == "add":
        _set(obj, key, value)
        return {"newDocument": document}
    if name == "remove":
        return {"newDocument": document, "removed": _delete(obj, key)}
    if name == "replace":
        removed = _get(obj, key)
        _set(obj, key, value)
        return {"newDocument": document, "removed": removed}
    if name == "move":
        removed = get_value_by_pointer(document, op.get("path"))
        if removed not in (UNDEFINED, None, False, 0, ""):  # JS truthiness
            removed = _deep_clone(removed)
        original = apply_operation(document, {"op": "remove", "path": op.get("from")}).get(
            "removed", UNDEFINED
        )
        apply_operation(document, {"op": "add", "path": op.get("path"), "value": original})
        return {"newDocument": document, "removed": removed}
    if name == "copy":
        to_copy = get_value_by_pointer(document, op.get("from"))
        apply_operation(
            document, {"op": "add", "path": op.get("path"), "value": _deep_clone(to_copy)}
        )
        return {"newDocument": document}
    if name == "test":
        return {"newDocument": document, "test": js_strict_equals_deep(_get(obj, key), value)}
    if name == "_get":
        op["value"] = _get(obj, key)
        return {"newDocument": document}
    raise JSPatchError(f"TypeError: objOps[{name!r}] is undefined")


def _arr_op(op: dict[str, Any], name: str, arr: list[Any], i: Any, document: Any) -> dict[str, Any]:
    value = op.get("value", UNDEFINED)
    if name == "add":
        if _is_integer(i) and isinstance(i, int):
            _splice_insert(arr, i, value)
        else:
            _set(arr, i, value)
        return {"newDocument": document, "index": i}
    if name == "remove":
        if not isinstance(i, int):
            i = _splice_start(i)  # Array.prototype.splice does ToIntegerOrInfinity: NaN -> 0
        return {"newDocument": document, "removed": _splice_remove(arr, i)}
    if name == "replace":
        removed = _get(arr, i)
        _set(arr, i, value)
        return {"newDocument": document, "removed": removed}
    return _obj_op(op, name, arr, i, document)


def apply_operation(document: Any, operation: Any) -> dict[str, Any]:
    """core.mjs applyOperation(document, operation) with validateOperation=false, mutate=true."""
    if not isinstance(operation, dict):
        raise JSPatchError("TypeError: operation is not an object")
    name = operation.get("op")
    path = operation.get("path", UNDEFINED)
    if path == "":
        result: dict[str, Any] = {"newDocument": document}
        if name in ("add", "replace"):
            result["newDocument"] = operation.get("value", UNDEFINED)
            if name == "replace":
                result["removed"] = document
        elif name in ("move", "copy"):
            result["newDocument"] = get_value_by_pointer(document, operation.get("from"))
            if name == "move":
                result["removed"] = document
        elif name == "test":
            if not js_strict_equals_deep(document, operation.get("value", UNDEFINED)):
                raise JSPatchError("TEST_OPERATION_FAILED")
        elif name == "remove":
            result["removed"] = document  # a move from the root re-adds the whole document
            result["newDocument"] = None
        elif name == "_get":
            operation["value"] = document
        return result
    if not isinstance(path, str):
        path = "" if path is UNDEFINED or path is None else js_to_string(path)
    keys = path.split("/")
    obj = document
    t = 1
    length = len(keys)
    while True:
        key: Any = keys[t] if t < length else UNDEFINED
        if isinstance(key, str) and "~" in key:
            key = key.replace("~1", "/").replace("~0", "~")
        if key == "__proto__" or (key == "prototype" and t > 0 and keys[t - 1] == "constructor"):
            raise JSPatchError("TypeError: JSON-Patch: modifying `__proto__` is banned")
        t += 1
        if isinstance(obj, list):
            if key == "-":
                key = len(obj)
            elif key is UNDEFINED:
                raise JSPatchError(
                    "TypeError: Cannot read properties of undefined (reading 'length')"
                )
            elif _is_integer(key):
                key = _to_int32(key)
            if t >= length:
                result = _arr_op(operation, str(name), obj, key, document)
                if result.get("test") is False:
                    raise JSPatchError("TEST_OPERATION_FAILED")
                return result
        else:
            if t >= length:
                if obj is None or obj is UNDEFINED:
                    raise JSPatchError(f"TypeError: Cannot set properties of {js_to_string(obj)}")
                result = _obj_op(operation, str(name), obj, key, document)
                if result.get("test") is False:
                    raise JSPatchError("TEST_OPERATION_FAILED")
                return result
        obj = _get(obj, key)


def apply_patch(document: Any, patch: Any) -> Any:
    """core.mjs applyPatch(document, patch): mutates `document`, returns newDocument.

    Raises JSPatchError where the JS throws; ops before the failing one stay applied.
    """
    if patch is None or patch is UNDEFINED:
        raise JSPatchError("TypeError: Cannot read properties of null (reading 'length')")
    if not isinstance(patch, list):
        # `for (i < patch.length)`: an object/number has no length (no-op); a non-empty
        # string iterates its characters and the first `objOps[undefined].call` throws.
        if isinstance(patch, str) and patch:
            raise JSPatchError("TypeError: operation on a string patch")
        return document
    for operation in patch:
        document = apply_operation(document, operation)["newDocument"]
    return document
