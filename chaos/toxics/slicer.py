"""slicer: chunks cut into pieces of `average_size` ± `size_variation` bytes, `delay` µs apart."""

from __future__ import annotations

import asyncio
import random

from .base import ByteToxic, Next


class Slicer(ByteToxic):
    async def pipe(self, data: bytes, t: float, nxt: Next) -> None:
        avg, var, delay_us = self.a["average_size"], self.a["size_variation"], self.a["delay"]
        pos = 0
        while pos < len(data):
            size = max(1, avg + (random.randint(-var, var) if var else 0))
            await nxt(data[pos : pos + size], t)
            pos += size
            if delay_us and pos < len(data):
                await asyncio.sleep(delay_us / 1e6)
