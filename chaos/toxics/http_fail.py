"""http_fail: matching requests never reach the server; the proxy answers `status` and closes."""

from __future__ import annotations

from .message import HttpToxic


class HttpFail(HttpToxic):
    def response(self) -> bytes:
        status, body = self.a["status"], self.a["body"].encode("utf-8")
        reason = {503: "Service Unavailable", 500: "Internal Server Error", 502: "Bad Gateway", 429: "Too Many Requests"}.get(status, "Chaos")
        head = f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {len(body)}\r\nConnection: close\r\nX-Chaos-Toxic: {self.spec.name}\r\n\r\n"
        return head.encode("latin-1") + body
