"""Wire ids: what one subscriber connection received, read from each frame's own payload.

The replica says what a tab *shows*; this says what reached it, before any browser
model touched it. `WireReader.read(msg)` takes one decoded server message (a dict as
JSON.parse gives it; None or anything else for a frame that is not JSON) and returns
the wire fields a `recv` record carries (visdom_chaos/JOURNAL.md):

- `kind`: `"snapshot"` (a `window`/`pane` message: a whole window) or `"update"`
  (`window_update`: a JSON patch; a patched server's `text_append`: only the appended
  text); absent for messages without window content
- `heads`: {source: [seq, send_ns]}: an update's own newest id per source it carries;
  for a snapshot, the newest id per source in the window (send_ns 0 where the payload
  does not carry it)
- `ids`: {source: [[start, end], ...]}: half-open runs of every id the payload carries
  (a snapshot: all ids of the window; an update: the ids its ops carry; a 0.2.4 or
  0.3.0 text append replaces the whole text, so it carries all of them; a `text_append`
  carries only the ids of its `data`)
- `version` (0.3.0), `seq` / `epoch` (a patched server's per-env broadcast seq)
- `undecodable: true` when the frame is not JSON or some of its ids cannot be read;
  `bad_ids`: how many ids could not be read
- `unnamed_ids`: ids of plot ops whose trace index no snapshot of that window on this
  connection has named yet (after a connect or reconnect, updates can arrive before the
  env's windows do): the frame is fine, its source unknown, so they are not in `ids`

A patched server's `resumed` (no window content) gives its `seq` / `epoch`, `replay_from`
(its `from`) and `mode`: a `replay` of the broadcasts after `replay_from` up to `seq` follows.

Only the payload is read, never replica state. Plot appends are ops such as
`add /content/data/0/x/5` (value: the seq) and `add /content/data/0/y/5` (value: the
send time in ms); the trace index names its source through the last snapshot of that
window seen on this connection (only the names are kept; an op that adds a whole trace
names it itself). Text appends replace
`/content` with the whole text: parsed incrementally, only what was appended since
the last text of that window on this connection. Pure and cheap: no I/O, no copies
of windows, never raises. One reader per subscriber connection (`reset()` for a new
one); not thread-safe (one reader thread per connection uses it).
"""

from __future__ import annotations

import json
import math
from bisect import bisect_right
from typing import Any

from visdom_chaos.ids import TOKEN_RE, ns_from_ms

SNAPSHOT_COMMANDS = frozenset({"window", "pane"})

Runs = list[list[int]]  # sorted half-open [start, end) runs


def _number(v: Any) -> bool:
    return (type(v) is int or type(v) is float) and v == v and v not in (math.inf, -math.inf)


def _add(runs: Runs, seq: int) -> None:
    """Add seq to sorted half-open runs, in place (the common case: extends the last run)."""
    if runs:
        last = runs[-1]
        if seq == last[1]:
            last[1] = seq + 1
            return
        if seq > last[1]:
            runs.append([seq, seq + 1])
            return
    else:
        runs.append([seq, seq + 1])
        return
    i = bisect_right(runs, seq, key=lambda r: r[0]) - 1
    if i >= 0 and seq < runs[i][1]:
        return  # already in
    left = i >= 0 and runs[i][1] == seq
    right = i + 1 < len(runs) and runs[i + 1][0] == seq + 1
    if left and right:
        runs[i][1] = runs[i + 1][1]
        del runs[i + 1]
    elif left:
        runs[i][1] = seq + 1
    elif right:
        runs[i + 1][0] = seq
    else:
        runs.insert(i + 1, [seq, seq + 1])


class _Ids:
    """Ids of one payload being read: runs and heads per source, and unreadable ones."""

    __slots__ = ("runs", "heads", "bad", "unnamed")

    def __init__(self) -> None:
        self.runs: dict[str, Runs] = {}
        self.heads: dict[str, list[int]] = {}
        self.bad = 0
        self.unnamed = 0

    def add(self, src: str, seq: int, send_ns: int) -> None:
        runs = self.runs.get(src)
        if runs is None:
            self.runs[src] = [[seq, seq + 1]]
            self.heads[src] = [seq, send_ns]
            return
        _add(runs, seq)
        head = self.heads[src]
        if seq > head[0]:
            head[0], head[1] = seq, send_ns
        elif seq == head[0] and send_ns and not head[1]:
            head[1] = send_ns

    def point(self, src: str, x: Any, y: Any) -> None:
        if not _number(x):
            self.bad += 1
            return
        self.add(src, int(x), ns_from_ms(y) if _number(y) else 0)

    def trace(self, trace: dict[str, Any], name: str | None = None) -> None:
        """Every point of a whole trace (a snapshot's, or one an op adds whole)."""
        src = trace.get("name") if name is None else name
        xs = trace.get("x")
        if not isinstance(xs, list) or not xs:
            return
        if src is None:
            return  # no name: not a toolkit trace (a user's bar or unnamed plot), no ids in it
        if not isinstance(src, str):
            self.bad += len(xs)
            return
        ys = trace.get("y")
        ys = ys if isinstance(ys, list) else []
        n = len(ys)
        for k, x in enumerate(xs):
            self.point(src, x, ys[k] if k < n else None)

    def merge_text(self, text: _Text) -> None:
        for src, runs in text.runs.items():
            mine = self.runs.get(src)
            if mine is None:
                self.runs[src] = [list(r) for r in runs]
                self.heads[src] = list(text.heads[src])
                continue
            for s, e in runs:
                for seq in range(s, e):
                    _add(mine, seq)
            head, other = self.heads[src], text.heads[src]
            if other[0] > head[0]:
                head[0], head[1] = other

    def fields(self, out: dict[str, Any]) -> dict[str, Any]:
        out["heads"] = self.heads
        out["ids"] = self.runs
        if self.bad:
            out["undecodable"] = True
            out["bad_ids"] = self.bad
        if self.unnamed:
            out["unnamed_ids"] = self.unnamed
        return out


