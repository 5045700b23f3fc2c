"""Browser replica: a pure, I/O-free model of one Visdom browser tab.

    r = make_replica(version="0.2.4")          # or "0.3.0"
    effects = r.handle(frame_text, now)          # one server message
    effects += r.tick(now)                       # the tab's timers (batching, retries)
    r.views()  -> {(env, win): [EventId, ...]}   # what the tab has rendered
    r.window(env, win) -> dict | None            # window JSON as the tab holds it
    r.sid, r.env_ids, r.reset()

Effects: Registered, RequestEnv, Applied, WindowClosed, ProtocolError, SendSocket.
The per-version behaviour (and what a reconnect means) is documented in v024.py and
v030.py; JS semantics (fast-json-patch, json-stable-stringify, number formatting) in
jspatch.py, stablejson.py and jsvalue.py.
"""

from __future__ import annotations

from .base import Replica
from .effects import (
    Accepted,
    Applied,
    Effect,
    ProtocolError,
    Registered,
    RequestEnv,
    SendSocket,
    WindowClosed,
)
from .v024 import ReplicaV024
from .v030 import ReplicaV030

REPLICAS: dict[str, type[Replica]] = {"0.2.4": ReplicaV024, "0.3.0": ReplicaV030}
SUPPORTED_VERSIONS = tuple(REPLICAS)


def make_replica(
    version: str,
    env_ids: list[str] | tuple[str, ...] = ("main",),
    transport: str = "websocket",
    variant: str = "stock",
) -> Replica:
    """A fresh tab of that Visdom version (`variant="patched"`: behind the patches' resume
    shim); ValueError names the supported versions and variants."""
    try:
        cls = REPLICAS[version]
    except KeyError:
        raise ValueError(
            f"no browser replica for Visdom {version!r}; supported: {', '.join(SUPPORTED_VERSIONS)}"
        ) from None
    if variant == "patched":
        from .patched import make_patched_replica

        return make_patched_replica(cls, env_ids=env_ids, transport=transport)
    if variant != "stock":
        raise ValueError(f"no browser replica variant {variant!r}; supported: stock, patched")
    return cls(env_ids=env_ids, transport=transport)


__all__ = [
    "Accepted",
    "Applied",
    "Effect",
    "ProtocolError",
    "Registered",
    "Replica",
    "ReplicaV024",
    "ReplicaV030",
    "RequestEnv",
    "SUPPORTED_VERSIONS",
    "SendSocket",
    "WindowClosed",
    "make_replica",
]
