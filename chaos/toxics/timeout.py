"""timeout: a blackhole; after `timeout` ms the connection closes (0 = held open forever)."""

from __future__ import annotations

from .base import ByteToxic, Next


class Timeout(ByteToxic):
    def start(self) -> None:
        super().start()
        if self.a["timeout"]:
            self.later(self.a["timeout"] / 1000, self._expire)

    def _expire(self) -> None:
        self.fault("timeout", event="close")
        self.link.close("timeout")

    async def pipe(self, data: bytes, t: float, nxt: Next) -> None:
        self.direction.dropped += len(data)
