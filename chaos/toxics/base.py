"""What every toxic is: one toxic on one stream of one connection, and where it can act.

As in Toxiproxy, a toxic's runtime object is made per connection (Link.sync) and the
toxics on a stream form a chain in the order they were added. A toxic acts at one or
more of these points; the defaults here pass everything on untouched:

    judge_message(msg)   a whole WebSocket data message -> a verdict    ws_* (message.py)
    judge_request(head)  a whole HTTP request head -> a verdict         http_* (message.py)
    pipe(data, t, nxt)   every chunk of bytes, handed on through `nxt`  ByteToxic below
    start() / stop()     it meets / leaves the connection               reset_peer, down, Span
    on_eof()             the source closed; the close waits for it      slow_close

Each stream shows a toxic only what its flags ask for (whole messages cost a frame
parse, whole heads hold bytes back), so a toxic declares them along with its hooks.
Toxicity is drawn once per connection when a toxic meets it (as in Toxiproxy);
message toxics also select per message (`probability`, `limit`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from ..httpstream import HttpHead
from ..spec import ToxicSpec
from ..wsframe import Message
from .verdict import PASS, Fault, MessageVerdict, RequestVerdict

if TYPE_CHECKING:
    from ..direction import Direction

Next = Callable[[bytes, float], Awaitable[None]]  # the rest of the byte chain: (data, arrival time)


class Toxic:
    """Runtime state of one toxic on one connection (created by Link.sync)."""

    judges_messages = False  # gets whole WebSocket messages (the stream splits frames out for it)
    judges_requests = False  # gets whole HTTP request heads (always on the upstream stream)
    pipes_bytes = False  # is a link of the byte chain
    holds_messages = False  # may hold messages back (held ones go out at once when none is left)
    pauses_reading = False  # the direction stops reading its source
    freezes_link = False  # both directions stop and closes are not propagated

    def __init__(self, spec: ToxicSpec, direction: Direction) -> None:
        self.spec = spec
        self.a = spec.attributes
        self.direction = direction
        self.link = direction.link
        self.tasks: list[asyncio.Task[None]] = []
        self.active = False  # toxicity drawn for this connection
        self.aim: bool | None = True  # aimed at this connection (None: its client is not known yet)
        self.started = False

    def fault(self, kind: str, **detail: Any) -> None:
        self.link.fault(self.spec, kind, **detail)

    def record(self, fault: Fault) -> None:
        self.fault(fault.kind, **fault.detail)

    # -- the points where a toxic acts -----------------------------------------------
    def start(self) -> None:
        """Attached to the connection (connection opened, or toxic added/updated)."""
        self.fault(
            "toxic_attach",
            type=self.spec.type,
            attributes=self.a,
            downstream_port=self.link.downstream_port,
        )

    def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        self.fault("toxic_detach", type=self.spec.type)

    def judge_message(self, msg: Message) -> MessageVerdict:
        return PASS

    def judge_request(self, head: HttpHead) -> RequestVerdict:
        return PASS

    async def pipe(self, data: bytes, t: float, nxt: Next) -> None:
        await nxt(data, t)

    async def on_eof(self) -> None:
        """The stream's source sent EOF; the half-close is passed on when this returns."""

    # -- helpers -----------------------------------------------------------------------
    def later(self, delay_s: float, action: Callable[[], None]) -> None:
        """Run `action` after `delay_s`, unless the toxic is stopped first."""

        async def run() -> None:
            await asyncio.sleep(delay_s)
            action()

        self.tasks.append(asyncio.get_running_loop().create_task(run()))


class ByteToxic(Toxic):
    """Sees every chunk as it was read (`t` = when it arrived) and hands bytes on through `nxt`:
    later, cut up, fewer, or none at all."""

    pipes_bytes = True

    async def pipe(self, data: bytes, t: float, nxt: Next) -> None:
        raise NotImplementedError


class Span(Toxic):
    """A fault that lasts while attached: journaled as `start` and `end` under its own kind."""

    def start(self) -> None:
        super().start()
        self.fault(self.spec.type, event="start")

    def stop(self) -> None:
        super().stop()
        self.fault(self.spec.type, event="end")
