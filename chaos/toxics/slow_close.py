"""slow_close: the close (FIN) is passed on `delay` ms late."""

from __future__ import annotations

import asyncio

from .base import Toxic


class SlowClose(Toxic):
    async def on_eof(self) -> None:
        if self.a["delay"]:
            self.fault("slow_close", delay_ms=self.a["delay"])
            await asyncio.sleep(self.a["delay"] / 1000)
