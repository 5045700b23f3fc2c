"""RFC 6455 framing: an incremental parser, message assembly and an encoder.

The proxy sees a byte stream; WebSocket toxics need whole frames (and for
fragmented messages, whole messages) to drop, duplicate or hold them. Frames are
forwarded byte-for-byte as they arrived (`raw`), never re-encoded, so masking
keys and extension bits survive untouched.
"""

from __future__ import annotations

import json
import os
import struct
from dataclasses import dataclass, field
from typing import Any

OP_CONT, OP_TEXT, OP_BINARY = 0x0, 0x1, 0x2
OP_CLOSE, OP_PING, OP_PONG = 0x8, 0x9, 0xA
CONTROL_OPS = frozenset({OP_CLOSE, OP_PING, OP_PONG})
DATA_OPS = frozenset({OP_TEXT, OP_BINARY})


class FrameError(ValueError):
    """The byte stream is not valid RFC 6455 framing."""


@dataclass(slots=True)
class Header:
    fin: bool
    rsv: int  # RSV1..3 as a 3-bit number (RSV1 = permessage-deflate)
    opcode: int
    masked: bool
    mask: bytes
    length: int  # payload length
    size: int  # header size in bytes


def parse_header(buf: bytes | bytearray | memoryview, pos: int = 0) -> Header | None:
    """Decode the frame header at `pos`, or None if `buf` does not hold all of it yet."""
    avail = len(buf) - pos
    if avail < 2:
        return None
    b0, b1 = buf[pos], buf[pos + 1]
    opcode = b0 & 0x0F
    if opcode in (3, 4, 5, 6, 7) or opcode > 0xA:
        raise FrameError(f"reserved opcode {opcode:#x}")
    masked = bool(b1 & 0x80)
    length = b1 & 0x7F
    size = 2
    if length == 126:
        if avail < 4:
            return None
        (length,) = struct.unpack_from("!H", buf, pos + 2)
        size = 4
    elif length == 127:
        if avail < 10:
            return None
        (length,) = struct.unpack_from("!Q", buf, pos + 2)
        if length >> 63:
            raise FrameError("payload length has the most significant bit set")
        size = 10
    mask = b""
    if masked:
        if avail < size + 4:
            return None
        mask = bytes(buf[pos + size : pos + size + 4])
        size += 4
    fin = bool(b0 & 0x80)
    if opcode in CONTROL_OPS and (not fin or length > 125):
        raise FrameError(f"control frame {opcode:#x} fragmented or longer than 125 bytes")
    return Header(fin, (b0 >> 4) & 0x7, opcode, masked, mask, length, size)


def unmask(data: bytes, mask: bytes) -> bytes:
    """XOR with the 4-byte key; one big-int XOR is far faster than a Python loop."""
    if not mask or not data:
        return bytes(data)
    n = len(data)
    key = (mask * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "big") ^ int.from_bytes(key, "big")).to_bytes(n, "big")


def encode_frame(
    opcode: int, payload: bytes, *, fin: bool = True, mask: bytes | bool = False, rsv: int = 0
) -> bytes:
    """Encode one frame (used by tests and by the proxy only for its own close frames)."""
    if mask is True:
        mask = os.urandom(4)
    b0 = (0x80 if fin else 0) | (rsv & 7) << 4 | opcode
    n = len(payload)
    mbit = 0x80 if mask else 0
    if n < 126:
        head = struct.pack("!BB", b0, mbit | n)
    elif n < 1 << 16:
        head = struct.pack("!BBH", b0, mbit | 126, n)
    else:
        head = struct.pack("!BBQ", b0, mbit | 127, n)
    if mask:
        return head + mask + unmask(payload, mask)
    return head + payload


@dataclass(slots=True)
class Frame:
    header: Header
    raw: bytes  # header + payload exactly as on the wire

    @property
    def opcode(self) -> int:
        return self.header.opcode

    @property
    def payload(self) -> bytes:
        h = self.header
        body = self.raw[h.size :]
        return unmask(body, h.mask) if h.masked else body


class FrameParser:
    """Incremental: feed bytes, get complete frames; keeps the incomplete tail."""

    def __init__(self, max_frame: int = 64 << 20) -> None:
        self.buf = bytearray()
        self.max_frame = max_frame

    def feed(self, data: bytes) -> list[Frame]:
        self.buf += data
        out: list[Frame] = []
        pos = 0
        buf = self.buf
        while True:
            h = parse_header(buf, pos)
            if h is None:
                break
            end = pos + h.size + h.length
            if h.size + h.length > self.max_frame:
                raise FrameError(
                    f"frame of {h.length} bytes exceeds the {self.max_frame}-byte limit"
                )
            if end > len(buf):
                break
            out.append(Frame(h, bytes(buf[pos:end])))
            pos = end
        if pos:
            del buf[:pos]
        return out

    @property
    def pending(self) -> int:
        return len(self.buf)


