"""ws_delay: selected messages are held `delay` ms while later ones pass (late, out of order)."""

from __future__ import annotations

from ..wsframe import Message
from .message import WsToxic
from .verdict import PASS, Fault, Hold, MessageVerdict


class WsDelay(WsToxic):
    holds_messages = True

    def judge_message(self, msg: Message) -> MessageVerdict:
        if not self.selects(msg):
            return PASS
        info = self.describe(msg)
        delay = self.a["delay"]
        return Hold(
            delay / 1000,
            0,
            Fault("ws_delay", {"delay_ms": delay, **info}),
            Fault("ws_hold_overflow", info),
        )
