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

from reports.checkers.base import Checker
from reports.checkers.state import RunState


class GhostChecker(Checker):
    name = "ghost_subscribers"
    handles = ("connect", "disconnect", "proxy_conn", "sample")

    def __init__(self) -> None:
        self.upstream: dict[int, int] = {}  # client port -> proxy's port towards the server
        self.active: dict[str, int] = {}  # "client/conn" -> local port, while connected
        self.seen: set[str] = set()  # connections whose server-side socket a sample showed
        self.pending: list[dict[str, Any]] = []
        self.undecided = 0

    def _peer(self, port: int) -> int:
        return self.upstream.get(port, port)

    def _reused(self, peer: int) -> None:
        keep = [p for p in self.pending if p["peer"] != peer]
        self.undecided += len(self.pending) - len(keep)
        self.pending = keep

    def on_record(self, rec: dict[str, Any], state: RunState) -> None:
        typ = rec["type"]
        if typ == "sample":
            self._sample(rec, state)
        elif typ == "proxy_conn":
            down, up = rec.get("downstream_port"), rec.get("upstream_port")
            if rec.get("event") == "open" and isinstance(down, int) and isinstance(up, int):
                self._reused(up)
                self.upstream[down] = up
        elif typ == "connect":
            port = rec.get("local_port")
            if isinstance(port, int) and rec.get("transport") != "polling":
                self._reused(self._peer(port))
                self.active[f"{rec['client']}/{rec.get('conn', 0)}"] = port
        elif typ == "disconnect":
            key = f"{rec['client']}/{rec.get('conn', 0)}"
            port = self.active.pop(key, None)
            if port is not None:
                self.pending.append({
                    "key": key, "client": rec["client"], "conn": rec.get("conn", 0),
                    "peer": self._peer(port), "local_port": port, "t": rec["t"],
                    "deadline": rec["t"] + int(state.config.ghost_settle_s * 1e9),
                    "seen": key in self.seen,
                })

    def _sample(self, rec: dict[str, Any], state: RunState) -> None:
        peers = rec.get("peers")
        if not isinstance(peers, list):
            return
        peer_set = set(peers)
        t = rec["t"]
        for key, port in self.active.items():
            if self._peer(port) in peer_set:
                self.seen.add(key)
        if not self.pending:
            return
        keep = []
        for p in self.pending:
            if p["deadline"] > t:
                keep.append(p)
            elif p["peer"] in peer_set:
                state.summary.ghosts[p["key"]] = {
                    "client": p["client"], "conn": p["conn"], "peer_port": p["peer"],
                    "local_port": p["local_port"], "disconnect_t": p["t"], "still_there_t": t,
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
            state.summary.note("ghost subscribers: no subscriber socket was ever seen in the server's samples")
