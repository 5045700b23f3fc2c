"""down: new connections are reset at accept (see Proxy), live ones are reset."""

from __future__ import annotations

import asyncio

from .base import Toxic


class Down(Toxic):
    """Refuse new connections (RST at accept, see Proxy) and reset existing ones."""

    def start(self) -> None:
        super().start()
        self.fault("down", event="reset")
        asyncio.get_running_loop().call_soon(self.link.reset, "down")
