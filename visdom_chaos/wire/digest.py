"""What a window shows, in a few numbers: for judging windows that carry no toolkit ids.

A user's own windows (a training script's `viz.line(..., update="append")`, `viz.text(...,
append=True)`, `viz.image(...)`) hold no `(source, seq)` ids, so the id checkers cannot
judge them. Instead, a subscriber journals a *digest* of each such window it holds at the
end (`view` record `digest`), the orchestrator one of the server's (`truth` record
`digest`, from `/win_data`), and reports/checkers/userwin.py compares them:

- plot (line, scatter, bar, heatmap, ...): per trace its `name`, `type`, point count `n`,
  the last point `last` and a hash `h` of its data (x, y, z, text): what the tab draws.
  Keys the browser's render writes back into a pane (opacity, visible, axis ranges) are
  not part of it (replica/plot_render.py), so a healthy tab matches the server exactly.
- text: length `len`, hash `h`, the last 80 characters `tail`.
- image: `caption`, the source's length `len` and hash `h`.
- any other type: `type` only, with `judged: false` (the report names it as not judged).

Numbers are written as `%.10g` strings before hashing: a JSON number parsed by the page
(JS) and by Python gives the same digest.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

JUDGED_TYPES = ("plot", "text", "image")
TAIL = 80
DATA_KEYS = ("x", "y", "z", "text")


def _canon(value: Any) -> Any:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return format(float(value), ".10g")
    if isinstance(value, list | tuple):
        return [_canon(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _canon(v) for k, v in sorted(value.items())}
    return str(value)  # the replica's UNDEFINED and other JS-only values


def _hash(value: Any) -> str:
    text = json.dumps(_canon(value), separators=(",", ":"), ensure_ascii=False)
    return hashlib.md5(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def _count(trace: dict[str, Any]) -> int:
    for key in ("x", "y", "z", "values", "r"):
        v = trace.get(key)
        if isinstance(v, list):
            return len(v)
    return 0


def _last(trace: dict[str, Any]) -> list[Any] | None:
    point = []
    for key in ("x", "y"):
        v = trace.get(key)
        point.append(_canon(v[-1]) if isinstance(v, list) and v else None)
    return point if any(p is not None for p in point) else None


def window_title(window: dict[str, Any]) -> str | None:
    title = window.get("title")
    if not title and isinstance(window.get("opts"), dict):
        title = window["opts"].get("title")
    return str(title) if title else None


def window_digest(window: Any) -> dict[str, Any]:
    """The digest of one window JSON as the server holds it or a tab's state does."""
    if not isinstance(window, dict):
        return {"type": None, "judged": False}
    typ = window.get("type")
    out: dict[str, Any] = {"type": typ, "title": window_title(window)}
    content = window.get("content")
    if typ == "plot":
        data = content.get("data") if isinstance(content, dict) else None
        traces: list[dict[str, Any]] = []
        for trace in data if isinstance(data, list) else []:
            if not isinstance(trace, dict):
                traces.append({"name": None, "type": None, "n": 0, "last": None, "h": _hash(trace)})
                continue
            name = trace.get("name")
            traces.append(
                {
                    "name": name if isinstance(name, str) else _canon(name),
                    "type": trace.get("type"),
                    "n": _count(trace),
                    "last": _last(trace),
                    "h": _hash({k: trace.get(k) for k in DATA_KEYS if k in trace}),
                }
            )
        out["traces"] = traces
    elif typ == "text":
        text = content if isinstance(content, str) else json.dumps(_canon(content))
        out.update(len=len(text), h=_hash(text), tail=text[-TAIL:])
    elif typ == "image":
        c = content if isinstance(content, dict) else {}
        src = c.get("src")
        src = src if isinstance(src, str) else ""
        caption = c.get("caption")
        out.update(
            caption=caption if isinstance(caption, str) else _canon(caption),
            len=len(src),
            h=_hash(src),
        )
    else:
        out["judged"] = False
    return out
