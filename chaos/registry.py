"""All proxies of one chaos server; every method runs on the server's event loop."""

from __future__ import annotations

import itertools
from typing import Any

from .faultlog import FaultLog
from .proxy import Proxy
from .spec import ChaosError

PROXY_FIELDS = frozenset({"name", "listen", "upstream", "enabled", "toxics"})


class Registry:
    def __init__(self, log: FaultLog, *, allow_remote: bool = False) -> None:
        self.log = log
        self.allow_remote = allow_remote
        self.proxies: dict[str, Proxy] = {}
        self.counter = itertools.count(1)  # proxied connection numbers, unique across proxies

    def get(self, name: str) -> Proxy:
        proxy = self.proxies.get(name)
        if proxy is None:
            raise ChaosError(f"proxy not found: {name!r}", 404)
        return proxy

    def snapshot(self) -> dict[str, Any]:
        return {name: p.to_json() for name, p in self.proxies.items()}

    async def create(self, body: Any, *, replace: bool = False) -> Proxy:
        if not isinstance(body, dict):
            raise ChaosError("proxy: expected a JSON object with name, listen, upstream")
        unknown = set(body) - PROXY_FIELDS
        if unknown:
            raise ChaosError(f"proxy: unknown field(s) {', '.join(sorted(unknown))}")
        name = body.get("name")
        if not isinstance(name, str) or not name:
            raise ChaosError("proxy: field 'name' is required")
        if "upstream" not in body:
            raise ChaosError(f"proxy {name!r}: field 'upstream' is required")
        enabled = body.get("enabled", True)
        if not isinstance(enabled, bool):
            raise ChaosError(f"proxy {name!r} field 'enabled': expected true or false")
        if name in self.proxies:
            if not replace:
                raise ChaosError(f"proxy already exists: {name!r}", 409)
            await self.delete(name)
        proxy = Proxy(
            name,
            body.get("listen") or "127.0.0.1:0",
            body["upstream"],
            self.log,
            self.counter,
            allow_remote=self.allow_remote,
        )
        for toxic in body.get("toxics") or []:
            proxy.add_toxic(toxic)
        if enabled:
            await proxy.enable()
        self.proxies[name] = proxy
        self.log.fault(
            name,
            "",
            "proxy_create",
            "",
            listen=proxy.listen,
            upstream=proxy.upstream,
            enabled=enabled,
        )
        return proxy

    async def update(self, name: str, body: Any) -> Proxy:
        proxy = self.get(name)
        if not isinstance(body, dict):
            raise ChaosError(f"proxy {name!r}: expected a JSON object")
        unknown = set(body) - PROXY_FIELDS
        if unknown:
            raise ChaosError(f"proxy {name!r}: unknown field(s) {', '.join(sorted(unknown))}")
        if "enabled" in body and not isinstance(body["enabled"], bool):
            raise ChaosError(f"proxy {name!r} field 'enabled': expected true or false")
        if "upstream" in body and body["upstream"] != proxy.upstream:
            proxy.set_upstream(body["upstream"])
        if "listen" in body and body["listen"] != proxy.listen:
            was = proxy.enabled
            await proxy.disable()
            fresh = Proxy(
                name,
                body["listen"],
                proxy.upstream,
                self.log,
                self.counter,
                allow_remote=self.allow_remote,
            )
            proxy.listen_host, proxy.listen_port = fresh.listen_host, fresh.listen_port
            if was:
                await proxy.enable()
        if "enabled" in body and body["enabled"] != proxy.enabled:
            await (proxy.enable() if body["enabled"] else proxy.disable())
            self.log.fault(name, "", "proxy_enable" if proxy.enabled else "proxy_disable", "")
        return proxy

    async def delete(self, name: str) -> None:
        proxy = self.get(name)
        await proxy.disable()
        del self.proxies[name]
        self.log.fault(name, "", "proxy_delete", "")

    async def reset(self) -> None:
        """Toxiproxy's POST /reset: every proxy enabled, every toxic removed."""
        for proxy in self.proxies.values():
            proxy.clear_toxics()
            await proxy.enable()

    async def populate(self, body: Any) -> list[Proxy]:
        """Toxiproxy's POST /populate: create or replace each proxy of a list."""
        if not isinstance(body, list):
            raise ChaosError("populate: expected a JSON list of proxies")
        return [await self.create(item, replace=True) for item in body]

    async def close(self) -> None:
        for name in list(self.proxies):
            await self.delete(name)
