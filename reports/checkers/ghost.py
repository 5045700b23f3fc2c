"""Ghost subscribers: server-side sockets still established after a client is gone.

The monitor samples the server's established sockets (`sample.peers`: their
remote ports). A subscriber connection's server-side peer port is its
`connect.local_port`, or, through the chaos proxy, the `upstream_port` of the
`proxy_conn` whose `downstream_port` is that local port. A connection is a
ghost when the first sample taken at least `ghost_settle_s` after the client's
disconnect still lists its peer port. Port reuse by a later connection before
that sample makes it undecidable (noted, not counted).
"""

from __future__ import annotations

from typing import Any

from visdom_chaos.reports.checkers.base import Checker
from visdom_chaos.reports.checkers.state import RunState


class GhostChecker(Checker):
    name = "ghost_subscribers"
    handles = ("connect", "disconnect", "proxy_conn", "sample")

    def __init__(self) -> None:
        self.upstream: dict[int, int] = {}  # client port -> proxy's port towards the server
        self.active: dict[str, list[int]] = {}  # "client/conn" -> its local ports, while connected
        self.seen: set[str] = set()  # connections whose server-side socket a sample showed
        self.pending: list[dict[str, Any]] = []
        self.undecided = 0

    def _peers(self, ports: list[int]) -> set[int]:
        return {self.upstream.get(p, p) for p in ports}

    def _reused(self, peers: set[int]) -> None:
        keep = [p for p in self.pending if not (p["peers"] & peers)]
        self.undecided += len(self.pending) - len(keep)
        self.pending = keep

    def on_record(self, rec: dict[str, Any], state: RunState) -> None:
        typ = rec["type"]
        if typ == "sample":
            self._sample(rec, state)
        elif typ == "proxy_conn":
            down, up = rec.get("downstream_port"), rec.get("upstream_port")
            if rec.get("event") == "open" and isinstance(down, int) and isinstance(up, int):
                self._reused({up})
                self.upstream[down] = up
        elif typ == "connect":
            # a browser has several sockets (`local_ports`); a wire client one (`local_port`)
            raw = rec.get("local_ports") or [rec.get("local_port")]
            ports = (
                [p for p in raw if isinstance(p, int) and p > 0] if isinstance(raw, list) else []
            )
            if ports and rec.get("transport") != "polling":
                self._reused(self._peers(ports))
                self.active[f"{rec['client']}/{rec.get('conn', 0)}"] = ports
        elif typ == "disconnect":
            key = f"{rec['client']}/{rec.get('conn', 0)}"
            ports = self.active.pop(key, [])
            if ports:
                self.pending.append(
                    {
                        "key": key,
                        "client": rec["client"],
                        "conn": rec.get("conn", 0),
                        "peers": self._peers(ports),
                        "local_ports": ports,
                        "t": rec["t"],
                        "deadline": rec["t"] + int(state.config.ghost_settle_s * 1e9),
                    }
                )

    def _sample(self, rec: dict[str, Any], state: RunState) -> None:
        peers = rec.get("peers")
        if not isinstance(peers, list):
            return
        peer_set = set(peers)
        t = rec["t"]
        for key, ports in self.active.items():
            if self._peers(ports) & peer_set:
                self.seen.add(key)
        if not self.pending:
            return
        keep = []
        for p in self.pending:
            if p["deadline"] > t:
                keep.append(p)
            elif p["peers"] & peer_set:
                still = sorted(p["peers"] & peer_set)
                state.summary.ghosts[p["key"]] = {
                    "client": p["client"],
                    "conn": p["conn"],
                    "peer_port": still[0],
                    "peer_ports": still,
                    "local_port": p["local_ports"][0],
                    "disconnect_t": p["t"],
                    "still_there_t": t,
                }
        self.pending = keep

    def finish(self, state: RunState) -> None:
        undecided = self.undecided + len(self.pending)
        if undecided:
            state.summary.note(
                f"ghost subscribers: {undecided} disconnect(s) not judged (port reused, or no server"
                f" sample {state.config.ghost_settle_s:g} s after the disconnect)"
            )
        if self.active and not self.seen and not state.summary.ghosts:
            state.summary.note(
                "ghost subscribers: no subscriber socket was ever seen in the server's samples"
            )
