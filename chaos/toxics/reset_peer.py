"""reset_peer: `timeout` ms after the toxic meets the connection, both sockets get an RST."""

from __future__ import annotations

from .base import Toxic


class ResetPeer(Toxic):
    def start(self) -> None:
        super().start()
        self.later(self.a["timeout"] / 1000, self._reset)

    def _reset(self) -> None:
        self.fault("reset_peer", event="reset")
        self.link.reset("reset_peer")
