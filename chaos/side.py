"""One socket of a proxied connection, as a plain asyncio Protocol.

No StreamReader in between: received bytes go straight to the Direction that
reads this socket (no extra copy, no re-slicing), and writing is the transport's
own write plus its flow control (pause_writing / resume_writing) as the drain.
Reading starts paused and is switched on by the link once both sides exist.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import Callable
from typing import Any, Protocol, cast


class Sink(Protocol):
    def feed(self, data: bytes) -> None: ...
    def feed_eof(self) -> None: ...


class Side(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.sink: Sink | None = None
        self.early: list[bytes] = []  # bytes that arrived before the link was wired
        self.eof = False  # the peer sent FIN (or the socket is gone)
        self.eof_sent = False  # we sent FIN: nothing more may be written
        self.lost = False
        self.reading = False
        self._writable = asyncio.Event()
        self._writable.set()
        self.on_writable: list[Callable[[], None]] = []
        self.on_made: Callable[[Side], None] | None = None

    # -- asyncio.Protocol ---------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # a stream transport (uvloop's do not subclass asyncio.Transport, but have its API)
        self.transport = cast(asyncio.Transport, transport)
        self.transport.pause_reading()
        # uvloop starts reading once connection_made returns, whatever it asked: ask again
        asyncio.get_running_loop().call_soon(self._initial_pause)
        if self.on_made is not None:
            self.on_made(self)

    def _initial_pause(self) -> None:
        if not self.reading and not self.lost and self.transport is not None:
            self.transport.pause_reading()

    def data_received(self, data: bytes) -> None:
        if self.sink is None:
            self.early.append(data)
        else:
            self.sink.feed(data)

    def eof_received(self) -> bool:
        self.eof = True
        if self.sink is not None:
            self.sink.feed_eof()
        return True  # keep the transport open: the other direction may still be talking

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self._writable.set()
        if not self.eof:
            self.eof = True
            if self.sink is not None:
                self.sink.feed_eof()
        self._fire_writable()

    def pause_writing(self) -> None:
        self._writable.clear()

    def resume_writing(self) -> None:
        self._writable.set()
        self._fire_writable()

    def _fire_writable(self) -> None:
        callbacks, self.on_writable = self.on_writable, []
        for cb in callbacks:
            cb()

    # -- used by the link ------------------------------------------------------------
    def attach(self, sink: Sink) -> None:
        self.sink = sink
        early, self.early = self.early, []
        for data in early:
            sink.feed(data)
        if self.eof:
            sink.feed_eof()

    @property
    def writable(self) -> bool:
        return self._writable.is_set()

    def idle(self) -> bool:
        """Open for writing with nothing queued: bytes may go to the socket directly."""
        t = self.transport
        return (
            t is not None
            and not self.lost
            and not self.eof_sent
            and self._writable.is_set()
            and not t.is_closing()
            and t.get_write_buffer_size() == 0
        )

    def set_reading(self, on: bool) -> None:
        if self.transport is None or self.lost or on == self.reading:
            return
        self.reading = on
        if on:
            self.transport.resume_reading()
        else:
            self.transport.pause_reading()

    def write(self, data: bytes) -> None:
        if (
            self.transport is not None
            and not self.lost
            and not self.eof_sent
            and not self.transport.is_closing()
        ):
            self.transport.write(data)

    async def drain(self) -> None:
        if not self._writable.is_set():
            await self._writable.wait()

    def write_eof(self) -> None:
        if (
            self.transport is not None
            and not self.lost
            and not self.eof_sent
            and self.transport.can_write_eof()
            and not self.transport.is_closing()
        ):
            self.eof_sent = True
            self.transport.write_eof()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def reset(self) -> None:
        """RST instead of FIN (SO_LINGER 0), unsent data discarded."""
        if self.transport is None:
            return
        sock = self.transport.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass
        self.transport.abort()

    def port(self, which: str) -> int:
        try:
            addr: Any = self.transport.get_extra_info(which) if self.transport else None
        except (OSError, ValueError):  # uvloop: the socket is already gone
            return 0
        return int(addr[1]) if addr else 0
