"""Event identity: how an update's (source, seq, send time) travels inside Visdom data.

The analyzers never trust Visdom's bookkeeping: they read ids back out of what a
subscriber (or the server) actually holds.

- Plot windows (line/scatter): one trace per source, trace `name` = source,
  `x` = seq, `y` = send time in milliseconds since the epoch (a float: exact to
  the microsecond, well inside a double's 53-bit mantissa).
- Text windows: each append carries a token `[src#seq@send_ns]`.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Iterable
from itertools import compress, repeat
from operator import attrgetter, eq
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
    what is new since a recently seen prefix. Bounded to a few entries. Each entry also
    keeps the text's heads (newest seq per source), folded on over the new ids."""

    SIZE = 16

    def __init__(self) -> None:
        self.entries: list[tuple[str, list[EventId], dict[str, int]]] = []
        self._lock = threading.Lock()  # subscribers' reader threads share it

    def ids(self, content: str) -> list[EventId]:
        with self._lock:
            return list(self._lookup(content)[0])

    def heads(self, content: str) -> dict[str, int]:
        with self._lock:
            return dict(self._lookup(content)[1])

    def _ids(self, content: str) -> list[EventId]:
        return self._lookup(content)[0]

    def _lookup(self, content: str) -> tuple[list[EventId], dict[str, int]]:
        for i, (text, ids, head) in enumerate(self.entries):
            if (
                len(text) <= len(content)
                and content.startswith(text)
                and (len(text) == len(content) or content[len(text)] == "<" or not text)
            ):
                # The suffix starts at a "<br>" boundary, so no token straddles the cut.
                if len(text) < len(content):
                    tail = _parse_tokens(content[len(text) :])
                    result = ids + tail
                    head = _fold_heads(dict(head), tail)
                else:
                    result = ids
                self.entries.pop(i)
                break
        else:
            result = _parse_tokens(content)
            head = heads(result)
        self.entries.insert(0, (content, result, head))
        del self.entries[self.SIZE :]
        return result, head


_text_cache = _AppendCache()


def ids_in_text(content: Any) -> list[EventId]:
    if not isinstance(content, str):
        return []
    if len(content) < 4096:
        return _parse_tokens(content)
    return _text_cache.ids(content)


def _heads_in_text(content: Any) -> dict[str, int]:
    if not isinstance(content, str):
        return {}
    if len(content) < 4096:
        return heads(_parse_tokens(content))
    return _text_cache.heads(content)


def _pairs(name: str, xs: list[Any], ys: list[Any]) -> list[EventId]:
    """The ids of one trace, point by point (the reference)."""
    out: list[EventId] = []
    for x, y in zip(xs, ys, strict=False):
        if isinstance(x, int | float) and isinstance(y, int | float) and x == x:  # x == x drops NaN
            out.append(EventId(name, int(x), ns_from_ms(y)))
    return out


def _trace_fields(trace: Any) -> tuple[str, list[Any], list[Any]] | None:
    if not isinstance(trace, dict):
        return None
    name = trace.get("name")
    xs, ys = trace.get("x"), trace.get("y")
    if not isinstance(name, str) or not isinstance(xs, list) or not isinstance(ys, list):
        return None
    return name, xs, ys


TRACE_CACHE_MIN = 64  # traces with fewer points are read afresh
_NUMBER_TYPES = frozenset((int, float))


class _TraceCache:
    """Plot traces grow by appending, and every accepted update (heads) and every render
    (ids) re-reads the whole window: read only the points new since a recently seen prefix.

    An entry is (name, private copies of x[:m] and y[:m], their ids, their newest seq or
    -1). A trace whose name is the entry's and whose x and y start with the copies (C-speed
    list equality) reuses the entry's ids and reads only its tail, point by point as the
    reference does. Keyed by content, never by identity: a trace changed in place (a
    patch, a render's write-back) no longer starts with the copy and is read afresh, so
    the cache never returns stale ids. Equal window values (JSON types and UNDEFINED)
    give equal ids: 2 == 2.0 and True == 1 are read alike (int(), float()), NaN equals
    nothing. Thread-safe (subscribers' threads share it); bounded in entries and points.
    """

    SIZE = 32
    MAX_POINTS = 2_000_000

    def __init__(self) -> None:
        self.entries: list[tuple[str, list[Any], list[Any], list[EventId], int]] = []
        self._lock = threading.Lock()

    def get(self, name: str, xs: list[Any], ys: list[Any]) -> tuple[list[EventId], int]:
        """(ids, newest seq or -1) of a trace; the ids list is the cache's: do not change it."""
        m = min(len(xs), len(ys))
        with self._lock:
            best, best_k = -1, 0
            for i, (ename, sx, sy, _, _) in enumerate(self.entries):
                k = len(sx)
                if (
                    best_k < k <= m
                    and ename == name
                    and xs[k - 1] == sx[-1]
                    and ys[k - 1] == sy[-1]
                    and xs[:k] == sx
                    and ys[:k] == sy
                ):
                    best, best_k = i, k
            if best >= 0:
                entry = self.entries[best]
                if best_k == m:  # the same points again (the other copy, another subscriber)
                    del self.entries[best]
                    self.entries.insert(0, entry)
                    return entry[3], entry[4]
                ids0, head0 = entry[3], entry[4]
            else:
                ids0, head0 = [], -1
        tail = _pairs(name, xs[best_k:m], ys[best_k:m])
        ids = ids0 + tail
        head = max(head0, max((i.seq for i in tail), default=-1))
        with self._lock:
            if 0 <= best < len(self.entries) and len(self.entries[best][1]) == best_k:
                del self.entries[best]  # superseded by the longer trace
            self.entries.insert(0, (name, xs[:m], ys[:m], ids, head))
            del self.entries[self.SIZE :]
            total = 0
            for i, entry in enumerate(self.entries):
                total += len(entry[1])
                if total > self.MAX_POINTS and i:
                    del self.entries[i:]
                    break
        return ids, head