class _Text:
    """The last whole text of one window on this connection and the ids parsed from it."""

    __slots__ = ("text", "runs", "heads")

    def __init__(self) -> None:
        self.text = ""
        self.runs: dict[str, Runs] = {}
        self.heads: dict[str, list[int]] = {}

    def parse(self, text: str, start: int) -> None:
        runs, heads = self.runs, self.heads
        for m in TOKEN_RE.finditer(text, start):
            src, seq, ns = m.group(1), int(m.group(2)), int(m.group(3))
            r = runs.get(src)
            if r is None:
                runs[src] = [[seq, seq + 1]]
                heads[src] = [seq, ns]
                continue
            _add(r, seq)
            if seq > heads[src][0]:
                heads[src] = [seq, ns]
        self.text = text


class WireReader:
    """Wire ids of every frame of one subscriber connection (see the module docstring)."""

    __slots__ = ("_names", "_texts")

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """A new connection: nothing known about its windows yet."""
        self._names: dict[str, list[str | None]] = {}  # win -> source name per trace index
        self._texts: dict[str, _Text] = {}  # win -> its last whole text

    def read(self, msg: Any) -> dict[str, Any]:
        """The wire fields of one decoded message; `{}` for messages without window content."""
        if isinstance(msg, str | bytes | bytearray):  # a raw frame: decode it here
            try:
                msg = json.loads(msg)
            except (ValueError, TypeError):
                return {"undecodable": True}
        if not isinstance(msg, dict):
            return {"undecodable": True}
        try:
            command = msg.get("command")
            if command in SNAPSHOT_COMMANDS:
                return self._snapshot(msg)
            if command == "window_update":
                return self._update(msg)
            if command == "text_append":
                return self._text_append(msg)
            if (
                command == "resumed"
            ):  # a patched server's answer to a resume: a replay of (from, seq]
                out: dict[str, Any] = {}
                _stamps(out, msg, None)
                if type(msg.get("from")) is int:
                    out["replay_from"] = msg["from"]
                if isinstance(msg.get("mode"), str):
                    out["mode"] = msg["mode"]
                return out
        except (
            TypeError,
            ValueError,
            AttributeError,
            KeyError,
            IndexError,
            RecursionError,
            OverflowError,
        ):
            return {
                "kind": "update"
                if msg.get("command") in ("window_update", "text_append")
                else "snapshot",
                "undecodable": True,
            }
        return {}

    # -- a whole window -------------------------------------------------------------
    def _snapshot(self, msg: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": "snapshot"}
        _stamps(out, msg, None)
        win = msg.get("id")
        if not isinstance(win, str):
            out["undecodable"] = True
            return out
        ids = _Ids()
        content = msg.get("content")
        typ = msg.get("type")
        if typ == "text" or (typ == "image" and isinstance(content, dict)):
            self._names.pop(win, None)
            text = content if typ == "text" else content.get("caption")  # type: ignore[union-attr]
            if isinstance(text, str):
                ids.merge_text(self._text(win, text))
            elif typ == "text":
                ids.bad += 1
        elif isinstance(content, dict) and isinstance(content.get("data"), list):
            self._texts.pop(win, None)
            names: list[str | None] = []
            for trace in content["data"]:
                if isinstance(trace, dict):
                    name = trace.get("name")
                    names.append(name if isinstance(name, str) else None)
                    ids.trace(trace)
                else:
                    names.append(None)
            self._names[win] = names
        else:  # a window kind that carries no ids (or a malformed one): nothing to read
            self._names.pop(win, None)
            self._texts.pop(win, None)
        return ids.fields(out)

    def _text(self, win: str, text: str) -> _Text:
        st = self._texts.get(win)
        if st is not None:
            old = st.text
            n = len(old)
            # the suffix must start at a "<br>" boundary, so no token straddles the cut
            if (
                len(text) >= n
                and text.startswith(old)
                and (len(text) == n or not old or text[n] == "<")
            ):
                if len(text) > n:
                    st.parse(text, n)
                return st
        st = self._texts[win] = _Text()
        st.parse(text, 0)
        return st

    # -- a patched server's text append: only the appended text -------------------
    def _text_append(self, msg: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": "update"}
        _stamps(out, msg, None)
        win, data = msg.get("win"), msg.get("data")
        if not isinstance(win, str) or not isinstance(data, str):
            out["undecodable"] = True
            return out
        # the whole text is no longer on this connection: the next one parses afresh
        self._texts.pop(win, None)
        appended = _Text()
        appended.parse(data, 0)
        ids = _Ids()
        ids.merge_text(appended)
        return ids.fields(out)

    # -- a JSON patch ---------------------------------------------------------------
    def _update(self, msg: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": "update"}
        win = msg.get("win")
        ops = msg.get("content")
        if not isinstance(win, str) or not isinstance(ops, list):
            _stamps(out, msg, None)
            out["undecodable"] = True
            return out
        ids = _Ids()
        names = self._names.get(win)
        points: dict[
            int, tuple[dict[Any, Any], dict[Any, Any]]
        ] = {}  # trace -> ({key: x}, {key: y})
        ops_stamps: dict[str, Any] = {}
        for op in ops:
            if not isinstance(op, dict):
                ids.bad += 1
                continue
            path = op.get("path")
            verb = op.get("op")
            if not isinstance(path, str):
                ids.bad += 1
                continue
            if verb != "add" and verb != "replace":
                continue  # remove / move / copy / test carry no new ids
            value = op.get("value")
            if path.startswith("/content/data/"):
                self._data_op(win, path, value, ids, points)
            elif path == "/content":
                if isinstance(value, str):
                    ids.merge_text(self._text(win, value))
                elif isinstance(value, dict):
                    if isinstance(value.get("data"), list):
                        self._traces(win, value["data"], ids)
                    elif isinstance(value.get("caption"), str):
                        ids.merge_text(self._text(win, value["caption"]))
            elif path == "/content/data" and isinstance(value, list):
                self._traces(win, value, ids)
            elif path == "/content/caption" and isinstance(value, str):
                ids.merge_text(self._text(win, value))
            elif path in ("/seq", "/epoch", "/version"):
                ops_stamps[path[1:]] = value
        if points:
            names = self._names.get(win)
            for i, (xs, ys) in points.items():
                src = names[i] if names is not None and i < len(names) else None
                if (
                    src is None
                ):  # a trace this connection has no snapshot of (yet): readable, not nameable
                    ids.unnamed += len(xs)
                    continue
                for key, x in xs.items():
                    ids.point(src, x, ys.get(key))
        _stamps(out, msg, ops_stamps)
        return ids.fields(out)

    def _traces(self, win: str, traces: list[Any], ids: _Ids) -> None:
        names: list[str | None] = []
        for trace in traces:
            name = trace.get("name") if isinstance(trace, dict) else None
            names.append(name if isinstance(name, str) else None)
            if isinstance(trace, dict):
                ids.trace(trace)
        self._names[win] = names

    def _data_op(
        self,
        win: str,
        path: str,
        value: Any,
        ids: _Ids,
        points: dict[int, tuple[dict[Any, Any], dict[Any, Any]]],
    ) -> None:
        parts = path.split("/")  # ['', 'content', 'data', i, field?, k?]
        index = parts[3]
        if not index.isdigit():
            if index == "-" and len(parts) == 4 and isinstance(value, dict):  # a trace appended
                names = self._names.setdefault(win, [])
                name = value.get("name")
                names.append(name if isinstance(name, str) else None)
                ids.trace(value)
            return
        i = int(index)
        if len(parts) == 4:  # a whole trace: names its index itself
            if isinstance(value, dict):
                names = self._names.setdefault(win, [])
                name = value.get("name")
                while len(names) <= i:
                    names.append(None)
                names[i] = name if isinstance(name, str) else names[i]
                ids.trace(value, names[i] if not isinstance(name, str) else None)
            return
        field = parts[4]
        if field == "name" and len(parts) == 5:
            if isinstance(value, str):
                names = self._names.setdefault(win, [])
                while len(names) <= i:
                    names.append(None)
                names[i] = value
            return
        if field != "x" and field != "y":
            return
        slot = points.get(i)
        if slot is None:
            slot = points[i] = ({}, {})
        which = slot[0] if field == "x" else slot[1]
        if len(parts) == 5:  # the whole array
            if isinstance(value, list):
                for k, v in enumerate(value):
                    which[("all", k)] = v
            return
        key: str | tuple[str, int] = parts[5]  # an index, or ("-", n) for the n-th append
        if key == "-":  # appended: pair the n-th x with the n-th y
            key = ("-", sum(1 for k in which if isinstance(k, tuple) and k[0] == "-"))
        which[key] = value


def _stamps(out: dict[str, Any], msg: dict[str, Any], ops: dict[str, Any] | None) -> None:
    """version (0.3.0) and a patched server's seq / epoch: the message's own, else its ops'."""
    for key in ("version", "seq"):
        v = msg.get(key)
        if (type(v) is not int) and ops is not None:
            v = ops.get(key)
        if type(v) is int:
            out[key] = v
    epoch = msg.get("epoch")
    if not isinstance(epoch, str) and ops is not None:
        epoch = ops.get("epoch")
    if isinstance(epoch, str):
        out["epoch"] = epoch


__all__ = ["WireReader"]
