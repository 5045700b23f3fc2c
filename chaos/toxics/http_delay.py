"""http_delay: matching requests reach the server `delay` ms late."""

from __future__ import annotations

from ..httpstream import HttpHead
from .message import HttpToxic
from .verdict import PASS, Delay, Fault, RequestVerdict


class HttpDelay(HttpToxic):
    def judge_request(self, head: HttpHead) -> RequestVerdict:
        if not self.selects(head):
            return PASS
        delay = self.a["delay"]
        return Delay(
            delay / 1000,
            Fault("http_delay", {"method": head.method, "path": head.path, "delay_ms": delay}),
        )
