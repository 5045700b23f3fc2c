"""ws_drop: selected WebSocket messages are not forwarded."""

from __future__ import annotations

from .message import WsToxic


class WsDrop(WsToxic):
    pass
