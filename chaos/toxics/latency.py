"""latency: each chunk leaves `latency` ± `jitter` ms after it arrived."""

from __future__ import annotations

import asyncio
import random

from .base import ByteToxic, Next


class Latency(ByteToxic):
    async def pipe(self, data: bytes, t: float, nxt: Next) -> None:
        jitter = self.a["jitter"]
        delay_ms = self.a["latency"] + (random.uniform(-jitter, jitter) if jitter else 0)
        # relative to when the chunk arrived, so back-to-back chunks are not delayed twice
        wait = t + delay_ms / 1000 - asyncio.get_running_loop().time()
        if wait > 0:
            await asyncio.sleep(wait)
        await nxt(data, t)
