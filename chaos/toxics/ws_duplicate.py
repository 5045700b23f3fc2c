"""ws_duplicate: selected messages are forwarded 1 + `copies` times, back to back."""

from __future__ import annotations

from ..wsframe import Message
from .message import WsToxic
from .verdict import PASS, Copies, Fault, MessageVerdict


class WsDuplicate(WsToxic):
    def judge_message(self, msg: Message) -> MessageVerdict:
        if not self.selects(msg):
            return PASS
        copies = self.a["copies"]
        return Copies(copies, Fault("ws_duplicate", {"copies": copies, **self.describe(msg)}))