class FrameSkimmer:
    """Follows frame boundaries without copying payloads (cheap; runs on every byte).

    `at_boundary` tells whether the stream position is between two frames, which
    is where a direction may switch from pass-through to frame-by-frame handling.
    """

    def __init__(self) -> None:
        self.remaining = 0  # payload bytes of the current frame still to come
        self.head = bytearray()  # a header split across reads

    @property
    def at_boundary(self) -> bool:
        return self.remaining == 0 and not self.head

    def skim(self, data: bytes | bytearray | memoryview) -> None:
        n = len(data)
        pos = 0
        if self.remaining or self.head:  # finish a frame begun in an earlier read
            while pos < n and not self.at_boundary:
                pos = self._step(data, pos)
        # hot loop (every byte of every proxied WebSocket passes here): header
        # lengths only, no validation, no calls; validation happens when splitting.
        # Below `lim` a whole length field is present, so no bounds checks; a mask key
        # cut off at the end is counted as bytes to skip, like the payload after it.
        lim = n - 10
        while pos < lim:
            b1 = data[pos + 1]
            length = b1 & 0x7F
            if length < 126:
                pos += length + (6 if b1 & 0x80 else 2)
            elif length == 126:
                pos += (data[pos + 2] << 8 | data[pos + 3]) + (8 if b1 & 0x80 else 4)
            else:
                pos += int.from_bytes(data[pos + 2 : pos + 10], "big") + (14 if b1 & 0x80 else 10)
        if pos > n:
            self.remaining = pos - n
            return
        while pos < n:  # the last few bytes: a header may be cut short
            avail = n - pos
            if avail < 2:
                break
            b1 = data[pos + 1]
            length = b1 & 0x7F
            size = 6 if b1 & 0x80 else 2
            if length == 126:
                size += 2
                if avail < 4:
                    break
                length = data[pos + 2] << 8 | data[pos + 3]
            elif length == 127:
                size += 8
                if avail < 10:
                    break
                length = int.from_bytes(data[pos + 2 : pos + 10], "big")
            if avail < size:
                break
            pos += size + length
            if pos > n:
                self.remaining = pos - n
                return
        if pos < n:
            self.head += data[pos:]

    def advance_to_boundary(self, data: bytes) -> int:
        """Consume bytes up to the next frame boundary; returns how many were used."""
        pos, n = 0, len(data)
        while pos < n and not self.at_boundary:
            pos = self._step(data, pos)
        return pos

    def _step(self, data: bytes | bytearray | memoryview, pos: int) -> int:
        n = len(data)
        if self.remaining:
            step = min(self.remaining, n - pos)
            self.remaining -= step
            return pos + step
        if self.head:
            take = data[pos : pos + 14]
            before = len(self.head)
            self.head += take
            h = parse_header(self.head)
            if h is None:  # still short: everything taken belongs to the header
                return pos + len(take)
            self.head.clear()
            self.remaining = h.length
            return pos + h.size - before
        h = parse_header(data, pos)
        if h is None:
            self.head += data[pos:]
            return n
        self.remaining = h.length
        return pos + h.size


@dataclass(slots=True)
class Message:
    """One data message: its frames (one unless fragmented) and the decoded payload."""

    opcode: int
    frames: list[Frame] = field(default_factory=list)

    @property
    def raw(self) -> bytes:
        return b"".join(f.raw for f in self.frames)

    @property
    def compressed(self) -> bool:
        return bool(self.frames and self.frames[0].header.rsv & 4)

    @property
    def payload(self) -> bytes:
        return b"".join(f.payload for f in self.frames)

    def json(self) -> Any:
        """The decoded JSON of a text message, or None (binary, compressed, not JSON)."""
        if self.opcode != OP_TEXT or self.compressed:
            return None
        try:
            return json.loads(self.payload.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return None


class MessageAssembler:
    """Groups frames into units: a control frame alone, or a whole data message.

    Control frames interleaved in a fragmented message come out at once (before the
    message they interrupted), which is valid RFC 6455 ordering.
    """

    def __init__(self) -> None:
        self.partial: Message | None = None

    def push(self, frame: Frame) -> Frame | Message | None:
        op = frame.opcode
        if op in CONTROL_OPS:
            return frame
        if op == OP_CONT:
            if self.partial is None:
                raise FrameError("continuation frame without a message to continue")
            self.partial.frames.append(frame)
            if frame.header.fin:
                done, self.partial = self.partial, None
                return done
            return None
        if self.partial is not None:
            raise FrameError("new data frame inside an unfinished fragmented message")
        msg = Message(op, [frame])
        if frame.header.fin:
            return msg
        self.partial = msg
        return None

    @property
    def pending(self) -> int:
        return sum(len(f.raw) for f in self.partial.frames) if self.partial else 0
