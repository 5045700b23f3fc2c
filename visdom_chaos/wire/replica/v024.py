"""Visdom 0.2.4's browser tab (static/js/main.js.map: main.js, Legacy.js).

State mirrored from `App.state`: `panes` (rendered windows), `consistent_pane_copy`
(the copy patches are checked against), `_pendingPanes` + `_timeoutID` (the 100 ms
batch), `sessionID`, `readonly`, `envIDs`.

Message handling (main.js `_handleMessage`):
- register: store sid/readonly; componentDidUpdate posts for the env on the first
  register of the page (`_firstLoad`), then the setState callback posts again
                                          -> RequestEnv("initial") twice, once on later ones
- window/pane: in compare mode without has_compare -> postForEnv    -> RequestEnv("compare")
  else addPaneBatched(cmd): the whole message object becomes the pane after 100 ms
- window_update: compare rule as above; else setTimeout(_checkWindow, 0, cmd, 3):
  if win is in consistent_pane_copy: applyPatch onto it *in place* (fast-json-patch
  mutates), md5(json-stable-stringify) vs cmd.finalHash; equal -> keep it, applyPatch
  onto panes[win] (in place) and addPaneBatched it; different -> postForEnv
  (-> ProtocolError hash_mismatch + RequestEnv hash_mismatch; the copy stays corrupted
  until a full window replaces it). If win is unknown, retry after 100 ms, 3 tries in all,
  then postForEnv (-> RequestEnv missing_window).
  A patch that throws is an uncaught exception in a timer: nothing else happens, no
  re-request (-> ProtocolError patch_conflict only); ops before the throw stay applied.
- reload: layouts into localStorage; layout: relayout (renumbers the rendered panes' `i`,
  see `_relayout`); env_update/layout_update: lists only.
- close: closePane unless readonly: drops pane and copy, echoes {cmd: close} on the socket.
- anything else: console.error -> ProtocolError unknown_command.
- JSON.parse failing (NaN from Python's json.dumps, garbage) -> ProtocolError undecodable.

Checked step by step against the shipped main.js itself (its App methods evaluated under
node with the real libraries: tests/test_replica_oracle.py): env posts, socket sends,
throws, panes, consistent_pane_copy, grid layout and localStorage after every message;
and against real Chromium on the real UI (tests/test_replica_browser.py).

Consequences on stock 0.2.4 (tests show each): an update racing a new window's 100 ms
batch retries 100 ms later and can be overtaken by a later update: line patches then fail
the hash (env reload), text patches silently step the view back and can leave it stale;
after any close, relayout renumbers `i` and the next-but-one patch of a later window fails
the hash once; non-ASCII text or floats below 1e-6 make every patch fail the hash (the
server hashes Python's json.dumps, the browser V8's JSON.stringify).

Transport: WebSocket, or Legacy.js Poller (POST /socket_wrap every 500 ms, messages
handled in the order the server lists them). The tab never reconnects by itself:
socket.onclose only sets `connected: false`; the user must click the connection
indicator (toggleOnlineState -> connect), and the next `register` re-requests the env.
"""

from __future__ import annotations

import math
from functools import cmp_to_key
from typing import Any

from visdom_chaos.ids import heads_of

from . import grid
from .base import Replica
from .effects import Accepted, Effect, ProtocolError, Registered, RequestEnv, SendSocket
from .jspatch import JSPatchError, apply_patch
from .jsvalue import UNDEFINED, js_json_clone, js_to_string, js_truthy
from .plot_render import RenderError, render_plot
from .stablejson import HashError, browser_md5

# settings.js PANE_SIZE: default grid size of a new pane (processPane throws for other types)
PANE_SIZE = {
    "image": (20, 20),
    "image_history": (20, 20),
    "plot": (30, 24),
    "text": (20, 20),
    "embeddings": (20, 20),
    "properties": (20, 20),
    "network": (20, 20),
}
BATCH_DELAY_S = 0.1  # addPaneBatched setTimeout(processBatchedPanes, 100)
CHECK_RETRY_S = 0.1  # _checkWindow setTimeout(..., 100, cmd, numTries)
CHECK_TRIES = 3


