"""A small HTTP client for the control API (ours, or a real Toxiproxy)."""

from __future__ import annotations

import os
from typing import Any

import requests

from .apiguard import TOKEN_ENV
from .spec import ChaosError

TIMEOUT_S = 10.0


class ChaosClient:
    def __init__(
        self,
        api_url: str = "http://127.0.0.1:8474",
        timeout: float = TIMEOUT_S,
        token: str | None = None,
    ) -> None:
        if "://" not in api_url:
            api_url = "http://" + api_url
        self.base = api_url.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()
        token = token if token is not None else os.environ.get(TOKEN_ENV)
        if token:  # the server's optional token (chaos/apiguard.py)
            self.session.headers["Authorization"] = f"Bearer {token}"

    def _do(self, method: str, path: str, body: Any = None) -> Any:
        try:
            resp = self.session.request(method, self.base + path, json=body, timeout=self.timeout)
        except requests.RequestException as e:
            raise ChaosError(f"chaos API {self.base} unreachable: {e}", 503) from None
        if resp.status_code >= 400:
            try:
                message = resp.json().get("error", resp.text)
            except ValueError:
                message = resp.text
            raise ChaosError(f"{method} {path}: {resp.status_code} {message}", resp.status_code)
        return (
            resp.json()
            if resp.content and resp.headers.get("content-type", "").startswith("application/json")
            else None
        )

    def version(self) -> str:
        return str(self._do("GET", "/version")["version"])

    def proxies(self) -> dict[str, Any]:
        return self._do("GET", "/proxies")

    def proxy(self, name: str) -> dict[str, Any]:
        return self._do("GET", f"/proxies/{name}")

    def add_proxy(
        self, name: str, upstream: str, listen: str = "127.0.0.1:0", enabled: bool = True
    ) -> dict[str, Any]:
        return self._do(
            "POST",
            "/proxies",
            {"name": name, "listen": listen, "upstream": upstream, "enabled": enabled},
        )

    def update_proxy(self, name: str, **fields: Any) -> dict[str, Any]:
        return self._do("POST", f"/proxies/{name}", fields)

    def remove_proxy(self, name: str) -> None:
        self._do("DELETE", f"/proxies/{name}")

    def populate(self, proxies: list[dict[str, Any]]) -> dict[str, Any]:
        return self._do("POST", "/populate", proxies)

    def toxics(self, proxy: str) -> list[dict[str, Any]]:
        return self._do("GET", f"/proxies/{proxy}/toxics")

    def add_toxic(
        self,
        proxy: str,
        type: str,
        name: str | None = None,
        stream: str = "downstream",
        toxicity: float = 1.0,
        attributes: dict[str, Any] | None = None,
    ) -> dict[str, Any]:  # noqa: A002
        body: dict[str, Any] = {
            "type": type,
            "stream": stream,
            "toxicity": toxicity,
            "attributes": attributes or {},
        }
        if name:
            body["name"] = name
        return self._do("POST", f"/proxies/{proxy}/toxics", body)

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
        return self._do("POST", f"/proxies/{proxy}/toxics/{name}", body)

    def remove_toxic(self, proxy: str, name: str) -> None:
        self._do("DELETE", f"/proxies/{proxy}/toxics/{name}")

    def reset(self) -> None:
        self._do("POST", "/reset")

    def close(self) -> None:
        self.session.close()
