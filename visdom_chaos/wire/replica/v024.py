"""Visdom 0.2.4's browser tab (static/js/main.js.map: main.js, Legacy.js).

State mirrored from `App.state`: `panes` (rendered windows), `consistent_pane_copy`
(the copy patches are checked against), `_pendingPanes` + `_timeoutID` (the 100 ms
batch), `sessionID`, `readonly`, `envIDs`.

Message handling (main.js `_handleMessage`):
- register: store sid/readonly, then postForEnv(envIDs)            -> RequestEnv("initial")
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
- reload: localStorage only; layout: relayout; env_update/layout_update: lists only.
- close: closePane unless readonly: drops pane and copy, echoes {cmd: close} on the socket.
- anything else: console.error -> ProtocolError unknown_command.
- JSON.parse failing (NaN from Python's json.dumps, garbage) -> ProtocolError undecodable.

Transport: WebSocket, or Legacy.js Poller (POST /socket_wrap every 500 ms, messages
handled in the order the server lists them). The tab never reconnects by itself:
socket.onclose only sets `connected: false`; the user must click the connection
indicator (toggleOnlineState -> connect), and the next `register` re-requests the env.
"""

from __future__ import annotations

from typing import Any

from .base import Replica
from .effects import Effect, ProtocolError, Registered, RequestEnv, SendSocket
from .jspatch import JSPatchError, apply_patch
from .jsvalue import UNDEFINED, js_json_clone, js_to_string
from .stablejson import HashError, browser_md5

# settings.js PANE_SIZE keys: processPane reads PANE_SIZE[type][0] for a new pane
PANE_TYPES = frozenset(
    {"image", "image_history", "plot", "text", "embeddings", "properties", "network"}
)
BATCH_DELAY_S = 0.1  # addPaneBatched setTimeout(processBatchedPanes, 100)
CHECK_RETRY_S = 0.1  # _checkWindow setTimeout(..., 100, cmd, numTries)
CHECK_TRIES = 3


