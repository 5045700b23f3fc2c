"""Shared machinery of the browser replicas: decoding, timers, renders, view diffs.

A replica is I/O-free. The subscriber feeds it every server message with `handle`
and calls `tick` for the browser's timers (`next_timer()` says when the next one is
due: call `tick` then, or at least every 50 ms). Time is the subscriber's clock in
seconds; nothing here reads the real clock.

Views are what the tab has *rendered*: both versions collect panes in a 100 ms
batch (main.js addPaneBatched / processBatchedPanes) and only the batch's setState
shows them, so `Applied` effects come out of the batch timer, not of `handle`.
"""

from __future__ import annotations

import heapq
import itertools
from collections import Counter
from collections.abc import Callable
from itertools import compress, filterfalse
from operator import itemgetter, not_
from typing import Any

from visdom_chaos.ids import EventId, ids_in_window

from .effects import Accepted, Applied, Effect, ProtocolError, RequestEnv, WindowClosed
from .jsvalue import JSParseError, js_json_parse

MAX_TIMERS_PER_RUN = 100_000  # bound on timers fired by one handle/tick


class Replica:
    """One browser tab of one Visdom version (subclasses: ReplicaV024, ReplicaV030)."""

    version = ""
    accepted: list[Accepted]  # updates taken into state since the last drain (set by reset)

    def __init__(
        self, env_ids: list[str] | tuple[str, ...] = ("main",), transport: str = "websocket"
    ) -> None:
        if transport not in ("websocket", "polling"):
            raise ValueError(f"transport must be 'websocket' or 'polling', not {transport!r}")
        self.transport = transport
        self._initial_env_ids = list(env_ids) or ["main"]
        self.reset()

    # ----- public API -----

    def drain_accepted(self) -> list[Accepted]:
        out, self.accepted = self.accepted, []
        return out

    def reset(self) -> None:
        """A page refresh: a new, empty tab.

        What a real browser keeps in localStorage survives, as it does across a refresh:
        the selected envs (`envIDs`) and, in 0.2.4, the stored pane layouts. A fresh
        browser profile is a new `make_replica(...)`.
        """
        self.env_ids: list[str] = list(getattr(self, "env_ids", self._initial_env_ids))
        self.sid: str | None = None
        self.readonly = False
        self.panes: dict[str, Any] = {}  # win -> window JSON as the browser's state holds it
        self._shown: dict[str, list[EventId]] = {}  # win -> ids at the last render
        self._touched: dict[str, str] = {}  # win -> last command that changed it since the render
        self._timers: list[tuple[float, int, Callable[..., list[Effect]], tuple[Any, ...]]] = []
        self._timer_seq = itertools.count()
        self.accepted = []
        self._now = 0.0
        self.stuck = False  # a batch threw: the tab never processes panes again (see _batch_threw)

    def handle(self, raw: str | bytes | dict[str, Any], now: float) -> list[Effect]:
        """Apply one server message (a WebSocket frame, or one polling message)."""
        effects = self.tick(now)
        try:
            cmd = self._decode(raw)
        except JSParseError as exc:
            effects.append(ProtocolError("undecodable", None, str(exc)[:200]))
            return effects
        if cmd is None:
            # `cmd.command` on null throws in _handleMessage: the message is lost
            effects.append(ProtocolError("undecodable", None, "message is JSON null"))
            return effects
        effects += self._dispatch(cmd)
        return effects

    def tick(self, now: float) -> list[Effect]:
        """Fire the browser timers due by `now`, in due order (FIFO for equal times)."""
        now = max(self._now, now)
        effects: list[Effect] = []
        for _ in range(MAX_TIMERS_PER_RUN):
            if not self._timers or self._timers[0][0] > now:
                break
            due, _, fn, args = heapq.heappop(self._timers)
            # the callback runs at its due time: timers it sets count from there, so a
            # late tick (or a replay that only calls handle) gives the same sequence
            self._now = max(self._now, due)
            effects += fn(*args)
        self._now = now
        return effects

    def settle(self) -> list[Effect]:
        """Fire every pending timer as if the tab were left alone (quiescence, end of run).

        Timers set by those timers fire too (bounded); read the final views after this.
        """
        effects: list[Effect] = []
        for _ in range(MAX_TIMERS_PER_RUN):
            due = self.next_timer()
            if due is None:
                break
            effects += self.tick(due)
        return effects

    def next_timer(self) -> float | None:
        """When the next browser timer is due (None: none pending)."""
        return self._timers[0][0] if self._timers else None

    def request(self, effect: RequestEnv) -> tuple[str, dict[str, Any]]:
        """(path, JSON body) of the POST the browser makes for a RequestEnv (postForEnv)."""
        return effect.path, {"sid": self.sid}

    @property
    def env_label(self) -> str:
        return self.env_ids[0] if len(self.env_ids) == 1 else "+".join(self.env_ids)

    def view(self, env: str, win: str) -> list[EventId]:
        """One window's ids in view order, as last rendered (not a copy: do not change it)."""
        return self._shown.get(win, []) if env == self.env_label else []

    def views(self) -> dict[tuple[str, str], list[EventId]]:
        """(env, win) -> ids in view order, as last rendered."""
        env = self.env_label
        return {(env, win): list(ids) for win, ids in self._shown.items()}

    def window(self, env: str, win: str) -> dict[str, Any] | None:
        """The window JSON the browser holds for `win` (None if it holds none)."""
        if env != self.env_label:
            return None
        pane = self.panes.get(win)
        return pane if isinstance(pane, dict) else None

    # ----- helpers for the version classes -----

    def decode(self, raw: str | bytes | dict[str, Any]) -> Any:
        """JSON.parse of one frame as this tab does it (JSParseError where it throws), so a
        subscriber can decode once and pass the result to `handle`.

        Only a dict gives `handle` the same effects as the frame: pass the raw frame for
        anything else (JSON null, a list, a number: `handle` reports those as the tab does
        only from the text). The replica keeps and changes the dict (it becomes the pane,
        later patches change it in place): read what you need from it before `handle`, or
        copy it.
        """
        return self._decode(raw)

    def _decode(self, raw: str | bytes | dict[str, Any]) -> Any:
        if isinstance(raw, dict):
            return raw
        if isinstance(raw, bytes | bytearray):
            try:
                raw = bytes(raw).decode("utf-8")
            except UnicodeDecodeError as exc:
                raise JSParseError(f"invalid UTF-8: {exc}") from exc
        if not isinstance(raw, str):
            raise JSParseError(f"not a text frame: {type(raw).__name__}")
        return js_json_parse(self._pre_parse(raw))

    def _pre_parse(self, text: str) -> str:
        return text

    def _dispatch(self, cmd: Any) -> list[Effect]:
        raise NotImplementedError

    def _set_timeout(self, delay_s: float, fn: Callable[..., list[Effect]], *args: Any) -> None:
        # rounded to the microsecond so 100 ms steps add up exactly (1.0 + 0.1 + 0.1 == 1.2)
        heapq.heappush(
            self._timers, (round(self._now + delay_s, 6), next(self._timer_seq), fn, args)
        )

    def _render(self) -> list[Effect]:
        """A React render: diff the touched windows' ids against what was shown before."""
        effects: list[Effect] = []
        env = self.env_label
        for win in list(self._shown):
            if win not in self.panes:
                del self._shown[win]
                self._touched.pop(win, None)
                effects.append(WindowClosed(env, win))
        for win in self.panes:
            if win not in self._shown and win not in self._touched:
                self._touched[win] = "window"  # back without a message (a stale batch closure)
        for win, command in list(self._touched.items()):
            if win not in self.panes:
                continue
            ids = ids_in_window(self.panes[win])
            before = self._shown.get(win, [])
            applied, self._shown[win] = _diff_render(env, win, command, before, ids)
            if applied is not None:
                effects.append(applied)
        self._touched.clear()
        return effects

    def _touch(self, win: Any, command: str) -> None:
        if isinstance(win, str):
            self._touched[win] = command


