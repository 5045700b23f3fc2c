"""The browser replica of a *patched* server's page: the stock tab of that version
behind the patched page's delivery path, the rebuilt bundle's Delivery.js under both
transports: 0.2.4's js/Delivery.js, which the App (js/main.js) puts under
its WebSocket and Legacy.js's poller; 0.3.0's js/api/Delivery.js under ApiProvider.js.

It sits between the transport and the app, so this wraps a stock replica
the same way: every frame goes through `_shim` (the delivery layer; the name is from
the retired 0.2.4 shim) first, which may swallow it, answer it (SendSocket) or pass
it to the stock tab. The page's timers due by a frame's arrival fire before it is
read. Mirrors the JS:

- a `register` on a connection after the first (the subscriber's `reconnect()`)
  is swallowed and answered with {"cmd": "resume", sid, eid, seq, epoch} (a polling
  page: sid null, it keeps the new sid and resumes the env);
- `resumed` / `resync` markers update the resume state and are swallowed; in
  snapshot mode, windows the tab holds that the server no longer lists get a
  synthetic `close`;
- a snapshot's stamped `reload`/`layout` set eid/seq/epoch;
- updates before the first snapshot (a fresh page: the snapshot it asked for carries
  them), with seq <= last, or before the `resumed` reply are dropped; a seq jump
  (> last + 1) on a WebSocket sends a resume from the last seq (over polling it is the
  server's conflation); a full `window` always applies and drops its window's updates
  stamped at or below its seq (_sequence);
- after a full `window` for W, W's `window_update`/`close` messages are held
  for HOLD_S and then passed in order (0.2.4's Delivery.js only: 0.2.4 renders a new
  pane in a 100 ms batch and retries earlier updates every 100 ms: without the hold, a
  later update overtakes them, a hash mismatch and an env reload; the hold is kept
  rather than reordering the App's batch: its batch and _checkWindow stay as shipped).
- text appends (patches 0.2.4/0014, 0.3.0/0011, #695): every `register` (first
  connection or reconnect) is answered first with HELLO, {"cmd": "hello", "accept":
  ["text_append"]}, so the server sends `text_append` (only the appended text) to this
  socket. At delivery the layer keeps each text window as it last handed it to the tab
  (a `window` of type text, top-level ops of its `window_update`s, dropped on `close`)
  and hands the tab that window with `data` appended, `trim` leading "<br>" lines
  dropped (0.3.0's max_text_lines) and contentID/version/seq/epoch taken from the
  message; a `text_append` for a window it does not hold is dropped and answered with a
  resume from seq null (the server sends a snapshot). `text_append` is held behind a
  new window like `window_update`.

A page refresh (`reset()`) reloads the delivery layer too: its state starts empty.

0.2.4's series also changes the App itself (patch 0011, processPane in js/main.js): the
replica's `keep_checked_copy` (v024.py), on both transports.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from .base import Replica
from .effects import Effect, SendSocket
from .jsvalue import JSParseError

HOLD_S = 0.15  # 0.2.4's js/Delivery.js HOLD_MS
HELLO = {"cmd": "hello", "accept": ["text_append"]}
_TOP_LEVEL = re.compile(r"^/[^/]+$")


def _window_of(cmd: dict[str, Any]) -> Any:
    return {
        "window": cmd.get("id"),
        "window_update": cmd.get("win"),
        "text_append": cmd.get("win"),
        "close": cmd.get("data"),
    }.get(cmd.get("command", ""))  # no command: no window


def apply_top_level(pane: dict[str, Any], ops: Any) -> bool:
    """Delivery.js applyTopLevel: add/replace/remove of "/key" paths only."""
    if not isinstance(ops, list):
        return False
    for op in ops:
        path = op.get("path") if isinstance(op, dict) else None
        if not isinstance(path, str) or not _TOP_LEVEL.match(path):
            return False
        key = path[1:].replace("~1", "/").replace("~0", "~")
        if op.get("op") in ("add", "replace"):
            pane[key] = op.get("value")
        elif op.get("op") == "remove":
            pane.pop(key, None)
        else:
            return False
    return True


def drop_lines(text: str, n: int) -> str:
    """Delivery.js dropLines: text without its first n "<br>"-separated lines."""
    cut = -1
    for _ in range(n):
        cut = text.find("<br>", cut + 1)
        if cut < 0:
            return text
    return text[cut + 4 :] if n > 0 else text


class PatchedShim:
    """Mixin over a stock replica class; see the module docstring."""

    variant = "patched"
    # 0.2.4's Delivery.js holds a new window's updates for HOLD_S (HOLDS_NEW_WINDOWS);
    # 0.3.0's does not (its batch applies them in order).
    holds_new_windows = True
    # every version's fix is in its rebuilt bundle (Delivery.js), none in a shim
    in_source = True
    # resume the old session by its sid (a WebSocket takes it over); a polling page
    # keeps the sid it polls with and resumes the env only (Legacy.js)
    resume_by_sid = True

    def reset(self) -> None:
        super().reset()  # type: ignore[misc]
        self.resume_state: dict[str, Any] = {"sid": None, "eid": None, "seq": None, "epoch": None}
        self._resuming = False
        self._shim_windows: set[str] = set()
        self._holds: dict[Any, list[dict[str, Any]]] = {}  # win -> held messages, in order
        self._hold_due: dict[Any, float] = {}
        self.resumes_sent = 0
        self._texts: dict[Any, dict[str, Any]] = {}  # text windows as last handed over
        self._win_seq: dict[Any, int] = {}  # Delivery.js winSeq: seq of the last full window
        self.text_appends = 0  # text_append messages turned into windows

    def handle(self, raw: str | bytes | dict[str, Any], now: float) -> list[Effect]:
        try:
            cmd = self._decode(raw)  # type: ignore[attr-defined]
        except JSParseError:
            return super().handle(raw, now)  # type: ignore[misc]  # the tab reports it
        if not isinstance(cmd, dict):
            return super().handle(raw, now)  # type: ignore[misc]
        # the page's timers due by now fire first (a held message released before this
        # one may ask for a snapshot: this one then waits for it, as in Delivery.js)
        effects: list[Effect] = self.tick(now)  # type: ignore[attr-defined]
        passed: list[dict[str, Any]] = []
        effects += self._shim(cmd, passed)
        for msg in passed:
            effects += self._deliver_held(msg)
        return effects

    def _deliver_held(self, msg: dict[str, Any]) -> list[Effect]:
        if not self.holds_new_windows:
            return self._deliver(msg)
        win = _window_of(msg)
        held = self._holds.get(win) if win is not None else None
        if held is not None and (msg.get("command") != "window" or held):
            held.append(msg)  # W's order stays behind the held ones
            return []
        effects = self._deliver(msg)
        if msg.get("command") == "window":
            self._hold(win)
        return effects

    def _hold(self, win: Any) -> None:
        self._holds.setdefault(win, [])
        due = round(self._now + HOLD_S, 6)  # type: ignore[attr-defined]
        self._hold_due[win] = due  # a newer window restarts the hold (clearTimeout)
        self._set_timeout(HOLD_S, self._release, win, due)  # type: ignore[attr-defined]

    def _release(self, win: Any, due: float) -> list[Effect]:
        if self._hold_due.get(win) != due:
            return []  # superseded by a later hold of the same window
        queue = self._holds.pop(win, [])
        self._hold_due.pop(win, None)
        effects: list[Effect] = []
        while queue:
            msg = queue.pop(0)
            effects += self._deliver(msg)
            if msg.get("command") == "window":
                self._hold(win)
                self._holds[win] = queue  # the rest waits for this one
                break
        return effects

    def _deliver(self, msg: dict[str, Any]) -> list[Effect]:
        """What the tab gets for a delivered message (Delivery.js _handOn/_asWindow)."""
        texts = self._texts
        command = msg.get("command")
        win = _window_of(msg)
        if command == "window":
            if msg.get("type") == "text":
                texts[win] = copy.deepcopy(msg)  # the tab gets its own parse
            else:
                texts.pop(win, None)
        elif command == "close":
            texts.pop(win, None)
        elif command == "window_update":
            pane = texts.get(win)
            if pane is not None and not apply_top_level(pane, msg.get("content")):
                texts.pop(win, None)
        elif command == "text_append":
            pane = texts.get(win)
            if pane is None:
                return [self._resume(None)]  # the snapshot brings the text
            trim = msg.get("trim") or 0
            pane["content"] = drop_lines(
                str(pane.get("content")) + str(msg.get("data")),
                trim if isinstance(trim, int) else 0,
            )
            pane["contentID"] = msg.get("contentID")
            if "version" in msg:
                pane["version"] = msg["version"]
            pane["seq"], pane["epoch"] = msg.get("seq"), msg.get("epoch")
            self.text_appends += 1
            msg = copy.deepcopy(pane)
        return self._dispatch(msg)  # type: ignore[attr-defined]

    def _resume(self, seq: int | None) -> SendSocket:
        """Delivery.js _resume: replay from `seq` (None: a snapshot)."""
        self._resuming = True
        self.resumes_sent += 1
        r = self.resume_state
        sid = r["sid"] if self.resume_by_sid else None
        return SendSocket(
            {"cmd": "resume", "sid": sid, "eid": r["eid"], "seq": seq, "epoch": r["epoch"]}
        )

    def _shim(self, cmd: dict[str, Any], passed: list[dict[str, Any]]) -> list[Effect]:
        r = self.resume_state
        command = cmd.get("command")
        effects: list[Effect] = []
        if command == "register":
            hello = SendSocket(dict(HELLO))  # this connection takes text_append
            if r["sid"] is not None and r["eid"] is not None:
                if not self.resume_by_sid:
                    r["sid"] = cmd.get("data")  # polling: the new session is the one
                return [hello, self._resume(r["seq"])]  # a reconnect: resume, not register
            r["sid"] = cmd.get("data")
            effects.append(hello)
        elif command == "resumed":
            self._resuming = False
            r["sid"], r["epoch"] = cmd.get("sid", r["sid"]), cmd.get("epoch")
            if cmd.get("mode") == "snapshot":
                listed = set(cmd.get("windows") or [])
                for win in sorted(self._shim_windows - listed):
                    self._shim_windows.discard(win)
                    passed.append({"command": "close", "data": win})
                r["seq"] = cmd.get("seq")
            else:
                r["seq"] = cmd.get("from")
            # 0.2.4's App sets state for the indicator ("resumed"): a render, which
            # shows the plots patched in place since the last one (v024 _render_plots)
            render = getattr(self, "_render_plots", None)
            return render() if callable(render) else []
        elif command == "resync":
            r["seq"] = cmd.get("seq")  # a snapshot follows
            return []
        elif command in ("reload", "layout") and cmd.get("snapshot"):
            r["eid"], r["seq"], r["epoch"] = cmd.get("eid"), cmd.get("seq"), cmd.get("epoch")
        seq = cmd.get("seq")
        if isinstance(seq, int) and not cmd.get("snapshot"):
            take, sent = self._sequence(cmd, seq)
            effects += sent
            if not take:
                return effects
        if command == "window" and isinstance(cmd.get("id"), str):
            self._shim_windows.add(cmd["id"])
        if command == "close" and isinstance(cmd.get("data"), str):
            self._shim_windows.discard(cmd["data"])
            self._win_seq.pop(cmd["data"], None)
        passed.append(cmd)
        return effects

    def _sequence(self, cmd: dict[str, Any], seq: int) -> tuple[bool, list[Effect]]:
        """Delivery.js's seq rules: whether to pass `cmd` on, and what to send.
        A full window always applies and drops its window's older updates; a seq skip
        over polling is the server's conflation, not a gap."""
        r = self.resume_state
        full = cmd.get("command") == "window"
        win = _window_of(cmd)
        effects: list[Effect] = []
        if r["seq"] is None:
            if not full:
                return False, []  # the snapshot this page asked for carries it
        elif cmd.get("epoch") != r["epoch"]:
            r["epoch"], r["seq"] = cmd.get("epoch"), seq  # the server restarted
            self._win_seq.clear()
        elif self._resuming:
            if not full:
                return False, []  # the replay brings it
        elif seq <= r["seq"]:
            if not full:
                return False, []  # already applied
        elif seq > r["seq"] + 1 and self.resume_by_sid:
            effects.append(self._resume(r["seq"]))  # a gap: ask for what we missed
            if not full:
                return False, effects
        else:
            r["seq"] = seq
        if win in self._win_seq and seq <= self._win_seq[win]:
            return False, effects  # that window's full state is newer already
        if full:
            self._win_seq[win] = seq
        return True, effects


