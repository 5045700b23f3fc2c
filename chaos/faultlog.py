"""The fault journal: JSON Lines in the shared `visdom-chaos/journal/1` format.

chaos/ stays independent of the harness, so this is a small writer of its own
producing the same records (see visdom_chaos/JOURNAL.md): a `header` line with
role `faults`, then `fault` and `proxy_conn` records with client "proxy" and
`conn` = the proxied connection number (0 for proxy-wide events).
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

SCHEMA = "visdom-chaos/journal/1"


class FaultLog:
    """Thread-safe, line-buffered; each record is one write so a crash tears at most one line."""

    def __init__(self, path: str | os.PathLike[str] | None, **meta: Any) -> None:
        self.path = Path(path) if path else None
        self._lock = threading.Lock()
        self._file = None
        self.count = 0
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115
            self._write({"type": "header", "client": "", "conn": 0, "schema": SCHEMA, "role": "faults", "pid": os.getpid(), "meta": meta})

    def _write(self, record: dict[str, Any]) -> None:
        record = {"t": time.time_ns(), **record}
        line = json.dumps(record, separators=(",", ":"), default=str) + "\n"
        with self._lock:
            if self._file is not None:
                self._file.write(line)
                self.count += 1

    def fault(self, proxy: str, toxic: str, kind: str, stream: str, conn: int = 0, **detail: Any) -> None:
        self._write({"type": "fault", "client": "proxy", "conn": conn, "proxy": proxy, "toxic": toxic, "kind": kind, "stream": stream, "detail": detail})

    def conn(self, proxy: str, conn: int, event: str, downstream_port: int, upstream_port: int, reason: str | None = None) -> None:
        record: dict[str, Any] = {"type": "proxy_conn", "client": "proxy", "conn": conn, "proxy": proxy, "event": event, "downstream_port": downstream_port, "upstream_port": upstream_port}
        if reason is not None:
            record["reason"] = reason
        self._write(record)

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.flush()
                self._file.close()
                self._file = None