_KEY = itemgetter(0, 1)  # EventId -> (source, seq)
_NOT_APPEND: Any = object()


class _View(list[EventId]):
    """A rendered view (ids in view order) with the set of its keys, kept by `_render` so
    that the next render of a grown window diffs only the new ids. `keys` is None where
    the view holds a key twice; it is handed on to the next view (`_diff_render`)."""

    __slots__ = ("keys",)

    def __init__(self, ids: list[EventId], keys: set[tuple[str, int]] | None) -> None:
        super().__init__(ids)
        self.keys = keys


def _append_only(
    env: str,
    win: str,
    command: str,
    before: list[EventId],
    after: list[EventId],
    keys: set[tuple[str, int]],
) -> Applied | None:
    """What diff_views finds when `after` is `before` plus ids of new keys, none twice
    (`keys`: before's keys, none twice; the new ones are added to it); else _NOT_APPEND.

    Then nothing is removed, no key repeats, and the new ids are what was added, in
    order; no new ids is no change. The prefix is compared with C-speed list equality.
    """
    n = len(before)
    if len(after) < n or (n and after[:n] != before):
        return _NOT_APPEND
    tail = after[n:]
    tail_keys = set(map(_KEY, tail))
    if len(tail_keys) != len(tail) or not keys.isdisjoint(tail_keys):
        return _NOT_APPEND
    keys |= tail_keys
    if not tail:
        return None
    return Applied(env, win, command, tail, [], [], len(after))


