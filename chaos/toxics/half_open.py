"""half_open: nothing is forwarded either way and nothing is closed while the toxic is on."""

from __future__ import annotations

from .base import Span


class HalfOpen(Span):
    freezes_link = True
