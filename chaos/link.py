"""One proxied connection: two directions, each fed by its source socket and drained by a processor.

Received chunks are stamped with their arrival time and queued (so latency is
measured from arrival); the queue is bounded in bytes: past the bound the source
socket stops being read, the kernel buffers fill and the sender feels
backpressure. With no toxics on a direction, chunks are written straight through
from the receive callback (pausing reading while the destination is not writable).
The processor splits chunks into segments (HTTP heads, WebSocket messages, raw
bytes), runs the message toxics, then the byte-toxic chain, then writes.
"""

from __future__ import annotations

import asyncio
import random
from collections import deque
from collections.abc import Awaitable, Callable
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any

from .held import HeldMessages
from .httpstream import HttpHead
from .segmenter import Segment, Segmenter, wire_bytes
from .side import Side
from .spec import CLIENT_HEADER, ToxicSpec
from .toxics import (
    REQUEST_SIDE,
    TOXIC_CLASSES,
    HttpDelay,
    HttpFail,
    SlowClose,
    Toxic,
    WsDelay,
    WsDrop,
    WsDuplicate,
    WsReorder,
)
from .wsframe import Frame, Message

if TYPE_CHECKING:
    from .proxy import Proxy

ANSWER_LINGER_S = 0.2  # http_fail: time for the client to read the answer before the close
MAX_PENDING = 2 << 20  # per direction: bytes read ahead of the writer before reading pauses
EOF = None


class Direction:
    def __init__(self, link: Link, stream: str, src: Side, dst: Side) -> None:
        self.link = link
        self.stream = stream  # "upstream" = client -> server
        self.src = src
        self.dst = dst
        self.pending: deque[tuple[bytes, float] | None] = deque()
        self.pending_bytes = 0
        self.wake = asyncio.Event()
        self.blocked = False  # direct path: the destination is not writable, reading paused
        self.toxics: list[Toxic] = []
        self.segmenter = Segmenter(is_request=stream == "upstream")
        self.busy = False
        self.held = HeldMessages()
        self.discard = 0  # body bytes of a request answered by http_fail
        self.messages = 0  # WebSocket data messages seen
        # an HTTP toxic aimed at a client waits for the request that names it: hold heads
        self.undecided_http = False
        self.bytes_in = self.bytes_out = self.dropped = 0
        self.done = False

    # -- reading (callbacks from the source Side) ----------------------------------
    def paused(self) -> bool:
        return self.link.frozen or any(t.pauses_reading for t in self.toxics)

    def direct_ok(self) -> bool:
        return (not self.toxics and not self.busy and not self.held and not self.discard and not self.pending
                and not self.link.frozen and not self.undecided_http)

    def update_reading(self) -> None:
        self.src.set_reading(not self.link.closed and not self.paused() and not self.blocked and self.pending_bytes < MAX_PENDING)

    def feed(self, data: bytes) -> None:
        self.bytes_in += len(data)
        if self.direct_ok():
            out = self.segmenter.feed(data, split_ws=False)
            # units left by a removed WebSocket toxic (parser still mid-message) go out as their bytes
            raw = out[0] if len(out) == 1 and isinstance(out[0], bytes) else b"".join(map(wire_bytes, out))
            if raw and not self.link.closed:
                self.dst.write(raw)
                self.bytes_out += len(raw)
            if not self.dst.writable:
                self.blocked = True
                self.dst.on_writable.append(self._unblock)
                self.update_reading()
            return
        self.pending.append((data, asyncio.get_running_loop().time()))
        self.pending_bytes += len(data)
        self.wake.set()
        if self.pending_bytes >= MAX_PENDING:
            self.update_reading()

    def _unblock(self) -> None:
        self.blocked = False
        self.update_reading()

    def feed_eof(self) -> None:
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
                split = any(x.is_ws for x in self.toxics) or bool(self.held)
                hold = self.undecided_http or any(x.is_http for x in self.toxics)
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
        for tox in self.toxics:
            if not tox.is_http or not tox.selects(head):  # type: ignore[attr-defined]
                continue
            if isinstance(tox, HttpDelay):
                tox.fault("http_delay", method=head.method, path=head.path, delay_ms=tox.a["delay"])
                await asyncio.sleep(tox.a["delay"] / 1000)
            elif isinstance(tox, HttpFail):
                tox.fault("http_fail", method=head.method, path=head.path, status=tox.a["status"])
                self.discard = head.content_length or 0
                self.dropped += len(head.raw)
                await self.link.answer(tox.response())
                return
        await self.emit(head.raw, t)

    async def handle_message(self, msg: Message, t: float) -> None:
        self.messages += 1
        raw = msg.raw
        copies = 1
        loop = asyncio.get_running_loop()
        for tox in self.toxics:
            if not tox.is_ws or not tox.selects(msg):  # type: ignore[attr-defined]
                continue
            info = tox.describe(msg)  # type: ignore[attr-defined]
            if isinstance(tox, WsDrop):
                tox.fault("ws_drop", **info)
                self.dropped += len(raw)
                return
            if isinstance(tox, WsDuplicate):
                tox.fault("ws_duplicate", copies=tox.a["copies"], **info)
                copies += tox.a["copies"]
            elif isinstance(tox, WsDelay | WsReorder):
                if not self.held.fits(len(raw)):
                    tox.fault("ws_hold_overflow", **info)
                    break  # bounded memory: pass it on instead of holding more
                if isinstance(tox, WsDelay):
                    release, after = loop.time() + tox.a["delay"] / 1000, 0
                    tox.fault("ws_delay", delay_ms=tox.a["delay"], **info)
                else:
                    release, after = loop.time() + tox.a["max_hold"] / 1000, tox.a["after"]
                    tox.fault("ws_reorder", after=after, **info)
                self.held.hold(raw * copies, release, after)
                return
        await self.emit(raw * copies, t)
        if self.held:
            self.held.passed(loop.time())
            await self.release_due()  # right after the message it waited for

    async def release_due(self) -> None:
        loop = asyncio.get_running_loop()
        while self.held and (self.held.next_release <= loop.time() or not self.link.proxy_has_ws_hold()):
            await self.emit(self.held.pop(), loop.time())

    async def emit(self, data: bytes, t: float) -> None:
        """Run the byte-toxic chain (in the order the toxics were added), then write."""
        chain = [x for x in self.toxics if x.is_byte]

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
            if wait > 0 and self.link.proxy_has_ws_hold():
                await asyncio.sleep(wait)
            await self.release_due()
        for tox in self.toxics:
            if isinstance(tox, SlowClose) and tox.a["delay"]:
                tox.fault("slow_close", delay_ms=tox.a["delay"])
                await asyncio.sleep(tox.a["delay"] / 1000)
        self.done = True
        self.link.half_closed(self)


