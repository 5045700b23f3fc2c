"""chaos: a TCP / HTTP / WebSocket fault-injection proxy with a Toxiproxy-shaped API.

Generic: nothing here knows about Visdom. `python -m visdom_chaos.chaos serve` runs it alone;
`ChaosServer` runs it in-process (background thread), `ChaosClient` drives it
(or a real Toxiproxy) over HTTP. See docs/chaos.md.
"""

from .client import ChaosClient
from .server import ChaosServer
from .spec import TOXIC_TYPES, ChaosError

__all__ = ["ChaosClient", "ChaosError", "ChaosServer", "TOXIC_TYPES"]
