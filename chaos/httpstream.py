"""Following HTTP/1.1 on one direction of a proxied connection.

Heads are parsed (they are small and rare); bodies are skipped by counting
(Content-Length) and never buffered. The tracker reports where a WebSocket
upgrade turns the stream into frames, and hands each request or response head to
the HTTP toxics as a separate segment. Anything it cannot follow (chunked bodies,
bodies delimited by close, oversize heads) turns the rest of the stream into
opaque bytes: toxics that need structure then simply do not apply.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

MAX_HEAD = 64 * 1024


@dataclass(slots=True)
class HttpHead:
    raw: bytes
    start: str  # request line or status line
    headers: dict[str, str] = field(default_factory=dict)  # lower-cased names, last wins
    is_request: bool = True

    @property
    def method(self) -> str:
        return self.start.split(" ", 1)[0] if self.is_request else ""

    @property
    def path(self) -> str:
        parts = self.start.split(" ")
        return parts[1] if self.is_request and len(parts) > 1 else ""

    @property
    def status(self) -> int:
        parts = self.start.split(" ")
        if self.is_request or len(parts) < 2 or not parts[1].isdigit():
            return 0
        return int(parts[1])

    @property
    def content_length(self) -> int | None:
        value = self.headers.get("content-length")
        return int(value) if value is not None and value.strip().isdigit() else None

    @property
    def chunked(self) -> bool:
        return "chunked" in self.headers.get("transfer-encoding", "").lower()

    @property
    def upgrade_ws(self) -> bool:
        return self.headers.get("upgrade", "").lower() == "websocket"


def parse_head(raw: bytes, is_request: bool) -> HttpHead:
    text = raw.decode("latin-1")
    lines = text.split("\r\n")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return HttpHead(raw, lines[0], headers, is_request)


def _looks_http(buf: bytearray, is_request: bool) -> bool:
    """Could `buf` be the start of an HTTP head? Undecided prefixes count as yes."""
    if not is_request:
        k = min(len(buf), 5)
        return bytes(buf[:k]) == b"HTTP/"[:k]
    token = bytes(buf[:11]).split(b" ", 1)
    if not token[0].isalpha() or not token[0].isupper():
        return False
    return len(token) == 2 or len(buf) < 11


# A segment is either a head (HttpHead) or raw bytes to forward as they are.
Segment = HttpHead | bytes


class HttpTracker:
    """One direction: requests (client→server) or responses (server→client)."""

    def __init__(self, is_request: bool) -> None:
        self.is_request = is_request
        self.phase = "head"  # head | body | ws | opaque
        self.body_left = 0
        self.buf = bytearray()
        self.passed = 0  # bytes of the buffered head already forwarded (not held)
        self.on_head: Callable[[HttpHead], None] | None = (
            None  # told of every head, before it is passed on
        )

    def feed(self, data: bytes, hold: bool = False) -> tuple[list[Segment], int]:
        """Split `data` into segments; returns them and how many bytes were used.

        With `hold` (HTTP toxics are active) an incomplete head is kept back until
        it is whole, so a toxic can delay or answer it; without, bytes pass at once
        and the head is parsed from a copy (a plain TCP protocol is never held up).
        Fewer bytes than given are used only when the stream turns into WebSocket
        frames: the caller then hands `data[used:]` to the frame layer.
        """
        out: list[Segment] = []
        pos, n = 0, len(data)
        while pos < n:
            if self.phase == "ws":
                return out, pos
            if self.phase == "opaque":
                out.append(data[pos:])
                return out, n
            if self.phase == "body":
                step = min(self.body_left, n - pos)
                out.append(data[pos : pos + step])
                pos += step
                self.body_left -= step
                if not self.body_left:
                    self.phase = "head"
                continue
            # head phase: look for the blank line
            start_len = len(self.buf)
            self.buf += data[pos:]
            end = self.buf.find(b"\r\n\r\n", max(0, start_len - 3))
            # oversize is the head's own size: a body read along with it does not count
            oversize = (end if end >= 0 else len(self.buf)) > MAX_HEAD
            if not _looks_http(self.buf, self.is_request) or oversize:
                out.append(
                    bytes(self.buf[self.passed :])
                )  # not (followable) HTTP: stop interpreting
                self.buf.clear()
                self.phase, self.passed = "opaque", 0
                return out, n
            if end < 0:
                if not hold or self.passed:
                    out.append(bytes(self.buf[self.passed :]))
                    self.passed = len(self.buf)
                return out, n
            head_raw = bytes(self.buf[: end + 4])
            pos += end + 4 - start_len
            head = parse_head(head_raw, self.is_request)
            if self.passed:  # part of it already went out: only the rest is left to forward
                if head_raw[self.passed :]:
                    out.append(head_raw[self.passed :])
            else:
                out.append(head)
            self.buf.clear()
            self.passed = 0
            self._after_head(head)
        return out, pos

    def _after_head(self, head: HttpHead) -> None:
        if self.on_head is not None:
            self.on_head(head)
        if self.is_request and head.upgrade_ws:
            self.phase = "ws"
            return
        if not self.is_request and head.status == 101:
            self.phase = "ws"
            return
        if head.chunked:
            self.phase = "opaque"
            return
        length = head.content_length
        if length:
            self.phase, self.body_left = "body", length
        elif (
            length is None
            and not self.is_request
            and head.status not in (204, 304)
            and head.status >= 200
        ):
            self.phase = "opaque"  # body runs until the server closes
        else:
            self.phase = "head"
