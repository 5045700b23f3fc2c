"""Visdom 0.3.0's browser tab (static/js/main.js.map: main.js, api/ApiProvider.js, api/Legacy.js).

0.3.0 has no hash: every window carries `version` (1 at creation, +1 per update on the
server) and every `window_update` carries the window's new `version` and a JSON patch
that also replaces `/version`.

Message handling (ApiProvider.js handleMessage -> main.js apiHandlers):
- (on mount, before any message, the `[sessionInfo]` effect already posts /env with
  sid null, which the server ignores: not an effect here.)
- register: setSessionInfo. The `[sessionInfo]` effect then calls sendEnvQuery, and on
  the first register the tab also becomes "mounted" and the `[mounted.current]` effect
  calls sendEnvQuery again: the first register yields TWO RequestEnv("initial") (a real
  0.3.0 tab posts /env twice and receives the env twice); later registers one.
- window/pane/window_update -> onWindowMessage: ignored when the tab shows one env and
  `cmd.eid` names another; compare mode without has_compare -> RequestEnv("compare").
  window/pane: clear `_envReloadInFlight`, addPaneBatched(cmd).
  window_update -> updateWindow: accepted only if `cmd.version == panes[win].version + 1`
  (rendered pane) or `== _pendingPanesVersions[win] + 1` (pane waiting in the batch);
  accepted updates are applied at the batch (processPane: applyPatch on the pane object,
  in place). Otherwise the update is dropped (-> ProtocolError version_gap) and, unless a
  reload is already in flight, sendEnvQuery (-> RequestEnv("gap")). No hash is checked.
- A patch that throws inside processBatchedPanes is uncaught: `_timeoutID` is never
  cleared, so addPaneBatched never schedules again and the tab stops updating for good
  (-> ProtocolError patch_conflict, `stuck` = True). No re-request.
- reload/layout/layout_update/env_update/undo_state/notification: no window content.
- close: closePane unless readonly (echoes {cmd: close} on the socket).
- others: console.error -> ProtocolError unknown_command.
- processBatchedPanes is the closure of the render that scheduled it: it starts from the
  panes as rendered then (a close in between is undone by the batch commit).
- Renders are modelled as immediate: 0.3.0 mounts with ReactDOM.render on React 17.0.2
  (legacy mode), where a setState outside React's own event handlers (socket messages,
  timers) re-renders synchronously, so the next message sees the committed panes. The
  register's env queries run in passive effects (a moment later); the order relative to
  other messages does not matter because the server answers on the socket.
- Not checked against an executable oracle like 0.2.4 (the App is a hooks component
  full of JSX); checked by reading, by the real captures in tests/fixtures/replica, and
  against real Chromium on the real UI (tests/test_replica_browser.py: the page's env
  posts and final view match the replica's).

Transport and reconnect: WebSocket, or Legacy.js Poller (500 ms; NaN/Infinity in message
strings are rewritten to null before parsing; a message that throws is skipped). On
socket close the tab only shows "offline" (onclose -> _onDisconnect -> setConnected(false));
there is no automatic reconnect. Clicking the indicator (toggleOnlineState -> connect)
opens a new socket; its `register` changes sessionInfo and the tab re-posts /env once,
keeping its panes until the windows arrive. A subscriber imitating a user reconnect should
keep this replica (not `reset()` it) and feed it the new socket's messages.
"""

from __future__ import annotations

import re
from typing import Any

from visdom_chaos.ids import TOKEN_RE, heads_of

from .base import Replica
from .effects import Effect, ProtocolError, Registered, RequestEnv, SendSocket
from .jspatch import JSPatchError, apply_patch
from .jsvalue import UNDEFINED, js_add, js_loose_number_equals, js_to_string, js_truthy
from .v024 import _win_of

PANE_TYPES = frozenset(
    {
        "image",
        "image_history",
        "image_compare",
        "plot",
        "plot_history",
        "text",
        "embeddings",
        "properties",
        "network",
    }
)
BATCH_DELAY_S = 0.1
_NAN_RE = (re.compile(r"\bNaN\b"), re.compile(r"-Infinity\b"), re.compile(r"\bInfinity\b"))


