"""A proxy: a listener, its upstream, its toxics and its live connections."""

from __future__ import annotations

import asyncio
import itertools
import random
from typing import Any

from .addr import check_address, format_hostport
from .faultlog import FaultLog
from .link import Link
from .side import Side
from .spec import ChaosError, ToxicSpec

CONNECT_TIMEOUT_S = 5.0


class Proxy:
    def __init__(
        self,
        name: str,
        listen: str,
        upstream: str,
        log: FaultLog,
        counter: itertools.count[int],
        *,
        allow_remote: bool = False,
    ) -> None:
        if not isinstance(name, str) or not name:
            raise ChaosError("proxy: name must be a non-empty string")
        self.name = name
        self.allow_remote = allow_remote
        self.listen_host, self.listen_port = check_address(
            listen, f"proxy {name!r} field 'listen'", allow_remote
        )
        self.upstream = upstream
        self.upstream_host, self.upstream_port = check_address(
            upstream, f"proxy {name!r} field 'upstream'", allow_remote
        )
        self.log = log
        self.counter = counter
        self.enabled = False
        self.server: asyncio.Server | None = None
        self.toxics: list[ToxicSpec] = []
        self.links: dict[int, Link] = {}
        self.hits: dict[
            tuple[str, int], int
        ] = {}  # (toxic, version) -> messages selected, for `limit`
        self.tasks: set[asyncio.Task[None]] = set()

    @property
    def listen(self) -> str:
        return format_hostport(self.listen_host, self.listen_port)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "listen": self.listen,
            "upstream": self.upstream,
            "enabled": self.enabled,
            "toxics": [t.to_json() for t in self.toxics],
        }

    # -- listener ----------------------------------------------------------------
    async def enable(self) -> None:
        if self.enabled:
            return
        try:
            loop = asyncio.get_running_loop()
            self.server = await loop.create_server(
                self._new_side, self.listen_host, self.listen_port, reuse_address=True
            )
        except OSError as e:
            raise ChaosError(
                f"proxy {self.name!r}: cannot listen on {self.listen}: {e.strerror or e}", 500
            ) from None
        # a port asked as 0 keeps the one the OS chose, so re-enabling reuses it
        self.listen_port = self.server.sockets[0].getsockname()[1]
        self.enabled = True

    async def disable(self) -> None:
        """Toxiproxy's `enabled: false`: stop listening and close every connection."""
        if self.server is not None:
            self.server.close()
            self.server = None
        self.enabled = False
        for link in list(self.links.values()):
            link.close("disabled")
        await self._drain_tasks()

    async def _drain_tasks(self) -> None:
        if self.tasks:
            await asyncio.wait(list(self.tasks), timeout=2.0)

    def set_upstream(self, upstream: str) -> None:
        self.upstream_host, self.upstream_port = check_address(
            upstream, f"proxy {self.name!r} field 'upstream'", self.allow_remote
        )
        self.upstream = upstream

    # -- toxics --------------------------------------------------------------------
    def find_toxic(self, name: str) -> int:
        for i, t in enumerate(self.toxics):
            if t.name == name:
                return i
        raise ChaosError(f"toxic not found: {name!r} on proxy {self.name!r}", 404)

    def add_toxic(self, body: Any) -> ToxicSpec:
        spec = ToxicSpec.from_json(body)
        if any(t.name == spec.name for t in self.toxics):
            raise ChaosError(f"toxic already exists: {spec.name!r} on proxy {self.name!r}", 409)
        self.toxics.append(spec)
        self.log.fault(
            self.name,
            spec.name,
            "toxic_add",
            spec.stream,
            type=spec.type,
            toxicity=spec.toxicity,
            attributes=spec.attributes,
        )
        self._sync()
        return spec

    def update_toxic(self, name: str, body: Any) -> ToxicSpec:
        i = self.find_toxic(name)
        spec = self.toxics[i].updated(body)
        self.toxics[i] = spec
        self.log.fault(
            self.name,
            spec.name,
            "toxic_update",
            spec.stream,
            type=spec.type,
            toxicity=spec.toxicity,
            attributes=spec.attributes,
        )
        self._sync()
        return spec

    def remove_toxic(self, name: str) -> None:
        spec = self.toxics.pop(self.find_toxic(name))
        self.log.fault(self.name, spec.name, "toxic_remove", spec.stream, type=spec.type)
        self._sync()

    def clear_toxics(self) -> None:
        for spec in list(self.toxics):
            self.remove_toxic(spec.name)

    def _sync(self) -> None:
        for link in list(self.links.values()):
            if not link.closed:
                link.sync(self.toxics)

    # -- connections ---------------------------------------------------------------
    def _new_side(self) -> Side:
        side = Side()
        side.on_made = self._accepted
        return side

    def _accepted(self, client: Side) -> None:
        task = asyncio.get_running_loop().create_task(self._serve(client))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _serve(self, client: Side) -> None:
        conn = next(self.counter)
        down_port = client.port("peername")
        for spec in self.toxics:
            if spec.clients or (spec.downstream_port and spec.downstream_port != down_port):
                continue  # aimed: a client is named by its first request (Down.start resets it then)
            if spec.type == "down" and (spec.toxicity >= 1 or random.random() < spec.toxicity):
                self.log.fault(
                    self.name,
                    spec.name,
                    "down",
                    spec.stream,
                    conn=conn,
                    event="refused",
                    downstream_port=down_port,
                )
                client.reset()
                return
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT_S):
                _, up = await asyncio.get_running_loop().create_connection(
                    Side, self.upstream_host, self.upstream_port
                )
        except (OSError, TimeoutError) as e:
            self.log.conn(self.name, conn, "open", down_port, 0)
            self.log.conn(
                self.name, conn, "close", down_port, 0, reason=f"upstream_unreachable: {e}"
            )
            client.close()
            return
        link = Link(self, conn, client, up)
        self.links[conn] = link
        try:
            await link.run(self.toxics)
        finally:
            self.links.pop(conn, None)
