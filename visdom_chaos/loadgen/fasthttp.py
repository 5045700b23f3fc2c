"""A minimal `requests.Session` stand-in on geventhttpclient (what Locust's FastHttpUser uses).

TrainingSource only calls `session.post(url, data=..., timeout=...)` and reads
`.status_code` and `.text`; `requests` spends several times more CPU per request,
which matters when one generator process must out-pace the server it loads.
Failures come back as `requests.ConnectionError`, the exception TrainingSource handles.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

import requests
from geventhttpclient import HTTPClient

HEADERS = {"Content-Type": "application/json", "Connection": "keep-alive"}


@dataclass
class FastResponse:
    status_code: int
    text: str


class FastSession:
    """One keep-alive connection to one server (a training source posts one request at a time)."""

    def __init__(self, base_url: str, timeout: float = 10.0) -> None:
        parts = urlsplit(base_url)
        self._client = HTTPClient(
            parts.hostname or "127.0.0.1",
            parts.port,
            connection_timeout=timeout,
            network_timeout=timeout,
            ssl=parts.scheme == "https",
            concurrency=1,
        )
        self._prefix = len(f"{parts.scheme}://{parts.netloc}")

    def post(self, url: str, data: str | bytes = b"", timeout: float | None = None) -> FastResponse:
        body = data.encode("utf-8") if isinstance(data, str) else data
        try:
            resp = self._client.post(url[self._prefix :] or "/", body=body, headers=HEADERS)
            text = resp.read().decode("utf-8", errors="replace")
            return FastResponse(resp.status_code, text)
        except Exception as exc:  # noqa: BLE001 - socket, timeout and parser errors alike
            raise requests.ConnectionError(f"{type(exc).__name__}: {exc}") from exc

    def close(self) -> None:
        self._client.close()
