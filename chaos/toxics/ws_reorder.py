"""ws_reorder: a selected message is held until `after` later messages have passed
(at most `max_hold` ms), then sent."""

from __future__ import annotations

from ..wsframe import Message
from .message import WsToxic
from .verdict import PASS, Fault, Hold, MessageVerdict


class WsReorder(WsToxic):
    holds_messages = True

    def judge_message(self, msg: Message) -> MessageVerdict:
        if not self.selects(msg):
            return PASS
        info = self.describe(msg)
        after = self.a["after"]
        return Hold(
            self.a["max_hold"] / 1000,
            after,
            Fault("ws_reorder", {"after": after, **info}),
            Fault("ws_hold_overflow", info),
        )
