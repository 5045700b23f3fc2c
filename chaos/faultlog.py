"""The fault journal: JSON Lines in the shared `visdom-chaos/journal/1` format.

Written through the journal contract's own writer (`visdom_chaos.journal.JournalWriter`,
see visdom_chaos/JOURNAL.md): the one module of the harness chaos/ imports, because
the journal format is the contract between every layer. A `header` line with role
`faults`, then `fault` and `proxy_conn` records with client "proxy" and `conn` = the
proxied connection number (0 for proxy-wide events). A write error (disk full) stops
the journal, never the proxy: `error` says what happened.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from visdom_chaos.journal import SCHEMA, JournalWriter

__all__ = ["SCHEMA", "FaultLog"]


class FaultLog:
    """Thread-safe, line-buffered; each record is one write so a crash tears at most one line.

    `path` None journals nothing (a proxy started without --journal)."""

    def __init__(self, path: str | os.PathLike[str] | None, **meta: Any) -> None:
        self.path = Path(path) if path else None
        self._lock = threading.Lock()
        self.count = 0  # records written, the header included
        self._writer: JournalWriter | None = None
        if self.path is not None:
            self._writer = JournalWriter(self.path, "faults", **meta)
            self.count = 1

    @property
    def error(self) -> OSError | None:
        """The first write failure; the journal stopped there."""
        return self._writer.error if self._writer is not None else None

    def _write(self, type_: str, conn: int, **fields: Any) -> None:
        if self._writer is None:
            return
        self._writer.write(type_, "proxy", conn, **fields)
        with self._lock:
            self.count += 1

    def fault(
        self, proxy: str, toxic: str, kind: str, stream: str, conn: int = 0, **detail: Any
    ) -> None:
        self._write(
            "fault", conn, proxy=proxy, toxic=toxic, kind=kind, stream=stream, detail=detail
        )

    def conn(
        self,
        proxy: str,
        conn: int,
        event: str,
        downstream_port: int,
        upstream_port: int,
        reason: str | None = None,
    ) -> None:
        fields: dict[str, Any] = {
            "proxy": proxy,
            "event": event,
            "downstream_port": downstream_port,
            "upstream_port": upstream_port,
        }
        if reason is not None:
            fields["reason"] = reason
        self._write("proxy_conn", conn, **fields)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
