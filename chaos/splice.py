"""Zero-copy forwarding for a stream no toxic touches: Linux splice(2) through a pipe.

With no toxic on a direction the proxy only passes bytes on, yet the userland path
copies each chunk twice (recv into a new bytes object, send out of it) and runs the
transport machinery per chunk. Here the transport's reading is paused and the source
socket's readiness is watched on a dup of its fd (asyncio refuses a reader on a
transport's own fd); each readiness moves what is there socket -> pipe -> socket in
the kernel (SPLICE_F_NONBLOCK | SPLICE_F_MOVE).

A toxic may attach at any moment and then needs the stream's parser state exact, so
only states where the HTTP tracker needs no byte looked at are spliced
(Segmenter.spliceable): opaque streams (not followable HTTP, not WebSocket), and an
HTTP body of known length, spliced up to its end so the next head is read in userland.
Anything else (a head, bytes queued in the destination's transport, EOF, an error)
hands the stream back to the transport, which then reads and reports it as before.
Every callback leaves the pipe empty, so one pipe serves every stream of an event loop
and handing back is immediate.

WebSocket frames stay on the transport path, skimmed there. Spliced, their frame
boundaries must still be followed (a message toxic attached later starts at one), so
each read is peeked and skimmed anyway; measured side by side (bench proxy, 1 KiB and
64 KiB messages) that was no cheaper than recv + send, and at 64 KiB it cost more.

VISDOM_CHAOS_SPLICE=0 turns it off (the userland path for everything); it is off where
os.splice does not exist (not Linux).
"""

from __future__ import annotations

import asyncio
import os
import socket
import weakref
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .direction import Direction

SPLICE_ENV = "VISDOM_CHAOS_SPLICE"  # "0" / "off": never splice
PIPE_SIZE = 256 << 10  # as much as the stdlib transport reads at once
ROUNDS = 4  # socket -> pipe -> socket moves per readiness, then other connections get a turn
FLAGS = getattr(os, "SPLICE_F_NONBLOCK", 0) | getattr(os, "SPLICE_F_MOVE", 0)


def enabled() -> bool:
    if not hasattr(os, "splice"):
        return False
    return os.environ.get(SPLICE_ENV, "1").strip().lower() not in ("0", "off", "no", "false")


class LoopPipe:
    """The pipe one event loop's splicers share (empty between callbacks)."""

    def __init__(self) -> None:
        import fcntl  # here, not at the top: no fcntl on Windows, where nothing splices

        self.r, self.w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            fcntl.fcntl(self.w, fcntl.F_SETPIPE_SZ, PIPE_SIZE)
        except OSError:
            pass  # keep the default size (capped by /proc/sys/fs/pipe-max-size)
        self.size = fcntl.fcntl(self.w, fcntl.F_GETPIPE_SZ)

    def read_all(self, n: int) -> bytes:
        """Take `n` bytes back out of the pipe (when the destination would block)."""
        parts = []
        while n > 0:
            chunk = os.read(self.r, n)
            if not chunk:
                break
            parts.append(chunk)
            n -= len(chunk)
        return b"".join(parts)

    def close(self) -> None:
        for fd in (self.r, self.w):
            try:
                os.close(fd)
            except OSError:
                pass


_pipes: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LoopPipe] = weakref.WeakKeyDictionary()


def loop_pipe(loop: asyncio.AbstractEventLoop) -> LoopPipe:
    pipe = _pipes.get(loop)
    if pipe is None:
        pipe = _pipes[loop] = LoopPipe()
        weakref.finalize(loop, pipe.close)
    return pipe


def _fileno(side_transport: asyncio.BaseTransport | None) -> int:
    sock = side_transport.get_extra_info("socket") if side_transport is not None else None
    return sock.fileno() if sock is not None else -1


class Splicer:
    """Moves one direction's bytes in the kernel while Direction.splice_ok() holds."""

    def __init__(self, direction: Direction) -> None:
        self.d = direction
        self.sock: socket.socket | None = None  # a dup of the source socket, watched for reading
        self.loop: asyncio.AbstractEventLoop | None = None
        self.resting = False  # EOF or an error seen: the transport reads until it feeds again
        self.moved = 0  # bytes moved on this path (tests read it)

    @property
    def active(self) -> bool:
        return self.sock is not None

    def start(self) -> bool:
        """Watch the source socket; False (stay in userland) when that cannot be done."""
        if self.sock is not None:
            return True
        if self.resting:
            return False
        fd = _fileno(self.d.src.transport)
        if fd < 0 or _fileno(self.d.dst.transport) < 0:
            return False
        try:
            sock = socket.socket(fileno=os.dup(fd))
            self.loop = asyncio.get_running_loop()
            self.loop.add_reader(sock.fileno(), self._ready)
        except (OSError, RuntimeError, ValueError):
            return False
        self.sock = sock
        return True

    def stop(self) -> None:
        """Stop watching. Must run before the source socket is closed or reset: the dup
        would otherwise keep it open (no FIN, no RST)."""
        sock, self.sock = self.sock, None
        if sock is None:
            return
        if self.loop is not None and not self.loop.is_closed():
            self.loop.remove_reader(sock.fileno())
        sock.close()

    def _hand_back(self, resting: bool = False) -> None:
        self.resting = self.resting or resting
        self.stop()
        self.d.update_reading()

    def _ready(self) -> None:
        d, sock = self.d, self.sock
        if sock is None or self.loop is None:
            return
        pipe = loop_pipe(self.loop)
        for _ in range(ROUNDS):
            if not d.splice_ok():
                self._hand_back()
                return
            try:
                more = self._move(sock, pipe)
            except BlockingIOError:
                return
            except OSError:
                # what the transport does on a read error: close, connection_lost, EOF on
                self._hand_back(resting=True)
                if d.src.transport is not None:
                    d.src.transport.abort()
                return
            if not more:
                return

    def _move(self, sock: socket.socket, pipe: LoopPipe) -> bool:
        """An opaque stream or an HTTP body: splice, counting the body down. True: go on."""
        http = self.d.segmenter.http
        want = pipe.size if http.phase != "body" else min(pipe.size, http.body_left)
        n = os.splice(sock.fileno(), pipe.w, want, flags=FLAGS)
        if n == 0:
            self._hand_back(resting=True)  # EOF: the transport reads it and reports it
            return False
        if http.phase == "body":
            http.body_left -= n
            if not http.body_left:
                http.phase = "head"  # the next head is read in userland
        self._moved(n)
        return self._flush(pipe, n) and n == want

    def _moved(self, n: int) -> None:
        self.d.bytes_in += n
        self.moved += n

    def _flush(self, pipe: LoopPipe, n: int) -> bool:
        """Pipe -> destination; what would block goes to the destination's transport."""
        d = self.d
        fd = _fileno(d.dst.transport)
        left = n
        try:
            while left and fd >= 0:
                m = os.splice(pipe.r, fd, left, flags=FLAGS)
                if m <= 0:
                    break
                left -= m
        except BlockingIOError:
            pass
        except OSError:
            # the destination is gone: its transport would have failed the same write
            pipe.read_all(left)
            d.dropped += left
            d.bytes_out += n - left
            if d.dst.transport is not None:
                d.dst.transport.abort()
            self._hand_back()
            return False
        d.bytes_out += n - left
        if not left:
            return True
        # queued in the transport (ordered before anything written later), then flow control
        d.dst.write(pipe.read_all(left))
        d.bytes_out += left
        d.block_if_full()
        self._hand_back()
        return False
