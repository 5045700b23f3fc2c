"""limit_data: the connection closes once `bytes` have passed on this stream."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..spec import ToxicSpec
from .base import ByteToxic, Next

if TYPE_CHECKING:
    from ..direction import Direction


class LimitData(ByteToxic):
    def __init__(self, spec: ToxicSpec, direction: Direction) -> None:
        super().__init__(spec, direction)
        self.count = 0

    async def pipe(self, data: bytes, t: float, nxt: Next) -> None:
        limit = self.a["bytes"]
        part = data[: max(0, limit - self.count)]
        if part:
            self.count += len(part)
            await nxt(part, t)
        if self.count >= limit:
            self.fault("limit_data", event="close", bytes=self.count)
            self.link.close("limit_data")
