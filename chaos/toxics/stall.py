"""stall: the stream's source socket is not read while the toxic is on (backpressure)."""

from __future__ import annotations

from .base import Span


class Stall(Span):
    pauses_reading = True