_trace_cache = _TraceCache()


def ids_in_traces(traces: Iterable[Any]) -> list[EventId]:
    out: list[EventId] = []
    for trace in traces:
        fields = _trace_fields(trace)
        if fields is None:
            continue
        name, xs, ys = fields
        if len(xs) >= TRACE_CACHE_MIN and len(ys) >= TRACE_CACHE_MIN:
            out += _trace_cache.get(name, xs, ys)[0]
        else:
            out += _pairs(name, xs, ys)
    return out


def ids_in_traces_reference(traces: Iterable[Any]) -> list[EventId]:
    """ids_in_traces, point by point and without the cache."""
    out: list[EventId] = []
    for trace in traces:
        fields = _trace_fields(trace)
        if fields is not None:
            out += _pairs(*fields)
    return out


def _head_fast(xs: list[Any], ys: list[Any], m: int) -> int | None:
    """Newest seq of a short trace's ids (-1: none) in C-speed steps; None where a point
    needs reading one by one (another type, NaN/inf, a y that would overflow)."""
    if m == 0:
        return -1
    if len(xs) > m:
        xs = xs[:m]
    if len(ys) > m:
        ys = ys[:m]
    if not (_NUMBER_TYPES.issuperset(map(type, xs)) and _NUMBER_TYPES.issuperset(map(type, ys))):
        return None
    try:  # every point then yields an id (no NaN to skip) and none raises (ns_from_ms)
        if not (math.isfinite(sum(xs)) and math.isfinite(sum(ys))):
            return None
        if max(ys) >= 1e300 or min(ys) <= -1e300:
            return None
    except OverflowError:
        return None
    return int(max(xs))  # int() is monotonic: the max of int(x) is int(max(x))


def _heads_in_traces(traces: Iterable[Any]) -> dict[str, int]:
    """heads(ids_in_traces(traces)) without building the ids where it can."""
    out: dict[str, int] = {}
    for trace in traces:
        fields = _trace_fields(trace)
        if fields is None:
            continue
        name, xs, ys = fields
        m = min(len(xs), len(ys))
        if m >= TRACE_CACHE_MIN:
            head = _trace_cache.get(name, xs, ys)[1]
        else:
            fast = _head_fast(xs, ys, m)
            head = (
                fast if fast is not None else max((i.seq for i in _pairs(name, xs, ys)), default=-1)
            )
        # one name per trace: folding its newest seq is folding each of its ids
        if head > out.get(name, -1):
            out[name] = head
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


def ids_in_window_reference(window: Any) -> list[EventId]:
    """ids_in_window without any cache or shortcut."""
    if not isinstance(window, dict):
        return []
    content = window.get("content")
    if window.get("type") == "text":
        return _parse_tokens(content) if isinstance(content, str) else []
    if window.get("type") == "image" and isinstance(content, dict):
        caption = content.get("caption")
        return _parse_tokens(caption) if isinstance(caption, str) else []
    if isinstance(content, dict):
        return ids_in_traces_reference(content.get("data") or [])
    return []


def _fold_heads(out: dict[str, int], ids: Iterable[EventId]) -> dict[str, int]:
    for i in ids:
        if i.seq > out.get(i.source, -1):
            out[i.source] = i.seq
    return out


def heads(ids: Iterable[EventId]) -> dict[str, int]:
    """Newest seq per source: the update a view (or an accepted state) has reached."""
    if type(ids) is list and len(ids) >= HEADS_FAST_MIN:
        fast = _heads_fast(ids)
        if fast is not None:
            return fast
    return _fold_heads({}, ids)


HEADS_FAST_MIN = 32
_SEQ = attrgetter("seq")
_SOURCE = attrgetter("source")
_INT = frozenset((int,))
_STR = frozenset((str,))


def _heads_fast(ids: list[EventId]) -> dict[str, int] | None:
    """heads(ids) in C-speed steps where every seq is an int >= 0 and the sources are a few
    strs: each source then enters the fold at its first id (in first-appearance order) and
    ends at its max seq. None otherwise."""
    seqs = list(map(_SEQ, ids))
    if not _INT.issuperset(map(type, seqs)) or min(seqs) < 0:
        return None
    sources = list(map(_SOURCE, ids))
    if not _STR.issuperset(map(type, sources)):
        return None
    order = dict.fromkeys(sources)
    if len(order) == 1:
        return {sources[0]: max(seqs)}
    if len(order) > 8:
        return None
    return {s: max(compress(seqs, map(eq, sources, repeat(s)))) for s in order}


def heads_of(window: Any) -> dict[str, int]:
    """heads(ids_in_window(window)), from the caches where they hold the window's ids."""
    if not isinstance(window, dict):
        return {}
    content = window.get("content")
    if window.get("type") == "text":
        return _heads_in_text(content)
    if window.get("type") == "image" and isinstance(content, dict):
        return _heads_in_text(content.get("caption"))
    if isinstance(content, dict):
        return _heads_in_traces(content.get("data") or [])
    return {}


def heads_of_reference(window: Any) -> dict[str, int]:
    return heads(ids_in_window_reference(window))
