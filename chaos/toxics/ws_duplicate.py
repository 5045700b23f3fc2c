"""ws_duplicate: selected messages are forwarded 1 + `copies` times."""

from __future__ import annotations

from .message import WsToxic


class WsDuplicate(WsToxic):
    pass
