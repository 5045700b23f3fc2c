"""What every toxic is: its runtime state on one stream of one connection, and its lifecycle.

Like Toxiproxy, toxics on a stream form a chain in the order they were added.
Byte toxics (`pipe`) see chunks as they were read and pass them on through `nxt`;
message toxics (ws_*, http_*) see whole WebSocket messages or HTTP request heads
first and decide to pass, drop, duplicate, hold or answer them. Toxicity is rolled
once per connection when a toxic attaches to it (as in Toxiproxy); WebSocket and
HTTP toxics also have a per-message `probability`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from ..spec import ToxicSpec

if TYPE_CHECKING:
    from ..direction import Direction

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


class Span(Toxic):
    """A fault that lasts while attached: journaled as `start` and `end` under its own kind."""

    def start(self) -> None:
        super().start()
        self.fault(self.spec.type, event="start")

    def stop(self) -> None:
        super().stop()
        self.fault(self.spec.type, event="end")