class ReplicaV024(Replica):
    version = "0.2.4"
    # Renders write Plotly's and PlotPane's changes back into plot panes (plot_render.py).
    # Off only to compare the App's own logic with the shipped main.js run under node,
    # which has no Plotly (tests/test_replica_oracle.py).
    render_writeback = True
    # patches/0.2.4/0011 (visdom-hashcopy.js): a batch that processes the rendered pane
    # itself (an update _checkWindow applied in place) keeps the copy _checkWindow stored
    keep_checked_copy = False

    def reset(self) -> None:
        storage = getattr(self, "_storage", {})  # localStorage outlives a page refresh
        super().reset()
        self.consistent: dict[str, Any] = {}
        self._pending: list[Any] = []
        self._timeout_id = False
        self._layout: list[Any] = []  # state.layout: grid items {i, w, h, x, y, ...}
        self._bin: grid.ShelfFirst | None = None  # App._bin
        self._storage: dict[str, Any] = storage  # localStorage: stored pane layouts
        self._first_load = True  # App._firstLoad (componentDidUpdate's one-off env post)
        # win -> ((contentID, w, h), content object) of each plot pane's last render:
        # React.memo's props check and usePrevious in PlotPane
        self._plots: dict[str, tuple[tuple[str, Any, Any], Any]] = {}
        # Hints for protocol errors (ProtocolError.hint), bookkeeping only: what the
        # consistent copy of a window was last copied from (`render_writeback`: a pane
        # render_plot had written into; `relayout`: a pane relayout renumbered), cleared when
        # a fresh window replaces the copy; panes whose `i` relayout changed; and each
        # window_update's arrival index per window, to see checks out of arrival order.
        self._taint: dict[str, str] = {}
        self._relaid: dict[str, Any] = {}  # win -> the pane object whose i relayout changed
        self._arrived: dict[str, int] = {}  # win -> window_updates dispatched so far
        self._checked: dict[str, int] = {}  # win -> highest arrival index checked on the copy
        self._waiting: dict[str, set[int]] = {}  # win -> arrival indices waiting for a retry

    # mirrors main.js _handleMessage
    def _dispatch(self, cmd: Any) -> list[Effect]:
        command = cmd.get("command", UNDEFINED) if isinstance(cmd, dict) else UNDEFINED
        compare = len(self.env_ids) > 1 and (
            not isinstance(cmd, dict) or cmd.get("has_compare") is not True
        )
        if command == "register":
            self.sid = cmd.get("data")
            self.readonly = js_truthy(cmd.get("readonly", UNDEFINED))
            effects: list[Effect] = [Registered(str(self.sid), self.readonly)]
            # setState commits, then componentDidUpdate: on the first load with a session it
            # posts for the env (`_firstLoad`), then the setState callback posts again
            if self._first_load and js_truthy(self.sid):
                self._first_load = False
                if not self.env_ids:
                    self.env_ids = ["main"]
                effects.append(RequestEnv("initial", list(self.env_ids)))
            effects.append(RequestEnv("initial", list(self.env_ids)))
            return effects + self._render_plots()  # setState: an App render
        if command in ("pane", "window"):
            if compare:
                return [RequestEnv("compare", list(self.env_ids), trigger_win=_win_of(cmd))]
            self.accepted.append(
                Accepted(self.env_label, js_to_string(cmd.get("id", UNDEFINED)), heads_of(cmd))
            )
            return self._add_pane_batched(cmd)
        if command == "window_update":
            if compare:
                return [RequestEnv("compare", list(self.env_ids), trigger_win=_win_of(cmd))]
            win = js_to_string(cmd.get("win", UNDEFINED))
            arrival = self._arrived[win] = self._arrived.get(win, 0) + 1
            self._set_timeout(0.0, self._check_window, cmd, CHECK_TRIES, arrival)
            return []
        if command == "reload":
            data = cmd.get("data")
            if isinstance(data, dict):  # localStorage.setItem(keyLS(it), JSON.stringify(...))
                for key, value in data.items():
                    self._storage[self._key_ls(key)] = js_json_clone(value)
            return []
        if command == "close":
            return self._close_pane(cmd.get("data"))
        if command == "layout":
            # only the panes' `i` changes: no view change; its setState renders the grid
            return self._relayout_effects(None) + self._render_plots()
        if command in ("env_update", "layout_update"):
            return []  # env and layout lists only
        return [
            ProtocolError(
                "unknown_command", _win_of(cmd), f"unrecognized command {js_to_string(command)!r}"
            )
        ]

    # mirrors main.js _checkWindow
    def _check_window(self, cmd: dict[str, Any], num_tries: int, arrival: int = 0) -> list[Effect]:
        win = js_to_string(cmd.get("win", UNDEFINED))
        waiting = self._waiting.get(win)
        if waiting:
            waiting.discard(arrival)
        if win in self.consistent:
            hint = self._hint(win, arrival)
            content = cmd.get("content", UNDEFINED)
            try:
                final = apply_patch(self.consistent[win], content)
            except JSPatchError as exc:
                return [ProtocolError("patch_conflict", win, str(exc)[:200], hint=hint)]
            try:
                hashed = browser_md5(final)
            except HashError as exc:
                return [ProtocolError("patch_conflict", win, f"md5: {exc}", hint=hint)]
            if hashed == cmd.get("finalHash"):
                self.consistent[win] = final
                self.accepted.append(Accepted(self.env_label, win, heads_of(final)))
                try:
                    modified = apply_patch(self.panes.get(win, UNDEFINED), content)
                except JSPatchError as exc:
                    self._touch(win, "window_update")  # in-place ops before the throw stay
                    return [
                        ProtocolError("patch_conflict", win, "panes: " + str(exc)[:200], hint=hint)
                    ]
                return self._add_pane_batched(modified, command="window_update")
            return [
                ProtocolError(
                    "hash_mismatch",
                    win,
                    f"finalHash {cmd.get('finalHash')} != {hashed}",
                    hint=hint,
                ),
                RequestEnv("hash_mismatch", list(self.env_ids), trigger_win=win),
            ]
        num_tries -= 1
        if num_tries:
            if arrival:
                self._waiting.setdefault(win, set()).add(arrival)
            self._set_timeout(CHECK_RETRY_S, self._check_window, cmd, num_tries, arrival)
            return []
        return [RequestEnv("missing_window", list(self.env_ids), trigger_win=win)]

    def _hint(self, win: str, arrival: int) -> str | None:
        """The mechanism behind a failure of this check, as far as the model saw one (bookkeeping
        for ProtocolError.hint; the check itself does not depend on it). Called once per check
        that reaches the copy, before it is patched."""
        checked = self._checked.get(win, 0)
        raced = (
            bool(arrival)
            and (arrival < checked or any(a < arrival for a in self._waiting.get(win, ())))
            or any(  # a newer full window of it still waits in the batch: the copy lags behind
                c == "window"
                and isinstance(p, dict)
                and js_to_string(p.get("id", UNDEFINED)) == win
                for p, c in self._pending
            )
        )
        if arrival > checked:
            self._checked[win] = arrival
        # a tainted copy fails whatever else happens: the write-back is the mechanism; a clean
        # copy checked out of order, or lagging behind a pending window, is the race
        return self._taint.get(win) or ("render_batch_race" if raced else None)

    def _copy_into_consistent(self, pid: str, pane: Any) -> None:
        """consistent_pane_copy[pid] = a deep copy of pane, remembering what it was copied from."""
        self.consistent[pid] = js_json_clone(pane)
        content = pane.get("content") if isinstance(pane, dict) else None
        if self._relaid.get(pid) is pane:
            self._taint[pid] = "relayout"
        elif (
            content is not None
            and (plot := self._plots.get(pid)) is not None
            and plot[1] is content
        ):
            self._taint[pid] = "render_writeback"
        else:
            self._taint.pop(pid, None)  # a fresh window: a clean copy

    # mirrors main.js addPaneBatched
    def _add_pane_batched(self, pane: Any, command: str = "window") -> list[Effect]:
        if not self._timeout_id:
            self._timeout_id = True
            self._set_timeout(BATCH_DELAY_S, self._process_batched_panes)
        self._pending.append((pane, command))
        return []

    # mirrors main.js processBatchedPanes / processPane
    def _process_batched_panes(self) -> list[Effect]:
        new_panes = dict(self.panes)
        new_layout = list(self._layout)
        for pane, command in self._pending:
            try:
                self._process_pane(pane, new_panes, new_layout)
            except (TypeError, IndexError) as exc:
                # Uncaught in the timer: _pendingPanes and _timeoutID are never reset, so
                # addPaneBatched never schedules again and this tab stops showing updates.
                self.stuck = True
                detail = f"processPane threw: {exc}; tab stops updating"
                return [ProtocolError("render_error", _win_of(pane), detail)]
            self._touch(js_to_string(pane.get("id", UNDEFINED)), command)
        self._pending = []
        self._timeout_id = False
        self.panes = new_panes
        self._layout = new_layout
        return self._render_plots() + self._render()

    # mirrors a React render of the grid: PlotPane is memoised on contentID and its grid
    # size, and its effect (plus Plotly.newPlot) changes the content object in place.
    # Any App setState renders; panes patched in place since the last render show their
    # new contentID then, not only at the batch.
    def _render_plots(self) -> list[Effect]:
        if not self.render_writeback:
            return []
        effects: list[Effect] = []
        sizes = {
            js_to_string(it.get("i", UNDEFINED)): (it.get("w"), it.get("h"))
            for it in self._layout
            if isinstance(it, dict)
        }
        for win in [w for w in self._plots if w not in self.panes]:
            del self._plots[win]  # unmounted: a later pane of that id starts afresh
        for win, pane in self.panes.items():
            if not isinstance(pane, dict) or pane.get("type") != "plot":
                continue
            key = (js_to_string(pane.get("contentID", UNDEFINED)), *sizes.get(win, (None, None)))
            last = self._plots.get(win)
            if last is not None and last[0] == key:
                continue  # React.memo: same props, no render, no effect
            content = pane.get("content")
            try:
                render_plot(content, last[1] if last is not None else None)
            except RenderError as exc:
                effects.append(ProtocolError("render_error", win, f"PlotPane effect threw: {exc}"))
            self._plots[win] = (key, content)
        return effects

    def _process_pane(self, pane: Any, new_panes: dict[str, Any], new_layout: list[Any]) -> None:
        if not isinstance(pane, dict):
            raise TypeError(f"pane is {js_to_string(pane)}")
        raw_id = pane.get("id", UNDEFINED)
        pid = js_to_string(raw_id)
        exists = pid in new_panes
        new_panes[pid] = pane
        width, height, content = pane.get("width"), pane.get("height"), pane.get("content")
        caption = isinstance(content, dict) and js_truthy(content.get("caption"))
        if not exists:
            # a deep copy via JSON.parse(JSON.stringify(newPane))
            self._copy_into_consistent(pid, pane)
            stored = self._storage.get(self._key_ls(pid))
            if self._bin is None:
                self._rebin()
            assert self._bin is not None
            if js_truthy(stored):
                item = stored if isinstance(stored, dict) else {}
                self._bin.content.append(item)
            else:
                kind = pane.get("type")
                size = PANE_SIZE.get(kind) if isinstance(kind, str) else None
                if size is None:
                    raise TypeError(f"PANE_SIZE[{js_to_string(kind)}] is undefined")
                w: float  # grid units: a width from pixels is fractional
                w, h = size
                if js_truthy(width):
                    w = grid.p2w(grid._num(width))
                if js_truthy(height):
                    h = math.ceil(grid.p2h(grid._num(height) + 14))
                if caption:
                    h += 1
                self._bin.content.append({"width": w, "height": h})
                pos = self._bin.position(len(new_layout), grid.COLS)
                item = {
                    "i": raw_id,
                    "w": w,
                    "h": h,
                    "width": w,
                    "height": h,
                    **pos,
                    "static": False,
                }
            new_layout.append(item)
        else:
            current = next(
                (it for it in new_layout if isinstance(it, dict) and it.get("i") == raw_id), None
            )
            if (js_truthy(width) or js_truthy(height) or caption) and current is None:
                raise TypeError("Cannot set properties of undefined (getLayoutItem)")
            if current is not None:
                if js_truthy(width):
                    current["w"] = grid.p2w(grid._num(width))
                if js_truthy(height):
                    current["h"] = math.ceil(grid.p2h(grid._num(height) + 14))
                if caption:
                    current["h"] = grid._num(current.get("h")) + 1
            patched_in_place = self.keep_checked_copy and self.panes.get(pid) is pane
            if not (patched_in_place and pid in self.consistent):
                self._copy_into_consistent(pid, pane)

    def _key_ls(self, pid: str) -> str:
        # main.js keyLS: state.envID + '_' + key (envID is null in compare mode)
        env = self.env_ids[0] if len(self.env_ids) == 1 else "null"
        return f"{env}_{pid}"

    # mirrors main.js rebin (DEFAULT_LAYOUT view): a new bin over the layout's sizes
    def _rebin(self) -> list[Any]:
        contents = [
            {"width": it.get("w", UNDEFINED), "height": it.get("h", UNDEFINED)}
            if isinstance(it, dict)
            else {}
            for it in self._layout
        ]
        self._bin = grid.ShelfFirst(contents, grid.COLS)
        return self._layout

    # mirrors main.js relayout (+ updateLayout): sort the layout by grid row/column,
    # re-pack it with the bin built from the *unsorted* sizes, and write each pane's
    # index into the pane itself (`newPanes[paneLayout.i].i = idx`). `i` is part of the
    # window JSON 0.2.4 hashes, but only the rendered pane changes, not the consistent
    # copy: the next accepted patch copies the renumbered pane into the copy, and the
    # patch after it fails the hash whenever the grid order differs from the server's i.
    def _relayout(self) -> None:
        layout = self._rebin()
        assert self._bin is not None
        ordered = sorted(layout, key=cmp_to_key(grid.row_col_key))
        if len(ordered) > 1:
            for it in ordered:  # the filter comparator reads every pane's title
                pane = self.panes.get(js_to_string(it.get("i", UNDEFINED)))
                if not isinstance(pane, dict) or not isinstance(pane.get("title"), str):
                    raise TypeError("Cannot read properties of undefined (reading 'match')")
        new_layout = []
        for idx, it in enumerate(ordered):
            pos = self._bin.position(idx, grid.COLS)
            pid = js_to_string(it.get("i", UNDEFINED))
            pane = self.panes.get(pid)
            if not isinstance(pane, dict):
                raise TypeError("Cannot set properties of undefined (setting 'i')")
            if pane.get("i", UNDEFINED) != idx:
                self._relaid[pid] = pane  # hint bookkeeping: this pane's copy would differ
            pane["i"] = idx
            new_layout.append({**it, **pos})
        self._layout = new_layout
        for it in new_layout:  # updateLayout's setState callback -> localStorage
            self._storage[self._key_ls(js_to_string(it.get("i", UNDEFINED)))] = js_json_clone(it)

    def _relayout_effects(self, win: str | None) -> list[Effect]:
        try:
            self._relayout()
        except (TypeError, IndexError) as exc:
            return [ProtocolError("render_error", win, f"relayout threw: {exc}")]
        return []

    # mirrors main.js closePane(paneID) as called for a server 'close'
    def _close_pane(self, pane_id: Any) -> list[Effect]:
        if self.readonly:
            return []
        pid = js_to_string(pane_id)
        # localStorage.removeItem(this.keyLS(this.id)): `this.id` is undefined
        self._storage.pop(self._key_ls("undefined"), None)
        eid = self.env_ids[0] if len(self.env_ids) == 1 else None
        effects: list[Effect] = [SendSocket({"cmd": "close", "data": pane_id, "eid": eid})]
        self.panes = {k: v for k, v in self.panes.items() if k != pid}
        self.consistent = {k: v for k, v in self.consistent.items() if k != pid}
        self._taint.pop(pid, None)
        self._relaid.pop(pid, None)
        self._layout = [
            it for it in self._layout if not (isinstance(it, dict) and it.get("i") == pane_id)
        ]
        effects += self._relayout_effects(pid)  # setState callback
        return effects + self._render_plots() + self._render()


def _win_of(cmd: Any) -> str | None:
    if isinstance(cmd, dict):
        win = cmd.get("win", cmd.get("id"))
        return win if isinstance(win, str) else None
    return None
