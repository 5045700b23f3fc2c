"""Message toxics: the WebSocket (ws_*) and HTTP (http_*) bases, and how they select.

A message toxic implements one method, `judge_message(msg)` or `judge_request(head)`,
that returns a verdict (verdict.py). Selection is per message: the toxic's
predicate (opcode, contains, match / method, path), then `probability`, then
`limit`, counted over the whole proxy.
"""

from __future__ import annotations

import random
from typing import Any

from ..httpstream import HttpHead
from ..wsframe import OP_BINARY, OP_TEXT, Message
from .base import Toxic


def _subset(want: Any, have: Any) -> bool:
    if isinstance(want, dict):
        return isinstance(have, dict) and all(
            k in have and _subset(v, have[k]) for k, v in want.items()
        )
    return want == have


class _Selecting(Toxic):
    """Per-message selection: probability, limit, and (subclasses) a predicate."""

    def _roll(self) -> bool:
        # `limit` counts over the whole proxy: an http_fail closes its connection,
        # so a per-connection count would never run out
        hits = self.link.proxy.hits
        key = (self.spec.name, self.spec.version)
        limit = self.a["limit"]
        if limit and hits.get(key, 0) >= limit:
            return False
        p = self.a["probability"]
        if p < 1.0 and random.random() >= p:
            return False
        hits[key] = hits.get(key, 0) + 1
        return True


class WsToxic(_Selecting):
    """Judges whole WebSocket data messages on its stream (control frames always pass)."""

    judges_messages = True

    def selects(self, msg: Message) -> bool:
        op = self.a["opcode"]
        if op == "text" and msg.opcode != OP_TEXT or op == "binary" and msg.opcode != OP_BINARY:
            return False
        if self.a["contains"]:
            if msg.opcode != OP_TEXT or msg.compressed:
                return False
            if self.a["contains"] not in msg.payload.decode("utf-8", "replace"):
                return False
        if self.a["match"] is not None and not _subset(self.a["match"], msg.json()):
            return False
        return self._roll()

    def describe(self, msg: Message) -> dict[str, Any]:
        """The journal detail naming a message: size, frames, index, and its JSON's command/win/env."""
        doc = msg.json()
        info: dict[str, Any] = {
            "bytes": len(msg.raw),
            "frames": len(msg.frames),
            "msg_index": self.direction.messages,
        }
        if isinstance(doc, dict):
            info.update(
                {
                    k: doc[k]
                    for k in ("command", "win", "env")
                    if k in doc and isinstance(doc[k], str | int)
                }
            )
        return info


class HttpToxic(_Selecting):
    """Judges whole HTTP request heads, on the upstream stream whatever its `stream`."""

    judges_requests = True

    def selects(self, head: HttpHead) -> bool:
        if self.a["method"] and head.method.upper() != self.a["method"].upper():
            return False
        if self.a["path"] and not head.path.startswith(self.a["path"]):
            return False
        return self._roll()