class ReplicaV024(Replica):
    version = "0.2.4"

    def reset(self) -> None:
        super().reset()
        self.consistent: dict[str, Any] = {}
        self._pending: list[Any] = []
        self._timeout_id = False
        # localStorage layout keys: from `reload` messages and panes laid out before
        self._stored_layouts: set[str] = set()
        self._layout: list[str] = []  # state.layout: pane ids in grid order

    # mirrors main.js _handleMessage
    def _dispatch(self, cmd: Any) -> list[Effect]:
        command = cmd.get("command", UNDEFINED) if isinstance(cmd, dict) else UNDEFINED
        compare = len(self.env_ids) > 1 and (
            not isinstance(cmd, dict) or cmd.get("has_compare") is not True
        )
        if command == "register":
            self.sid = cmd.get("data")
            self.readonly = bool(cmd.get("readonly", False))
            return [
                Registered(str(self.sid), self.readonly),
                RequestEnv("initial", list(self.env_ids)),
            ]
        if command in ("pane", "window"):
            if compare:
                return [RequestEnv("compare", list(self.env_ids))]
            return self._add_pane_batched(cmd)
        if command == "window_update":
            if compare:
                return [RequestEnv("compare", list(self.env_ids))]
            self._set_timeout(0.0, self._check_window, cmd, CHECK_TRIES)
            return []
        if command == "reload":
            data = cmd.get("data")
            if isinstance(data, dict):
                self._stored_layouts.update(data)
            return []
        if command == "close":
            return self._close_pane(cmd.get("data"))
        if command == "layout":
            self._relayout()
            return []  # only the panes' `i` changes, which no view shows
        if command in ("env_update", "layout_update"):
            return []  # env and layout lists only
        return [
            ProtocolError(
                "unknown_command", _win_of(cmd), f"unrecognized command {js_to_string(command)!r}"
            )
        ]

    # mirrors main.js _checkWindow
    def _check_window(self, cmd: dict[str, Any], num_tries: int) -> list[Effect]:
        win = js_to_string(cmd.get("win", UNDEFINED))
        if win in self.consistent:
            content = cmd.get("content", UNDEFINED)
            try:
                final = apply_patch(self.consistent[win], content)
            except JSPatchError as exc:
                return [ProtocolError("patch_conflict", win, str(exc)[:200])]
            try:
                hashed = browser_md5(final)
            except HashError as exc:
                return [ProtocolError("patch_conflict", win, f"md5: {exc}")]
            if hashed == cmd.get("finalHash"):
                self.consistent[win] = final
                try:
                    modified = apply_patch(self.panes.get(win, UNDEFINED), content)
                except JSPatchError as exc:
                    self._touch(win, "window_update")  # in-place ops before the throw stay
                    return [ProtocolError("patch_conflict", win, "panes: " + str(exc)[:200])]
                return self._add_pane_batched(modified, command="window_update")
            return [
                ProtocolError(
                    "hash_mismatch",
                    win,
                    f"finalHash {cmd.get('finalHash')} != {hashed}",
                ),
                RequestEnv("hash_mismatch", list(self.env_ids)),
            ]
        num_tries -= 1
        if num_tries:
            self._set_timeout(CHECK_RETRY_S, self._check_window, cmd, num_tries)
            return []
        return [RequestEnv("missing_window", list(self.env_ids))]

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
            except (TypeError, KeyError) as exc:
                # Uncaught in the timer: _pendingPanes and _timeoutID are never reset, so
                # addPaneBatched never schedules again and this tab stops showing updates.
                self.stuck = True
                return [
                    ProtocolError(
                        "render_error",
                        _win_of(pane),
                        f"processPane threw: {exc}; tab stops updating",
                    )
                ]
            self._touch(js_to_string(pane.get("id", UNDEFINED)), command)
        self._pending = []
        self._timeout_id = False
        self.panes = new_panes
        self._layout = new_layout
        return self._render()

    def _process_pane(self, pane: Any, new_panes: dict[str, Any], new_layout: list[str]) -> None:
        if not isinstance(pane, dict):
            raise TypeError(f"pane is {js_to_string(pane)}")
        pid = js_to_string(pane.get("id", UNDEFINED))
        exists = pid in new_panes
        new_panes[pid] = pane
        # a deep copy via JSON.parse(JSON.stringify(newPane)), new or existing
        self.consistent[pid] = js_json_clone(pane)
        if not exists:
            if pid not in self._stored_layouts and pane.get("type") not in PANE_TYPES:
                raise TypeError(f"PANE_SIZE[{pane.get('type')!r}] is undefined")
            self._stored_layouts.add(pid)  # updateLayout stores every pane's layout afterwards
            new_layout.append(pid)

    # mirrors main.js relayout: `newPanes[paneLayout.i].i = idx` over the layout sorted by
    # grid position. It rewrites each rendered pane's `i` in place (not the consistent copy),
    # and the next accepted patch copies that pane into consistent_pane_copy, so whenever
    # the layout order differs from the server's `i` (after any close) the hash of every
    # other update to that window fails. Grid order is modelled as insertion order (what
    # Bin.ShelfFirst gives default-sized panes); stored layouts and filters are not modelled.
    def _relayout(self) -> None:
        for idx, pid in enumerate(self._layout):
            pane = self.panes.get(pid)
            if isinstance(pane, dict):
                pane["i"] = idx

    # mirrors main.js closePane(paneID) as called for a server 'close'
    def _close_pane(self, pane_id: Any) -> list[Effect]:
        if self.readonly:
            return []
        pid = js_to_string(pane_id)
        self.panes = {k: v for k, v in self.panes.items() if k != pid}
        self.consistent = {k: v for k, v in self.consistent.items() if k != pid}
        self._layout = [k for k in self._layout if k != pid]
        self._relayout()  # setState callback
        effects: list[Effect] = [
            SendSocket(
                {
                    "cmd": "close",
                    "data": pane_id,
                    "eid": self.env_ids[0] if len(self.env_ids) == 1 else None,
                }
            )
        ]
        return effects + self._render()


def _win_of(cmd: Any) -> str | None:
    if isinstance(cmd, dict):
        win = cmd.get("win", cmd.get("id"))
        return win if isinstance(win, str) else None
    return None
