"""What each toxic does to one direction of one proxied connection.

Like Toxiproxy, toxics on a direction form a chain in the order they were added.
Byte toxics (`pipe`) see chunks as they were read and pass them on through `nxt`;
message toxics (ws_*, http_*) see whole WebSocket messages or HTTP request heads
first and decide to pass, drop, duplicate, hold or answer them. Toxicity is rolled
once per connection when a toxic attaches to it (as in Toxiproxy); WebSocket and
HTTP toxics also have a per-message `probability`.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from .httpstream import HttpHead
from .spec import ToxicSpec
from .wsframe import OP_BINARY, OP_TEXT, Message

if TYPE_CHECKING:
    from .direction import Direction

Next = Callable[[bytes, float], Awaitable[None]]


class Toxic:
    """Runtime state of one toxic on one connection (created by Link.sync)."""

    is_byte = False  # has a pipe() that sees every chunk
    is_ws = False
    is_http = False
    pauses_reading = False  # the direction stops reading its source
    freezes_link = False  # both directions stop and closes are not propagated

    def __init__(self, spec: ToxicSpec, direction: Direction) -> None:
        self.spec = spec
        self.a = spec.attributes
        self.dir = direction
        self.link = direction.link
        self.tasks: list[asyncio.Task[None]] = []
        self.active = False  # toxicity drawn for this connection
        self.aim: bool | None = True  # aimed at this connection (None: its client is not known yet)
        self.started = False

    def fault(self, kind: str, **detail: Any) -> None:
        self.link.fault(self.spec, kind, **detail)

    def start(self) -> None:
        """Attached to the connection (connection opened, or toxic added/updated)."""
        self.fault("toxic_attach", type=self.spec.type, attributes=self.a, downstream_port=self.link.downstream_port)

    def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        self.fault("toxic_detach", type=self.spec.type)

    def later(self, delay_s: float, action: Callable[[], None]) -> None:
        async def run() -> None:
            await asyncio.sleep(delay_s)
            action()

        self.tasks.append(asyncio.get_running_loop().create_task(run()))

    async def pipe(self, data: bytes, t: float, nxt: Next) -> None:
        await nxt(data, t)


class Latency(Toxic):
    is_byte = True

    async def pipe(self, data: bytes, t: float, nxt: Next) -> None:
        jitter = self.a["jitter"]
        delay_ms = self.a["latency"] + (random.uniform(-jitter, jitter) if jitter else 0)
        # relative to when the chunk arrived, so back-to-back chunks are not delayed twice
        wait = t + delay_ms / 1000 - asyncio.get_running_loop().time()
        if wait > 0:
            await asyncio.sleep(wait)
        await nxt(data, t)


class Bandwidth(Toxic):
    is_byte = True

    def __init__(self, spec: ToxicSpec, direction: Direction) -> None:
        super().__init__(spec, direction)
        self.next_t = 0.0

    async def pipe(self, data: bytes, t: float, nxt: Next) -> None:
        rate = self.a["rate"] * 1000.0  # bytes per second
        piece = max(1, int(rate * 0.05))  # 50 ms worth per write keeps the rate smooth
        loop = asyncio.get_running_loop()
        for i in range(0, len(data), piece):
            self.next_t = max(self.next_t, loop.time())
            wait = self.next_t - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            part = data[i : i + piece]
            self.next_t += len(part) / rate
            await nxt(part, t)


class Slicer(Toxic):
    is_byte = True

    async def pipe(self, data: bytes, t: float, nxt: Next) -> None:
        avg, var, delay_us = self.a["average_size"], self.a["size_variation"], self.a["delay"]
        pos = 0
        while pos < len(data):
            size = max(1, avg + (random.randint(-var, var) if var else 0))
            await nxt(data[pos : pos + size], t)
            pos += size
            if delay_us and pos < len(data):
                await asyncio.sleep(delay_us / 1e6)


class LimitData(Toxic):
    is_byte = True

    def __init__(self, spec: ToxicSpec, direction: Direction) -> None:
        super().__init__(spec, direction)
        self.count = 0

    async def pipe(self, data: bytes, t: float, nxt: Next) -> None:
        limit = self.a["bytes"]
        part = data[: max(0, limit - self.count)]
        if part:
            self.count += len(part)
            await nxt(part, t)
        if self.count >= limit:
            self.fault("limit_data", event="close", bytes=self.count)
            self.link.close("limit_data")


class Timeout(Toxic):
    """Blackhole: nothing passes; after `timeout` ms the connection closes (0 = never)."""

    is_byte = True

    def start(self) -> None:
        super().start()
        if self.a["timeout"]:
            self.later(self.a["timeout"] / 1000, self._expire)

    def _expire(self) -> None:
        self.fault("timeout", event="close")
        self.link.close("timeout")

    async def pipe(self, data: bytes, t: float, nxt: Next) -> None:
        self.dir.dropped += len(data)


class ResetPeer(Toxic):
    def start(self) -> None:
        super().start()
        self.later(self.a["timeout"] / 1000, self._reset)

    def _reset(self) -> None:
        self.fault("reset_peer", event="reset")
        self.link.reset("reset_peer")


class SlowClose(Toxic):
    """Read by Direction.finish: the close is passed on `delay` ms late."""


class Down(Toxic):
    """Refuse new connections (RST at accept, see Proxy) and reset existing ones."""

    def start(self) -> None:
        super().start()
        self.fault("down", event="reset")
        asyncio.get_running_loop().call_soon(self.link.reset, "down")


class _Span(Toxic):
    """A fault that lasts while attached: journaled as `start` and `end` under its own kind."""

    def start(self) -> None:
        super().start()
        self.fault(self.spec.type, event="start")

    def stop(self) -> None:
        super().stop()
        self.fault(self.spec.type, event="end")


class Stall(_Span):
    pauses_reading = True


class HalfOpen(_Span):
    freezes_link = True


def _subset(want: Any, have: Any) -> bool:
    if isinstance(want, dict):
        return isinstance(have, dict) and all(k in have and _subset(v, have[k]) for k, v in want.items())
    return want == have


class _Selecting(Toxic):
    """Per-message selection: probability, limit, and (subclasses) a predicate."""

    def _roll(self) -> bool:
        # `limit` counts over the whole proxy: an http_fail closes its connection,
        # so a per-connection count would never run out
        hits = self.link.proxy.hits
        key = (self.spec.name, self.spec.version)
        limit = self.a["limit"]
        if limit and hits.get(key, 0) >= limit:
            return False
        p = self.a["probability"]
        if p < 1.0 and random.random() >= p:
            return False
        hits[key] = hits.get(key, 0) + 1
        return True


class WsToxic(_Selecting):
    is_ws = True

    def selects(self, msg: Message) -> bool:
        op = self.a["opcode"]
        if op == "text" and msg.opcode != OP_TEXT or op == "binary" and msg.opcode != OP_BINARY:
            return False
        if self.a["contains"]:
            if msg.opcode != OP_TEXT or msg.compressed:
                return False
            if self.a["contains"] not in msg.payload.decode("utf-8", "replace"):
                return False
        if self.a["match"] is not None and not _subset(self.a["match"], msg.json()):
            return False
        return self._roll()

    def describe(self, msg: Message) -> dict[str, Any]:
        doc = msg.json()
        info: dict[str, Any] = {"bytes": len(msg.raw), "frames": len(msg.frames), "msg_index": self.dir.messages}
        if isinstance(doc, dict):
            info.update({k: doc[k] for k in ("command", "win", "env") if k in doc and isinstance(doc[k], str | int)})
        return info


class WsDrop(WsToxic):
    pass


class WsDuplicate(WsToxic):
    pass


class WsDelay(WsToxic):
    pass


class WsReorder(WsToxic):
    pass


class HttpToxic(_Selecting):
    is_http = True

    def selects(self, head: HttpHead) -> bool:
        if self.a["method"] and head.method.upper() != self.a["method"].upper():
            return False
        if self.a["path"] and not head.path.startswith(self.a["path"]):
            return False
        return self._roll()


class HttpDelay(HttpToxic):
    pass


class HttpFail(HttpToxic):
    def response(self) -> bytes:
        status, body = self.a["status"], self.a["body"].encode("utf-8")
        reason = {503: "Service Unavailable", 500: "Internal Server Error", 502: "Bad Gateway", 429: "Too Many Requests"}.get(status, "Chaos")
        head = f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {len(body)}\r\nConnection: close\r\nX-Chaos-Toxic: {self.spec.name}\r\n\r\n"
        return head.encode("latin-1") + body


TOXIC_CLASSES: dict[str, type[Toxic]] = {
    "latency": Latency,
    "bandwidth": Bandwidth,
    "slicer": Slicer,
    "limit_data": LimitData,
    "timeout": Timeout,
    "reset_peer": ResetPeer,
    "slow_close": SlowClose,
    "down": Down,
    "stall": Stall,
    "half_open": HalfOpen,
    "ws_drop": WsDrop,
    "ws_duplicate": WsDuplicate,
    "ws_delay": WsDelay,
    "ws_reorder": WsReorder,
    "http_delay": HttpDelay,
    "http_fail": HttpFail,
}
# toxics that act on requests (client -> server) whatever their `stream`
REQUEST_SIDE = frozenset({"http_delay", "http_fail"})
