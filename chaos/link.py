"""One proxied connection: a client socket, its upstream socket, and a Direction each way.

The link owns what concerns the connection as a whole: which toxics act on it (aimed
at its client, toxicity drawn once), whether it is frozen (half_open), and how it
ends: half-closes passed on, a graceful close, an RST, or an answer of our own.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any

from .direction import Direction
from .httpstream import HttpHead
from .side import Side
from .spec import CLIENT_HEADER, ToxicSpec
from .toxics import REQUEST_SIDE, TOXIC_CLASSES, Toxic

if TYPE_CHECKING:
    from .proxy import Proxy

ANSWER_LINGER_S = 0.2  # http_fail: time for the client to read the answer before the close


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
        self.proxy.log.fault(
            self.proxy.name, spec.name, kind, spec.stream, conn=self.conn, **detail
        )

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

    def holds_messages(self) -> bool:
        """Does a toxic that holds messages act on either stream? If not, held ones leave at once."""
        return any(t.holds_messages for d in self.dirs.values() for t in d.toxics)

    # -- toxics ------------------------------------------------------------------
    def sync(self, specs: list[ToxicSpec]) -> None:
        """Bring this connection's toxics in line with the proxy's list."""
        wanted = {s.name: s for s in specs}
        aims = {s.name: self.aim(s) for s in specs}
        for name, tox in list(self.toxics.items()):
            s = wanted.get(name)
            if (
                s is None
                or s.version != tox.spec.version
                or s.stream != tox.spec.stream
                or aims[name] != tox.aim
            ):
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
            d.set_toxics(
                [
                    self.toxics[s.name]
                    for s in specs
                    if self.toxics[s.name].active and self.toxics[s.name].direction is d
                ],
                undecided_http=any(
                    t.aim is None and t.judges_requests and t.direction is d
                    for t in self.toxics.values()
                ),
            )
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
        self.proxy.log.conn(
            self.proxy.name, self.conn, "open", self.downstream_port, self.upstream_port
        )
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
            self.proxy.log.conn(
                self.proxy.name,
                self.conn,
                "close",
                self.downstream_port,
                self.upstream_port,
                reason=self.reason,
            )

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
        self._stop_splicing()
        self.client.close()
        self.upstream.close()
        self._finish()

    def reset(self, reason: str) -> None:
        """Abortive: RST to both sides (SO_LINGER 0), unsent data discarded."""
        if self.closed:
            return
        self.closed, self.reason = True, reason
        self._stop_splicing()
        self.client.reset()
        self.upstream.reset()
        self._finish()

    def _stop_splicing(self) -> None:
        # a splicer's dup of a socket would keep it open past close() / reset()
        for d in self.dirs.values():
            if d.splicer is not None:
                d.splicer.stop()

    def _finish(self) -> None:
        current = asyncio.current_task()
        for t in self.tasks:
            if t is not current:
                t.cancel()
        self._done.set()