class ReplicaV030(Replica):
    version = "0.3.0"

    def reset(self) -> None:
        super().reset()
        self._pending: list[Any] = []
        self._pending_versions: dict[str, Any] = {}
        self._timeout_id = False
        self._reload_in_flight = False
        self._mounted = False
        self._stored_layouts: set[str] = set()
        # Hint bookkeeping (ProtocolError.hint `server_version`): per window, the last full
        # window message received (its heads computed only when needed) and the newest seq
        # per source the updates received since then carried, accepted or dropped.
        self._wire: dict[str, tuple[Any, dict[str, int]]] = {}

    def request(self, effect: RequestEnv) -> tuple[str, dict[str, Any]]:
        # ApiProvider.js sendEnvQuery: compare posts also carry show_all (false by default)
        path, body = super().request(effect)
        if len(effect.env_ids) > 1:
            body["show_all"] = False
        return path, body

    def _pre_parse(self, text: str) -> str:
        # api/Legacy.js dispatchMessages rewrites these before handleMessage parses
        if self.transport == "polling":
            for rx in _NAN_RE:
                text = rx.sub("null", text)
        return text

    # mirrors ApiProvider.js handleMessage
    def _dispatch(self, cmd: Any) -> list[Effect]:
        command = cmd.get("command", UNDEFINED) if isinstance(cmd, dict) else UNDEFINED
        if command == "register":
            self.sid = cmd.get("data")
            self.readonly = js_truthy(cmd.get("readonly", UNDEFINED))
            # useEffect([sessionInfo]) queries the env; on the first register the tab also
            # mounts (useEffect [windowSize, sessionInfo] -> relayout -> a render) and
            # useEffect([mounted.current]) queries it once more
            effects: list[Effect] = [Registered(str(self.sid), self.readonly)]
            effects.append(RequestEnv("initial", list(self.env_ids)))
            if not self._mounted:
                self._mounted = True
                effects.append(RequestEnv("initial", list(self.env_ids)))
            return effects
        if command in ("pane", "window", "window_update"):
            return self._on_window_message(cmd, command == "window_update")
        if command == "close":
            return self._close_pane(cmd.get("data"))
        if command in (
            "reload",
            "layout",
            "layout_update",
            "env_update",
            "undo_state",
            "notification",
        ):
            return []
        return [
            ProtocolError(
                "unknown_command", _win_of(cmd), f"unrecognized command {js_to_string(command)!r}"
            )
        ]

    # mirrors main.js onWindowMessage
    def _on_window_message(self, cmd: dict[str, Any], update: bool) -> list[Effect]:
        eid = cmd.get("eid", UNDEFINED)
        if len(self.env_ids) == 1 and eid is not UNDEFINED and eid != self.env_ids[0]:
            return []
        if len(self.env_ids) > 1 and cmd.get("has_compare") is not True:
            return [RequestEnv("compare", list(self.env_ids), trigger_win=_win_of(cmd))]
        if update:
            return self._update_window(cmd)
        self._reload_in_flight = False
        self._wire[js_to_string(cmd.get("id", UNDEFINED))] = (cmd, {})
        return self._add_pane_batched(cmd)

    # mirrors main.js updateWindow
    def _update_window(self, cmd: dict[str, Any]) -> list[Effect]:
        win = js_to_string(cmd.get("win", UNDEFINED))
        version = cmd.get("version", UNDEFINED)
        pane = self.panes.get(win)
        rendered_ok = win in self.panes and js_loose_number_equals(
            version,
            js_add(pane.get("version", UNDEFINED) if isinstance(pane, dict) else UNDEFINED, 1),
        )
        pending_ok = win in self._pending_versions and js_loose_number_equals(
            version, js_add(self._pending_versions[win], 1)
        )
        carried = self._update_heads(win, cmd)
        if rendered_ok or pending_ok:
            self._wire_seen(win, carried)
            return self._add_pane_batched(cmd)
        have = self._pending_versions.get(
            win, pane.get("version") if isinstance(pane, dict) else None
        )
        before = self._wire_heads(win)
        # the ids on the wire follow on from the last ones of this window: the server's
        # version numbering skipped or repeated, not the network
        consecutive = bool(carried) and all(
            src in before and seq == before[src] + 1 for src, seq in carried.items()
        )
        self._wire_seen(win, carried)
        effects: list[Effect] = [
            ProtocolError(
                "version_gap",
                win,
                f"version {js_to_string(version)} after {js_to_string(have)}"
                + ("; dropped, env reload in flight" if self._reload_in_flight else ""),
                hint="server_version" if consecutive else None,
            )
        ]
        if not self._reload_in_flight:
            self._reload_in_flight = True
            effects.append(RequestEnv("gap", list(self.env_ids), trigger_win=win))
        return effects

    # -- hint bookkeeping: what the wire carried for a window -------------------------
    def _wire_heads(self, win: str) -> dict[str, int]:
        entry = self._wire.get(win)
        if entry is None:
            return {}
        window, seen = entry
        if window is None:
            return seen
        base = heads_of(window)  # once per full window, and only when a gap asks
        for src, seq in seen.items():
            if seq > base.get(src, -1):
                base[src] = seq
        self._wire[win] = (None, base)
        return base

    def _wire_seen(self, win: str, carried: dict[str, int]) -> None:
        if not carried:
            return
        entry = self._wire.get(win)
        seen = entry[1] if entry is not None else {}
        if entry is None:
            self._wire[win] = (None, seen)
        for src, seq in carried.items():
            if seq > seen.get(src, -1):
                seen[src] = seq

    def _update_heads(self, win: str, cmd: dict[str, Any]) -> dict[str, int]:
        """Newest seq per source a window_update's own ops carry (cheap: a text append's
        newest token is its last one; a plot op's trace is named by the window the tab has)."""
        ops = cmd.get("content")
        if not isinstance(ops, list):
            return {}
        out: dict[str, int] = {}
        names: list[Any] | None = None
        for op in ops:
            if not isinstance(op, dict) or op.get("op") not in ("add", "replace"):
                continue
            path, value = op.get("path"), op.get("value")
            if path == "/content" and isinstance(value, str):
                m = TOKEN_RE.match(value, max(0, value.rfind("[")))
                if m is not None:
                    src, seq = m.group(1), int(m.group(2))
                    if seq > out.get(src, -1):
                        out[src] = seq
            elif (
                isinstance(path, str) and path.startswith("/content/data/") and path.count("/") == 5
            ):
                _, _, _, index, field, _ = path.split("/")
                if (
                    field != "x"
                    or not index.isdigit()
                    or isinstance(value, bool)
                    or not isinstance(value, int | float)
                ):
                    continue
                if names is None:
                    names = self._trace_names(win)
                i = int(index)
                if i < len(names) and isinstance(names[i], str) and value == value:
                    seq = int(value)
                    if seq > out.get(names[i], -1):
                        out[names[i]] = seq
        return out

    def _trace_names(self, win: str) -> list[Any]:
        entry = self._wire.get(win)
        pane = entry[0] if entry is not None and entry[0] is not None else self.panes.get(win)
        content = pane.get("content") if isinstance(pane, dict) else None
        data = content.get("data") if isinstance(content, dict) else None
        if not isinstance(data, list):
            return []
        return [t.get("name") if isinstance(t, dict) else None for t in data]

    # mirrors main.js addPaneBatched
    def _add_pane_batched(self, pane: dict[str, Any]) -> list[Effect]:
        if not self._timeout_id:
            self._timeout_id = True
            # the scheduled closure sees storeData.panes of the current render
            self._set_timeout(BATCH_DELAY_S, self._process_batched_panes, dict(self.panes))
        self._pending.append(pane)
        key = pane.get("win") if "win" in pane else pane.get("id", UNDEFINED)
        self._pending_versions[js_to_string(key)] = pane.get("version", UNDEFINED)
        return []

    # mirrors main.js processBatchedPanes / processPane
    def _process_batched_panes(self, rendered: dict[str, Any]) -> list[Effect]:
        if not self._mounted:
            self._set_timeout(BATCH_DELAY_S, self._process_batched_panes, rendered)
            return []
        new_panes = dict(rendered)
        pending, self._pending = self._pending, []
        self._pending_versions = {}
        for pane in pending:
            command = js_to_string(pane.get("command", "window"))
            try:
                pid = self._process_pane(pane, new_panes)
            except (JSPatchError, TypeError) as exc:
                # uncaught in the timer: _timeoutID stays set, the tab never batches again
                self.stuck = True
                self._touch(js_to_string(pane.get("win", UNDEFINED)), command)
                kind = "patch_conflict" if isinstance(exc, JSPatchError) else "render_error"
                return [ProtocolError(kind, _win_of(pane), f"{exc}; tab stops updating")]
            self._touch(pid, command)
        self._timeout_id = False
        self.panes = new_panes
        return self._render()

    def _process_pane(self, pane: dict[str, Any], new_panes: dict[str, Any]) -> str:
        if pane.get("command") == "window_update":
            target = new_panes.get(js_to_string(pane.get("win", UNDEFINED)), UNDEFINED)
            pane = apply_patch(target, pane.get("content", UNDEFINED))
            if not isinstance(pane, dict):
                raise TypeError(f"patched window is {js_to_string(pane)}")
        pid = js_to_string(pane.get("id", UNDEFINED))
        exists = pid in new_panes
        new_panes[pid] = pane
        if not exists:
            if pid not in self._stored_layouts and pane.get("type") not in PANE_TYPES:
                raise TypeError(f"PANE_SIZE[{pane.get('type')!r}] is undefined")
            self._stored_layouts.add(pid)
        return pid

    # mirrors main.js closePane(paneID) as called for a server 'close'
    def _close_pane(self, pane_id: Any) -> list[Effect]:
        if self.readonly:
            return []
        pid = js_to_string(pane_id)
        self.panes = {k: v for k, v in self.panes.items() if k != pid}
        return [
            SendSocket({"cmd": "close", "data": pane_id, "eid": self.env_ids[0]})
        ] + self._render()
