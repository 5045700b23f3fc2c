"""slow_close: the close (FIN) is passed on `delay` ms late."""

from __future__ import annotations

from .base import Toxic


class SlowClose(Toxic):
    """Read by Direction.finish: the close is passed on `delay` ms late."""
