"""Cutting one stream's bytes into the units toxics judge: HTTP heads, WebSocket messages.

HTTP is followed (httpstream.py) until an upgrade; from there on the stream is
WebSocket frames (wsframe.py). Frames are only *skimmed* (boundaries followed, no
copy) while no toxic needs whole messages; when one does, they are split out and
assembled into messages. Every byte comes out exactly once and in order, whatever
the mode and however it flips between calls.
"""

from __future__ import annotations

from .httpstream import HttpHead, HttpTracker
from .wsframe import (
    CONTROL_OPS,
    OP_CONT,
    Frame,
    FrameError,
    FrameParser,
    FrameSkimmer,
    Message,
    MessageAssembler,
)

MAX_FRAME = 16 << 20  # one frame split out whole is at most this
MAX_ASSEMBLED = 8 << 20  # an unfinished fragmented message larger than this is passed through

# raw bytes to forward as they are, a request/response head, a whole data message, a control frame
Segment = bytes | HttpHead | Message | Frame


def wire_bytes(seg: Segment) -> bytes:
    """The segment's bytes exactly as they arrived."""
    return seg if isinstance(seg, bytes) else seg.raw


class Segmenter:
    """HTTP heads until an upgrade, then WebSocket frames (skimmed, or split when needed)."""

    def __init__(self, is_request: bool) -> None:
        self.http = HttpTracker(is_request)
        self.skimmer = FrameSkimmer()
        self.parser: FrameParser | None = None
        self.asm = MessageAssembler()
        self.assembled = 0  # bytes of the unfinished message held in `asm`
        self.passthrough = False  # the rest of an oversized fragmented message goes through raw

    def spliceable(self) -> bool:
        """Can the next bytes pass unseen (splice.py)? An opaque stream, or an HTTP body of
        known length (counted down there). WebSocket frames are skimmed here, not there."""
        phase = self.http.phase
        return phase == "opaque" or (phase == "body" and self.http.body_left > 0)

    def feed(self, data: bytes, split_ws: bool, hold_http: bool = False) -> list[Segment]:
        """Segments of `data`: whole messages when `split_ws`, whole request heads when `hold_http`."""
        out: list[Segment] = []
        if self.http.phase != "ws":
            segs, used = self.http.feed(data, hold_http)
            out.extend(segs)
            if used >= len(data):
                return out
            data = data[used:]
        try:
            return out + self._ws(data, split_ws)
        except FrameError:
            self.http.phase = "opaque"  # not WebSocket after all: stop interpreting
            self.parser = None
            return [*out, data]

    def _ws(self, data: bytes, split: bool) -> list[Segment]:
        out: list[Segment] = []
        if self.parser is None:
            if not split:
                self.skimmer.skim(data)
                return [data]
            k = self.skimmer.advance_to_boundary(data)
            if k:
                out.append(data[:k])
            if not self.skimmer.at_boundary:
                return out
            self.parser = FrameParser(max_frame=MAX_FRAME)
            data = data[k:]
        for frame in self.parser.feed(data):
            if self.passthrough and frame.opcode == OP_CONT:
                out.append(frame.raw)
                self.passthrough = not frame.header.fin
                continue
            unit = self.asm.push(frame)
            if unit is not None:
                if not isinstance(unit, Frame) or unit.opcode not in CONTROL_OPS:
                    self.assembled = 0
                out.append(unit)
            elif self.asm.partial is not None:
                self.assembled += len(frame.raw)
                if self.assembled > MAX_ASSEMBLED:
                    # Holding a message that never ends would grow without bound: send what is
                    # held and the rest as it comes (that message escapes the WebSocket toxics).
                    # Frame by frame: one joined copy of MAX_ASSEMBLED would double the peak.
                    out.extend(f.raw for f in self.asm.partial.frames)
                    self.asm.partial, self.assembled, self.passthrough = None, 0, True
        if (
            not split
            and not self.parser.pending
            and self.asm.partial is None
            and not self.passthrough
        ):
            self.parser = None  # back to cheap skimming, at a frame boundary
        return out
