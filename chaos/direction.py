"""One stream of a proxied connection: its source socket, its toxics, its destination.

Received chunks are stamped with their arrival time and queued (so latency is
measured from arrival); the queue is bounded in bytes: past the bound the source
socket stops being read, the kernel buffers fill and the sender feels
backpressure. With no toxics on a direction, chunks are written straight through
from the receive callback (pausing reading while the destination is not writable).
The processor splits chunks into segments (segmenter.py); the message toxics judge
whole WebSocket messages and HTTP request heads and the direction carries out their
verdicts (toxics/verdict.py): it owns the held messages, the dropped-byte count and
the bounds. What goes on runs through the byte-toxic chain, then is written.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import TYPE_CHECKING

from .held import HeldMessages
from .httpstream import HttpHead, parse_head
from .segmenter import Segment, Segmenter, wire_bytes
from .side import Side
from .splice import Splicer
from .splice import enabled as splice_enabled
from .toxics import Toxic
from .toxics.verdict import Answer, Copies, Delay, Drop, Hold, Pass, Rewrite
from .wsframe import Frame, Message

if TYPE_CHECKING:
    from .link import Link

MAX_PENDING = 2 << 20  # per direction: bytes read ahead of the writer before reading pauses
EOF = None


class Direction:
    """One stream of a link: "upstream" (client -> server) or "downstream"."""

    def __init__(self, link: Link, stream: str, src: Side, dst: Side) -> None:
        self.link = link
        self.stream = stream  # "upstream" = client -> server
        self.src = src
        self.dst = dst
        self.pending: deque[tuple[bytes, float] | None] = deque()
        self.pending_bytes = 0
        self.wake = asyncio.Event()
        self.blocked = False  # direct path: the destination is not writable, reading paused
        self.toxics: list[Toxic] = []  # those acting on this stream, in the order they were added
        self.message_toxics: list[Toxic] = []  # ... that judge WebSocket messages
        self.request_toxics: list[Toxic] = []  # ... that judge HTTP request heads
        self.byte_toxics: list[Toxic] = []  # ... that form the byte chain
        self.segmenter = Segmenter(is_request=stream == "upstream")
        self.busy = False
        self.held = HeldMessages()
        self.discard = 0  # body bytes of a request answered by http_fail
        self.messages = 0  # WebSocket data messages seen
        # an HTTP toxic aimed at a client waits for the request that names it: hold heads
        self.undecided_http = False
        self.bytes_in = self.bytes_out = self.dropped = 0
        self.done = False
        # no toxic, nothing held, a state the parsers can follow blind: bytes move in the kernel
        self.splicer = Splicer(self) if splice_enabled() else None

    def set_toxics(self, toxics: list[Toxic], undecided_http: bool) -> None:
        """The toxics now acting on this stream (new lists: a chain being run keeps its own)."""
        self.toxics = toxics
        self.message_toxics = [t for t in toxics if t.judges_messages]
        self.request_toxics = [t for t in toxics if t.judges_requests]
        self.byte_toxics = [t for t in toxics if t.pipes_bytes]
        self.undecided_http = undecided_http

    # -- reading (callbacks from the source Side) ----------------------------------
    def paused(self) -> bool:
        return self.link.frozen or any(t.pauses_reading for t in self.toxics)

    def direct_ok(self) -> bool:
        return (
            not self.toxics
            and not self.busy
            and not self.held
            and not self.discard
            and not self.pending
            and not self.link.frozen
            and not self.undecided_http
        )

    def splice_ok(self) -> bool:
        """May the kernel move this stream's next bytes (chaos/splice.py)?"""
        return (
            self.splicer is not None
            and self.segmenter.spliceable()  # first: false on every WebSocket chunk, cheaply
            and self.src.sink is self  # attached: bytes read before that are fed first
            and not self.blocked
            and self.direct_ok()
            and not self.link.closed
            and not self.src.eof
            and self.dst.idle()
        )

    def update_reading(self) -> None:
        on = (
            not self.link.closed
            and not self.paused()
            and not self.blocked
            and self.pending_bytes < MAX_PENDING
        )
        splicer = self.splicer
        if splicer is not None:
            if on and self.splice_ok() and splicer.start():
                self.src.set_reading(False)  # the splicer reads the socket now
                return
            splicer.stop()
        self.src.set_reading(on)

    def feed(self, data: bytes) -> None:
        self.bytes_in += len(data)
        if self.splicer is not None:
            self.splicer.resting = False  # the transport read past what ended a splice
        if self.direct_ok():
            out = self.segmenter.feed(data, split_ws=False)
            # units left by a removed WebSocket toxic (parser still mid-message) go out as their bytes
            raw = (
                out[0]
                if len(out) == 1 and isinstance(out[0], bytes)
                else b"".join(map(wire_bytes, out))
            )
            if raw and not self.link.closed:
                self.dst.write(raw)
                self.bytes_out += len(raw)
            if not self.block_if_full() and self.splicer is not None and self.splice_ok():
                self.update_reading()  # e.g. the upgrade just went by: frames from here spliced
            return
        self.pending.append((data, asyncio.get_running_loop().time()))
        self.pending_bytes += len(data)
        self.wake.set()
        if self.pending_bytes >= MAX_PENDING:
            self.update_reading()

    def block_if_full(self) -> bool:
        """The destination is above its high-water mark: stop reading until it drains."""
        if self.dst.writable:
            return False
        self.blocked = True
        self.dst.on_writable.append(self._unblock)
        self.update_reading()
        return True

    def _unblock(self) -> None:
        self.blocked = False
        self.update_reading()

    def feed_eof(self) -> None:
        if self.splicer is not None:
            self.splicer.stop()
        self.pending.append(EOF)
        self.wake.set()

    async def next_item(self, timeout: float | None) -> tuple[bytes, float] | None:
        while not self.pending:
            self.wake.clear()
            if timeout is None:
                await self.wake.wait()
            else:
                async with asyncio.timeout(timeout):
                    await self.wake.wait()
        item = self.pending.popleft()
        if item is not EOF:
            self.pending_bytes -= len(item[0])
            if self.pending_bytes < MAX_PENDING // 2:
                self.update_reading()
        return item

    # -- processing ------------------------------------------------------------
    async def process_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            timeout = max(0.0, self.held.next_release - loop.time()) if self.held else None
            try:
                item = await self.next_item(timeout)
            except TimeoutError:
                await self.release_due()
                continue
            self.busy = True
            try:
                while self.link.frozen:
                    await self.link.changed()
                if item is EOF:
                    await self.finish()
                    return
                data, t = item
                split = bool(self.message_toxics) or bool(self.held)
                hold = self.undecided_http or bool(self.request_toxics)
                for seg in self.segmenter.feed(data, split_ws=split, hold_http=hold):
                    await self.handle(seg, t)
                await self.release_due()
            finally:
                self.busy = False

    async def handle(self, seg: Segment, t: float) -> None:
        if isinstance(seg, HttpHead):
            await self.handle_head(seg, t)
        elif isinstance(seg, Message):
            await self.handle_message(seg, t)
        elif isinstance(seg, Frame):
            await self.emit(seg.raw, t)  # control frames always pass
        elif self.discard:
            cut = min(self.discard, len(seg))
            self.discard -= cut
            self.dropped += cut
            if seg[cut:]:
                await self.emit(seg[cut:], t)
        else:
            await self.emit(seg, t)

    async def handle_head(self, head: HttpHead, t: float) -> None:
        for tox in self.request_toxics:
            match tox.judge_request(head):
                case Pass():
                    continue
                case Delay(seconds, fault):
                    tox.record(fault)
                    await asyncio.sleep(seconds)
                case Rewrite(raw, fault):
                    tox.record(fault)
                    head = parse_head(raw, is_request=True)
                case Answer(response, discard, fault):
                    tox.record(fault)
                    self.discard = discard
                    self.dropped += len(head.raw)
                    await self.link.answer(response)
                    return
        await self.emit(head.raw, t)

    async def handle_message(self, msg: Message, t: float) -> None:
        self.messages += 1
        raw = msg.raw
        copies = 1
        loop = asyncio.get_running_loop()
        for tox in self.message_toxics:
            match tox.judge_message(msg):
                case Pass():
                    continue
                case Drop(fault):
                    tox.record(fault)
                    self.dropped += len(raw)
                    return
                case Copies(n, fault):
                    tox.record(fault)
                    copies += n
                case Hold(seconds, after, fault, overflow):
                    if not self.held.fits(len(raw)):
                        tox.record(overflow)
                        break  # bounded memory: pass it on instead of holding more
                    tox.record(fault)
                    self.held.hold(raw * copies, loop.time() + seconds, after)
                    return
        await self.emit(raw * copies, t)
        if self.held:
            self.held.passed(loop.time())
            await self.release_due()  # right after the message it waited for

    async def release_due(self) -> None:
        loop = asyncio.get_running_loop()
        while self.held and (
            self.held.next_release <= loop.time() or not self.link.holds_messages()
        ):
            await self.emit(self.held.pop(), loop.time())

    async def emit(self, data: bytes, t: float) -> None:
        """Run the byte-toxic chain (in the order the toxics were added), then write."""
        chain = self.byte_toxics

        async def step(i: int, d: bytes, tt: float) -> None:
            if i == len(chain):
                await self.write(d)
            else:
                await chain[i].pipe(d, tt, lambda d2, t2: step(i + 1, d2, t2))

        await step(0, data, t)

    async def write(self, data: bytes) -> None:
        if not data or self.link.closed:
            return
        self.dst.write(data)
        self.bytes_out += len(data)
        await self.dst.drain()

    async def finish(self) -> None:
        """The source sent EOF: pass the half-close on (slow_close delays it)."""
        loop = asyncio.get_running_loop()
        while self.held:  # held messages still go out before the close
            wait = self.held.next_release - loop.time()
            if wait > 0 and self.link.holds_messages():
                await asyncio.sleep(wait)
            await self.release_due()
        for tox in self.toxics:
            await tox.on_eof()
        self.done = True
        self.link.half_closed(self)
