"""ws_delay: selected messages are held `delay` ms while later ones pass."""

from __future__ import annotations

from .message import WsToxic


class WsDelay(WsToxic):
    pass
