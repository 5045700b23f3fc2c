"""bandwidth: at most `rate` KB/s (KB = 1000 bytes), paced in 50 ms slices."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from ..spec import ToxicSpec
from .base import ByteToxic, Next

if TYPE_CHECKING:
    from ..direction import Direction


class Bandwidth(ByteToxic):
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
