"""ws_reorder: a selected message is held until `after` later messages have passed (or `max_hold` ms)."""

from __future__ import annotations

from .message import WsToxic


class WsReorder(WsToxic):
    pass