class Link:
    """A client connection and its upstream connection."""

    def __init__(self, proxy: Proxy, conn: int, client: Side, upstream: Side) -> None:
        self.proxy = proxy
        self.conn = conn
        self.client = client
        self.upstream = upstream
        self.dirs = {
            "upstream": Direction(self, "upstream", client, upstream),
            "downstream": Direction(self, "downstream", upstream, client),
        }
        self.toxics: dict[str, Toxic] = {}
        self.frozen = False
        self.closed = False
        self.reason = ""
        self._changed = asyncio.Event()
        self._done = asyncio.Event()
        self.tasks: list[asyncio.Task[None]] = []
        self.downstream_port = client.port("peername")
        self.upstream_port = upstream.port("sockname")
        # the client id the connection declares (X-VC-Client on its upgrade / each request)
        self.client_id: str | None = None
        self.dirs["upstream"].segmenter.http.on_head = self.on_request_head

    def fault(self, spec: ToxicSpec, kind: str, **detail: Any) -> None:
        if self.client_id is not None:
            detail["client"] = self.client_id
        self.proxy.log.fault(self.proxy.name, spec.name, kind, spec.stream, conn=self.conn, **detail)

    def aim(self, spec: ToxicSpec) -> bool | None:
        """Does a toxic act on this connection? True / False, None while its client is unknown."""
        port = spec.downstream_port
        if port and port != self.downstream_port:
            return False
        globs = spec.clients
        if not globs:
            return True
        if self.client_id is None:
            return None
        return any(fnmatchcase(self.client_id, g) for g in globs)

    def on_request_head(self, head: HttpHead) -> None:
        """A request head on its way upstream: it may name the client (toxics aimed at it start)."""
        cid = head.headers.get(CLIENT_HEADER)
        if cid and cid != self.client_id and not self.closed:
            self.client_id = cid
            if any(s.clients for s in self.proxy.toxics):
                self.sync(self.proxy.toxics)

    async def changed(self) -> None:
        await self._changed.wait()

    def proxy_has_ws_hold(self) -> bool:
        return any(isinstance(t, WsDelay | WsReorder) for d in self.dirs.values() for t in d.toxics)

    # -- toxics ------------------------------------------------------------------
    def sync(self, specs: list[ToxicSpec]) -> None:
        """Bring this connection's toxics in line with the proxy's list."""
        wanted = {s.name: s for s in specs}
        aims = {s.name: self.aim(s) for s in specs}
        for name, tox in list(self.toxics.items()):
            s = wanted.get(name)
            if s is None or s.version != tox.spec.version or s.stream != tox.spec.stream or aims[name] != tox.aim:
                del self.toxics[name]
                if tox.started:
                    tox.stop()
        for s in specs:
            if s.name in self.toxics:
                continue
            stream = "upstream" if s.type in REQUEST_SIDE else s.stream
            tox = TOXIC_CLASSES[s.type](s, self.dirs[stream])
            tox.aim = aims[s.name]
            # toxicity is drawn when the toxic meets the connection it is aimed at
            tox.active = tox.aim is True and (s.toxicity >= 1.0 or random.random() < s.toxicity)
            self.toxics[s.name] = tox
        for d in self.dirs.values():
            d.toxics = [self.toxics[s.name] for s in specs if self.toxics[s.name].active and self.toxics[s.name].dir is d]
            d.undecided_http = any(t.aim is None and t.is_http and t.dir is d for t in self.toxics.values())
        self.frozen = any(t.freezes_link for d in self.dirs.values() for t in d.toxics)
        for s in specs:  # start after the lists are in place, so a start() that closes sees them
            tox = self.toxics[s.name]
            if tox.active and not tox.started:
                tox.started = True
                tox.start()
        self._changed.set()
        self._changed = asyncio.Event()
        for d in self.dirs.values():
            d.update_reading()

    # -- lifecycle ---------------------------------------------------------------
    async def run(self, specs: list[ToxicSpec]) -> None:
        loop = asyncio.get_running_loop()
        self.proxy.log.conn(self.proxy.name, self.conn, "open", self.downstream_port, self.upstream_port)
        self.sync(specs)
        for d in self.dirs.values():
            self.tasks.append(loop.create_task(self._guard(d.process_loop)))
        self.client.attach(self.dirs["upstream"])
        self.upstream.attach(self.dirs["downstream"])
        for d in self.dirs.values():
            d.update_reading()
        try:
            await self._done.wait()
        finally:
            if not self.closed:
                self.close("proxy_stopped")
            for t in self.tasks:
                t.cancel()
            for tox in self.toxics.values():
                for t in tox.tasks:
                    t.cancel()
            self.proxy.log.conn(self.proxy.name, self.conn, "close", self.downstream_port, self.upstream_port, reason=self.reason)

    async def _guard(self, loop_fn: Callable[[], Awaitable[None]]) -> None:
        try:
            await loop_fn()
        except asyncio.CancelledError:
            raise
        except (ConnectionError, OSError) as e:
            if not self.closed:
                self.close(f"error: {type(e).__name__}")

    def half_closed(self, d: Direction) -> None:
        other = self.dirs["downstream" if d.stream == "upstream" else "upstream"]
        if other.done:
            self.close("eof")
            return
        try:
            d.dst.write_eof()
        except (OSError, RuntimeError):
            self.close("eof")

    async def answer(self, response: bytes) -> None:
        """Reply to the client ourselves (http_fail), then close.

        FIN first and the close a moment later: closing a socket with unread
        request bytes would send RST and could destroy the answer in flight.
        """
        if not self.closed:
            self.client.write(response)
            self.client.write_eof()
            asyncio.get_running_loop().call_later(ANSWER_LINGER_S, self.close, "http_fail")

    def close(self, reason: str) -> None:
        """Graceful: buffered data is flushed, then FIN to both sides."""
        if self.closed:
            return
        self.closed, self.reason = True, reason
        self.client.close()
        self.upstream.close()
        self._finish()

    def reset(self, reason: str) -> None:
        """Abortive: RST to both sides (SO_LINGER 0), unsent data discarded."""
        if self.closed:
            return
        self.closed, self.reason = True, reason
        self.client.reset()
        self.upstream.reset()
        self._finish()

    def _finish(self) -> None:
        current = asyncio.current_task()
        for t in self.tasks:
            if t is not current:
                t.cancel()
        self._done.set()
