"""http_fail: matching requests never reach the server; the proxy answers `status` and closes."""

from __future__ import annotations

from ..httpstream import HttpHead
from .message import HttpToxic
from .verdict import PASS, Answer, Fault, RequestVerdict

REASONS = {
    503: "Service Unavailable",
    500: "Internal Server Error",
    502: "Bad Gateway",
    429: "Too Many Requests",
}


class HttpFail(HttpToxic):
    def judge_request(self, head: HttpHead) -> RequestVerdict:
        if not self.selects(head):
            return PASS
        fault = Fault(
            "http_fail", {"method": head.method, "path": head.path, "status": self.a["status"]}
        )
        return Answer(self.response(), head.content_length or 0, fault)

    def response(self) -> bytes:
        """The answer: `status` and `body`, Connection: close, and which toxic sent it."""
        status, body = self.a["status"], self.a["body"].encode("utf-8")
        reason = REASONS.get(status, "Chaos")
        head = f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {len(body)}\r\nConnection: close\r\nX-Chaos-Toxic: {self.spec.name}\r\n\r\n"
        return head.encode("latin-1") + body