def _diff(
    env: str,
    win: str,
    command: str,
    before: list[EventId],
    after: list[EventId],
    keys: set[tuple[str, int]] | None,
) -> tuple[Applied | None, set[tuple[str, int]] | None]:
    """diff_views(...) and after's key set (None: after holds a key twice).

    `keys`: before's key set where before holds no key twice (it may be reused and
    changed), else None. An appended view costs O(new ids) (_append_only); views without
    repeated keys take C-speed steps (map/compress/filterfalse over the keys); a view with
    a key twice goes to diff_views_reference.
    """
    if keys is not None:
        applied = _append_only(env, win, command, before, after, keys)
        if applied is not _NOT_APPEND:
            return applied, keys
    keys_after = list(map(_KEY, after))
    after_keys = set(keys_after)
    if len(after_keys) != len(keys_after):
        return diff_views_reference(env, win, command, before, after), None
    if keys is None:
        return diff_views_reference(env, win, command, before, after), after_keys
    # neither view holds a key twice: no dup, every id added or removed once
    keys_before = list(map(_KEY, before))
    if keys_before == keys_after:
        return None, after_keys
    added = list(compress(after, map(not_, map(keys.__contains__, keys_after))))
    removed = list(filterfalse(after_keys.__contains__, keys_before))
    return Applied(env, win, command, added, removed, [], len(after)), after_keys


def _diff_render(
    env: str, win: str, command: str, before: list[EventId], after: list[EventId]
) -> tuple[Applied | None, _View]:
    """diff_views(...) for a render, and the view to keep for the next one (with its key
    set, so that the next render of a grown window diffs only the new ids)."""
    if isinstance(before, _View):
        keys = before.keys
        before.keys = None  # the set moves on to the new view (or is dropped)
    else:
        keys = _keys_if_distinct(before)
    applied, after_keys = _diff(env, win, command, before, after, keys)
    return applied, _View(after, after_keys)


def _keys_if_distinct(ids: list[EventId]) -> set[tuple[str, int]] | None:
    keys = set(map(_KEY, ids))
    return keys if len(keys) == len(ids) else None


def diff_views(
    env: str, win: str, command: str, before: list[EventId], after: list[EventId]
) -> Applied | None:
    """An Applied effect when the view changed or holds duplicates, else None.

    Same result as diff_views_reference, in C-speed steps where no key repeats (_diff).
    """
    return _diff(env, win, command, before, after, _keys_if_distinct(before))[0]


def diff_views_reference(
    env: str, win: str, command: str, before: list[EventId], after: list[EventId]
) -> Applied | None:
    """diff_views, the exact (slow) way."""
    keys_after = [(i.source, i.seq) for i in after]
    counts = Counter(keys_after)
    dup = [k for k, n in counts.items() if n > 1]
    if [(i.source, i.seq) for i in before] == keys_after and not dup:
        return None
    before_keys = {(i.source, i.seq) for i in before}
    after_keys = set(keys_after)
    added: list[EventId] = []
    seen: set[tuple[str, int]] = set()
    for i in after:
        k = (i.source, i.seq)
        if k not in before_keys and k not in seen:
            seen.add(k)
            added.append(i)
    removed = []
    seen_removed: set[tuple[str, int]] = set()
    for i in before:
        k = (i.source, i.seq)
        if k not in after_keys and k not in seen_removed:
            seen_removed.add(k)
            removed.append(k)
    # same ids only reordered: still a change (added/removed empty)
    return Applied(env, win, command, added, removed, dup, len(after))
