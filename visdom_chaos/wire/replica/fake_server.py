"""Server-side message generation of Visdom 0.2.4 / 0.3.0, for crafting replica inputs.

Builds `window` / `window_update` / `close` / `register` frames the way the real
handlers do (web_handlers.py UpdateHandler.update_packet: `jsonpatch.make_patch(old, new)`
after the append and a fresh contentID; "send the smaller of the patch and the updated
pane"; 0.2.4 adds `finalHash` = md5 of server_utils.stringify, 0.3.0 adds `version`,
bumped by update_window for plots but NOT for text appends, as in the real 0.3.0).
Used by tests and by subscriber tests that need realistic frames without a server.
Needs the `jsonpatch` package (installed with the project's dev tools).
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
from collections.abc import Mapping, Sequence
from typing import Any

import jsonpatch

from visdom_chaos.ids import send_ms, text_token


def server_recursive_order(node: Any) -> Any:
    """visdom utils/server_utils.py recursive_order: sorted keys, integral floats as ints."""
    if isinstance(node, Mapping):
        return {k: server_recursive_order(v) for k, v in sorted(node.items())}
    if isinstance(node, Sequence) and not isinstance(node, str | bytes):
        return [server_recursive_order(v) for v in node]
    if isinstance(node, float) and node.is_integer():
        return int(node)
    return node


def server_stringify(node: Any) -> str:
    """visdom server_utils.stringify (Python json.dumps: ensure_ascii, `1e-07`)."""
    return json.dumps(server_recursive_order(node), separators=(",", ":"))


def server_hash(window: Any) -> str:
    """visdom server_utils.hash_md_window: the `finalHash` of 0.2.4 window_update."""
    return hashlib.md5(server_stringify(window).encode("utf-8")).hexdigest()


class FakeServer:
    """The windows of one env and the frames a subscriber of it would receive."""

    def __init__(self, version: str = "0.2.4", env: str = "main") -> None:
        if version not in ("0.2.4", "0.3.0"):
            raise ValueError(f"unsupported version {version!r}")
        self.version = version
        self.env = env
        self.windows: dict[str, dict[str, Any]] = {}
        self._ids = itertools.count(1)

    def _content_id(self) -> str:
        return f"cid-{next(self._ids)}"

    def _frame(self, msg: Mapping[str, Any]) -> str:
        return json.dumps(msg)

    def register(self, sid: str = "sid-1", readonly: bool = False) -> str:
        return self._frame({"command": "register", "data": sid, "readonly": readonly})

    def _window_message(self, p: dict[str, Any]) -> str:
        msg = dict(p)
        if self.version == "0.3.0":
            msg["eid"] = self.env
        return self._frame(msg)

    def _new_window(self, win: str, wtype: str, content: Any) -> dict[str, Any]:
        p: dict[str, Any] = {
            "command": "window",
            "id": win,
            "title": "",
            "inflate": True,
            "width": None,
            "height": None,
            "contentID": self._content_id(),
            "content": content,
            "type": wtype,
        }
        if self.version == "0.3.0":
            p["version"] = 1
        p["i"] = self.windows[win]["i"] if win in self.windows else len(self.windows)
        self.windows[win] = p
        return p

    def create_line(
        self, win: str, source: str, seqs: Sequence[int], send_ns: Sequence[int]
    ) -> str:
        trace = {
            "x": [float(s) for s in seqs],
            "y": [send_ms(n) for n in send_ns],
            "name": source,
            "type": "scatter",
            "mode": "lines",
        }
        return self._window_message(
            self._new_window(win, "plot", {"data": [trace], "layout": {"showlegend": True}})
        )

    def create_text(self, win: str, text: str) -> str:
        return self._window_message(self._new_window(win, "text", text))

    def window_frame(self, win: str) -> str:
        """The current full window, as load_env or a 'smaller than the patch' update sends it."""
        return self._window_message(self.windows[win])

    def env_frames(self) -> list[str]:
        """What POST /env/<eid> makes the server send (server_utils.load_env)."""
        frames = [self._frame({"command": "reload", "data": {}})]
        for p in sorted(self.windows.values(), key=lambda k: k.get("i", 0)):
            frames.append(self._window_message(p))
        frames.append(self._frame({"command": "layout"}))
        return frames

    def _update(self, win: str, mutate: Any, bump_version: bool) -> str:
        p = self.windows[win]
        old = copy.deepcopy(p)
        mutate(p)
        if self.version == "0.3.0" and bump_version:
            p["version"] = p.get("version", 1) + 1  # server_utils.update_window
        p["contentID"] = self._content_id()
        patch = jsonpatch.make_patch(old, p).patch
        if len(server_stringify(p)) <= len(server_stringify(patch)):
            return self._window_message(p)
        if self.version == "0.2.4":
            msg = {
                "command": "window_update",
                "win": win,
                "env": self.env,
                "content": patch,
                "finalHash": server_hash(p),
            }
        else:
            msg = {
                "command": "window_update",
                "win": win,
                "eid": self.env,
                "content": patch,
                "version": p.get("version", 1),
            }
        return self._frame(msg)

    def append_line(self, win: str, source: str, seq: int, send_ns: int) -> str:
        def mutate(p: dict[str, Any]) -> None:
            for trace in p["content"]["data"]:
                if trace.get("name") == source:
                    trace["x"].append(float(seq))
                    trace["y"].append(send_ms(send_ns))
                    return
            p["content"]["data"].append(
                {
                    "x": [float(seq)],
                    "y": [send_ms(send_ns)],
                    "name": source,
                    "type": "scatter",
                    "mode": "lines",
                }
            )

        return self._update(win, mutate, bump_version=True)

    def append_text(self, win: str, source: str, seq: int, send_ns: int) -> str:
        def mutate(p: dict[str, Any]) -> None:
            p["content"] += "<br>" + text_token(source, seq, send_ns)

        # 0.3.0 UpdateHandler.update returns before update_window for text: no version bump
        return self._update(win, mutate, bump_version=False)

    def close(self, win: str) -> str:
        self.windows.pop(win, None)
        return self._frame({"command": "close", "data": win})
