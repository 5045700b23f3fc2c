"""Event identity: how an update's (source, seq, send time) travels inside Visdom data.

The analyzers never trust Visdom's bookkeeping: they read ids back out of what a
subscriber (or the server) actually holds.

- Plot windows (line/scatter): one trace per source, trace `name` = source,
  `x` = seq, `y` = send time in milliseconds since the epoch (a float: exact to
  the microsecond, well inside a double's 53-bit mantissa).
- Text windows: each append carries a token `[src#seq@send_ns]`.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from typing import Any, NamedTuple

TOKEN_RE = re.compile(r"\[([A-Za-z0-9_.:-]+)#(\d+)@(\d+)\]")


class EventId(NamedTuple):
    source: str
    seq: int
    send_ns: int

    @property
    def key(self) -> str:
        return f"{self.source}#{self.seq}"


def text_token(source: str, seq: int, send_ns: int) -> str:
    return f"[{source}#{seq}@{send_ns}]"


def send_ms(send_ns: int) -> float:
    return round(send_ns / 1e6, 3)


def ns_from_ms(ms: float) -> int:
    return int(round(float(ms) * 1e3)) * 1000


def _parse_tokens(text: str) -> list[EventId]:
    return [EventId(m.group(1), int(m.group(2)), int(m.group(3))) for m in TOKEN_RE.finditer(text)]


class _AppendCache:
    """Text windows grow by appending, and every render re-reads the whole text: parse only
    what is new since a recently seen prefix. Bounded to a few entries."""

    SIZE = 16

    def __init__(self) -> None:
        self.entries: list[tuple[str, list[EventId]]] = []
        self._lock = threading.Lock()  # subscribers' reader threads share it

    def ids(self, content: str) -> list[EventId]:
        with self._lock:
            return list(self._ids(content))

    def _ids(self, content: str) -> list[EventId]:
        for i, (text, ids) in enumerate(self.entries):
            if len(text) <= len(content) and content.startswith(text) and (
                len(text) == len(content) or content[len(text)] == "<" or not text
            ):
                # The suffix starts at a "<br>" boundary, so no token straddles the cut.
                result = ids + _parse_tokens(content[len(text):]) if len(text) < len(content) else ids
                self.entries.pop(i)
                break
        else:
            result = _parse_tokens(content)
        self.entries.insert(0, (content, result))
        del self.entries[self.SIZE:]
        return result


_text_cache = _AppendCache()


def ids_in_text(content: Any) -> list[EventId]:
    if not isinstance(content, str):
        return []
    if len(content) < 4096:
        return _parse_tokens(content)
    return _text_cache.ids(content)


def ids_in_traces(traces: Iterable[Any]) -> list[EventId]:
    out: list[EventId] = []
    for trace in traces:
        if not isinstance(trace, dict):
            continue
        name = trace.get("name")
        xs, ys = trace.get("x"), trace.get("y")
        if not isinstance(name, str) or not isinstance(xs, list) or not isinstance(ys, list):
            continue
        for x, y in zip(xs, ys, strict=False):
            if isinstance(x, int | float) and isinstance(y, int | float) and x == x:  # x == x drops NaN
                out.append(EventId(name, int(x), ns_from_ms(y)))
    return out


def ids_in_window(window: Any) -> list[EventId]:
    """Ids in view order of a window as Visdom serialises it (`window` message or /win_data)."""
    if not isinstance(window, dict):
        return []
    content = window.get("content")
    if window.get("type") == "text":
        return ids_in_text(content)
    if window.get("type") == "image" and isinstance(content, dict):
        return ids_in_text(content.get("caption"))  # image windows carry the token in the caption
    if isinstance(content, dict):
        return ids_in_traces(content.get("data") or [])
    return []


def heads(ids: Iterable[EventId]) -> dict[str, int]:
    """Newest seq per source: the update a view (or an accepted state) has reached."""
    out: dict[str, int] = {}
    for i in ids:
        if i.seq > out.get(i.source, -1):
            out[i.source] = i.seq
    return out


def heads_of(window: Any) -> dict[str, int]:
    return heads(ids_in_window(window))
