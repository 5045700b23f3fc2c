"""The toxics: one module per type, and the table Link.sync builds them from.

Each module holds one toxic type; the bases are in base.py (every toxic, byte
toxics) and message.py (WebSocket and HTTP message toxics), the verdicts message
toxics return in verdict.py. A type's attributes, defaults and validation live in
chaos/spec.py (TOXIC_TYPES).
"""

from __future__ import annotations

from .bandwidth import Bandwidth
from .base import ByteToxic, Next, Toxic
from .down import Down
from .half_open import HalfOpen
from .http_delay import HttpDelay
from .http_fail import HttpFail
from .latency import Latency
from .limit_data import LimitData
from .message import HttpToxic, WsToxic
from .path_prefix import PathPrefix
from .reset_peer import ResetPeer
from .slicer import Slicer
from .slow_close import SlowClose
from .stall import Stall
from .timeout import Timeout
from .ws_delay import WsDelay
from .ws_drop import WsDrop
from .ws_duplicate import WsDuplicate
from .ws_reorder import WsReorder

TOXIC_CLASSES: dict[str, type[Toxic]] = {
    "latency": Latency,
    "bandwidth": Bandwidth,
    "slicer": Slicer,
    "limit_data": LimitData,
    "timeout": Timeout,
    "reset_peer": ResetPeer,
    "slow_close": SlowClose,
    "down": Down,
    "stall": Stall,
    "half_open": HalfOpen,
    "ws_drop": WsDrop,
    "ws_duplicate": WsDuplicate,
    "ws_delay": WsDelay,
    "ws_reorder": WsReorder,
    "http_delay": HttpDelay,
    "http_fail": HttpFail,
    "path_prefix": PathPrefix,
}
# toxics that act on requests (client -> server) whatever their `stream`
REQUEST_SIDE = frozenset(name for name, cls in TOXIC_CLASSES.items() if cls.judges_requests)

__all__ = [
    "REQUEST_SIDE",
    "TOXIC_CLASSES",
    "Bandwidth",
    "ByteToxic",
    "Down",
    "HalfOpen",
    "HttpDelay",
    "HttpFail",
    "HttpToxic",
    "Latency",
    "LimitData",
    "Next",
    "PathPrefix",
    "ResetPeer",
    "Slicer",
    "SlowClose",
    "Stall",
    "Timeout",
    "Toxic",
    "WsDelay",
    "WsDrop",
    "WsDuplicate",
    "WsReorder",
    "WsToxic",
]
