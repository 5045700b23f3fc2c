"""ws_drop: selected WebSocket messages are not forwarded."""

from __future__ import annotations

from ..wsframe import Message
from .message import WsToxic
from .verdict import PASS, Drop, Fault, MessageVerdict


class WsDrop(WsToxic):
    def judge_message(self, msg: Message) -> MessageVerdict:
        if not self.selects(msg):
            return PASS
        return Drop(Fault("ws_drop", self.describe(msg)))