# Whose Delivery.js holds a new window's later messages (0.2.4: HOLD_MS in js/Delivery.js)
HOLDS_NEW_WINDOWS = {"0.2.4": True, "0.3.0": False}

_CLASSES: dict[tuple[type[Replica], str], type[Replica]] = {}


def patched_class(stock: type[Replica], transport: str = "websocket") -> type[Replica]:
    """The patched-page variant of a stock replica class, for one transport."""
    key = (stock, transport)
    if key not in _CLASSES:
        attrs = {
            "holds_new_windows": HOLDS_NEW_WINDOWS.get(getattr(stock, "version", ""), False),
            "resume_by_sid": transport == "websocket",
        }
        name = f"Patched{stock.__name__}{'Polling' if transport != 'websocket' else ''}"
        _CLASSES[key] = type(name, (PatchedShim, stock), attrs)
    return _CLASSES[key]


def make_patched_replica(
    stock: type[Replica],
    env_ids: list[str] | tuple[str, ...] = ("main",),
    transport: str = "websocket",
) -> Replica:
    """The patched page on either transport. 0.2.4's App fix (0011, keep_checked_copy)
    is on every patched page."""
    tab = patched_class(stock, transport)(env_ids=env_ids, transport=transport)
    if hasattr(tab, "keep_checked_copy"):
        tab.keep_checked_copy = True
    return tab


__all__ = ["PatchedShim", "make_patched_replica", "patched_class"]
