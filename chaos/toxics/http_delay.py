"""http_delay: matching requests reach the server `delay` ms late."""

from __future__ import annotations

from .message import HttpToxic


class HttpDelay(HttpToxic):
    pass
