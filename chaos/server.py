"""ChaosServer: the proxies plus the control API on one event loop.

Two ways to run it: `serve()` on the calling thread (the CLI), or `start()` in a
background thread with its own loop (tests, the harness). In the background form
every public method is thread-safe: it runs the operation on the server's loop
and waits for it (bounded), re-raising ChaosError with the same one-line message.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web

from . import loop as event_loop
from .addr import check_address, format_hostport
from .api import make_app
from .apiguard import GuardPolicy
from .faultlog import FaultLog
from .registry import Registry

T = TypeVar("T")
CALL_TIMEOUT_S = 15.0


class ChaosServer:
    def __init__(
        self,
        api: str | None = "127.0.0.1:0",
        *,
        journal: str | os.PathLike[str] | None = None,
        allow_remote: bool = False,
        proxies: list[dict[str, Any]] | None = None,
        api_token: str | None = None,
        api_hosts: tuple[str, ...] = (),
    ) -> None:
        self.api_addr = check_address(api, "--api", allow_remote) if api else None
        # the Host names the API answers to: loopback ones, the bound host and any given
        bound = () if self.api_addr is None else (self.api_addr[0],)
        self.guard = GuardPolicy.from_env(api_token, [*bound, *api_hosts])
        self.log = FaultLog(journal)
        self.registry = Registry(self.log, allow_remote=allow_remote)
        self.initial = proxies or []
        self.api_port = 0
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._stop: asyncio.Event | None = None
        self._runner: web.AppRunner | None = None

    # -- lifecycle -------------------------------------------------------------------
    @property
    def api(self) -> str:
        """HOST:PORT the control API listens on (after start)."""
        assert self.api_addr is not None
        return format_hostport(self.api_addr[0], self.api_port)

    @property
    def api_url(self) -> str:
        return f"http://{self.api}"

    async def _open(self) -> None:
        self.loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        for body in self.initial:
            await self.registry.create(body)
        if self.api_addr is not None:
            self._runner = web.AppRunner(make_app(self.registry, self.guard), access_log=None)
            await self._runner.setup()
            site = web.TCPSite(self._runner, self.api_addr[0], self.api_addr[1], reuse_address=True)
            await site.start()
            self.api_port = self._runner.addresses[0][1]

    async def _close(self) -> None:
        await self.registry.close()
        if self._runner is not None:
            await self._runner.cleanup()
        self.log.close()

    async def serve(
        self, on_ready: Callable[[ChaosServer], Awaitable[None] | None] | None = None
    ) -> None:
        """Run on the current loop until `shutdown()`."""
        await self._open()
        try:
            if on_ready is not None:
                result = on_ready(self)
                if asyncio.iscoroutine(result):
                    await result
            assert self._stop is not None
            await self._stop.wait()
        finally:
            await self._close()

    def shutdown(self) -> None:
        """Ask serve() to return (from the loop's thread or any other)."""
        if self.loop is not None and self._stop is not None:
            self.loop.call_soon_threadsafe(self._stop.set)

    def start(self, timeout: float = 10.0) -> ChaosServer:
        """Run in a background thread; returns once the API and initial proxies are up."""

        def run() -> None:
            async def main() -> None:
                await self.serve(lambda _: self._ready.set())

            try:
                event_loop.run(main())
            except BaseException as e:  # reported to start()'s caller
                self._error = e
                self._ready.set()

        self._thread = threading.Thread(target=run, name="chaos-server", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError("chaos server did not start in time")
        if self._error is not None:
            raise self._error
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self.shutdown()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def __enter__(self) -> ChaosServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- thread-safe operations ---------------------------------------------------------
    def call(self, fn: Callable[[], Coroutine[Any, Any, T]]) -> T:
        # a coroutine, not any awaitable: run_coroutine_threadsafe rejects other awaitables
        if self.loop is None:
            raise RuntimeError("chaos server is not running")
        return asyncio.run_coroutine_threadsafe(fn(), self.loop).result(CALL_TIMEOUT_S)

    def add_proxy(
        self, name: str, upstream: str, listen: str = "127.0.0.1:0", enabled: bool = True
    ) -> dict[str, Any]:
        body = {"name": name, "listen": listen, "upstream": upstream, "enabled": enabled}

        async def op() -> dict[str, Any]:
            return (await self.registry.create(body)).to_json()

        return self.call(op)

    def update_proxy(self, name: str, **fields: Any) -> dict[str, Any]:
        async def op() -> dict[str, Any]:
            return (await self.registry.update(name, fields)).to_json()

        return self.call(op)

    def remove_proxy(self, name: str) -> None:
        self.call(lambda: self.registry.delete(name))

    def proxies(self) -> dict[str, Any]:
        async def op() -> dict[str, Any]:
            return self.registry.snapshot()

        return self.call(op)

    def proxy(self, name: str) -> dict[str, Any]:
        async def op() -> dict[str, Any]:
            return self.registry.get(name).to_json()

        return self.call(op)

    def listen_of(self, name: str) -> tuple[str, int]:
        host, _, port = self.proxy(name)["listen"].rpartition(":")
        return host.strip("[]"), int(port)

    def add_toxic(
        self,
        proxy: str,
        type: str,
        name: str | None = None,
        stream: str = "downstream",
        toxicity: float = 1.0,
        attributes: dict[str, Any] | None = None,
    ) -> dict[str, Any]:  # noqa: A002
        body = {
            "name": name,
            "type": type,
            "stream": stream,
            "toxicity": toxicity,
            "attributes": attributes or {},
        }

        async def op() -> dict[str, Any]:
            return self.registry.get(proxy).add_toxic(body).to_json()

        return self.call(op)

    def update_toxic(
        self,
        proxy: str,
        name: str,
        toxicity: float | None = None,
        attributes: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"attributes": attributes or {}}
        if toxicity is not None:
            body["toxicity"] = toxicity

        async def op() -> dict[str, Any]:
            return self.registry.get(proxy).update_toxic(name, body).to_json()

        return self.call(op)

    def remove_toxic(self, proxy: str, name: str) -> None:
        async def op() -> None:
            self.registry.get(proxy).remove_toxic(name)

        self.call(op)

    def toxics(self, proxy: str) -> list[dict[str, Any]]:
        async def op() -> list[dict[str, Any]]:
            return [t.to_json() for t in self.registry.get(proxy).toxics]

        return self.call(op)

    def reset(self) -> None:
        self.call(self.registry.reset)

    def connections(self, proxy: str) -> list[dict[str, Any]]:
        """Live connections of a proxy (for tests and the harness)."""

        async def op() -> list[dict[str, Any]]:
            out = []
            for link in self.registry.get(proxy).links.values():
                out.append(
                    {
                        "conn": link.conn,
                        "client": link.client_id,
                        "downstream_port": link.downstream_port,
                        "upstream_port": link.upstream_port,
                        "bytes": {
                            s: {"in": d.bytes_in, "out": d.bytes_out, "dropped": d.dropped}
                            for s, d in link.dirs.items()
                        },
                    }
                )
            return out

        return self.call(op)

    @property
    def journal_path(self) -> Path | None:
        return self.log.path
