"""The journal: JSON Lines, one file per process, append-only, readable after a crash.

The full record contract is in visdom_chaos/JOURNAL.md. In short, every record has
`t` (wall-clock ns), `type`, `client` and `conn`; the first line of a file is a
`header` carrying the schema version.

This module is the run folder's file contract, which every layer may import (chaos/
and reports/ import nothing else of the harness): the journal writer and reader, and
`atomic_write` for the whole files beside the journals (run.json, report.json, ready
files) that a reader must never see half-written.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

SCHEMA = "visdom-chaos/journal/1"

RECORD_TYPES = frozenset(
    {
        "header",
        "send",
        "ack",
        "connect",
        "register",
        "recv",
        "apply",
        "accept",
        "resync",
        "disconnect",
        "view",
        "traffic",
        "protocol_error",
        "fault",
        "proxy_conn",
        "sample",
        "observer_sample",
        "worker",
        "browser_sample",
        "browser_seen",
        "truth",
        "phase",
    }
)


def atomic_write(path: str | os.PathLike[str], data: str | bytes) -> None:
    """Write a whole file so that a reader sees the old content or the new, never a part.

    The data goes to a temporary file beside `path` (hidden, named per process and
    thread, so concurrent writers do not share one), then `os.replace` puts it in place.
    On failure (read-only folder, disk full) the temporary file is removed and the
    error raised; `path` keeps its old content.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data.encode("utf-8") if isinstance(data, str) else data)
        os.replace(tmp, path)
    except BaseException:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass
        raise


class JournalError(ValueError):
    """A journal that cannot be read at all (missing or foreign header)."""


class JournalWriter:
    """Thread-safe, line-buffered JSON Lines writer.

    Each record is written with one `write()` call and flushed, so a crash loses at
    most the line being written; readers skip a torn last line.
    """

    def __init__(self, path: str | os.PathLike[str], role: str, **meta: Any) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._file = open(self.path, "ab")  # noqa: SIM115
        self._closed = False
        self.error: OSError | None = None  # first write failure (disk full...): the run reports it
        self.write(
            "header", client="", conn=0, schema=SCHEMA, role=role, pid=os.getpid(), meta=meta
        )

    def write(
        self, type_: str, client: str = "", conn: int = 0, t: int | None = None, **fields: Any
    ) -> None:
        record = {
            "t": time.time_ns() if t is None else t,
            "type": type_,
            "client": client,
            "conn": conn,
        }
        record.update(fields)
        line = record_line(record)
        with self._lock:
            if self._closed:
                return
            try:
                self._file.write(line)
                self._file.flush()
            except OSError as exc:
                # Writers are client threads: never raise there. Stop writing, keep what is on disk.
                self.error, self._closed = exc, True
                try:
                    self._file.close()
                except OSError:
                    pass

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                try:
                    self._file.close()
                except OSError as exc:
                    self.error = self.error or exc

    def __enter__(self) -> JournalWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_ORJSON_OPTS = (
    orjson.OPT_APPEND_NEWLINE
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_SUBCLASS
)
_SCALARS = frozenset((str, int, bool, type(None)))


def _refuse(obj: Any) -> Any:
    raise TypeError  # not plain JSON: record_line_reference decides (default=str)


def record_line(record: dict[str, Any]) -> bytes:
    """One journal line: JSON with "," and ":" separators, ASCII, ending in a newline.

    orjson writes it (several times faster) where its line parses back to exactly what
    `record_line_reference` (json.dumps, default=str) writes, else the reference does:
    a value orjson does not take as plain JSON (a dataclass, datetime, subclass, bytes...:
    `default` sends it back), a non-str key, an int beyond 64 bits, a lone surrogate, a
    non-ASCII line (json.dumps escapes it: the bytes stay what readers such as
    reports/journals.py saw), and a `null` that may be a NaN/Infinity (orjson writes null
    for those, json.dumps NaN). Plain Enum members are the one thing orjson writes by value
    where json.dumps would str() them; no journal record holds one.
    """
    try:
        line = orjson.dumps(record, default=_refuse, option=_ORJSON_OPTS)
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return record_line_reference(record)
    if not line.isascii() or (b"null" in line and _maybe_nonfinite(record)):
        return record_line_reference(record)
    return line


def _maybe_nonfinite(record: dict[str, Any]) -> bool:
    """False only where no value can be a NaN/Infinity (all top-level, none a float that is)."""
    for v in record.values():
        t = type(v)
        if t is float:
            if not math.isfinite(v):
                return True
        elif t not in _SCALARS:
            return True
    return False


def record_line_reference(record: dict[str, Any]) -> bytes:
    return (json.dumps(record, separators=(",", ":"), default=str) + "\n").encode("utf-8")


def read_journal(
    path: str | os.PathLike[str], *, strict_header: bool = True
) -> Iterator[dict[str, Any]]:
    """Yield the records of one journal file, header first.

    A torn or undecodable line (a crash mid-write) is skipped and reported as a
    synthetic record of type `torn` so callers can count it; nothing else is lost.
    """
    path = Path(path)
    with open(path, encoding="utf-8", errors="replace") as f:
        first = True
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                yield {
                    "type": "torn",
                    "t": 0,
                    "client": "",
                    "conn": 0,
                    "file": str(path),
                    "line": lineno,
                }
                continue
            if first:
                first = False
                if strict_header and (
                    record.get("type") != "header" or record.get("schema") != SCHEMA
                ):
                    raise JournalError(f"{path}: line 1 is not a {SCHEMA} header")
            yield record


def journal_files(run_dir: str | os.PathLike[str]) -> list[Path]:
    """All journal files of a run folder, in a stable order."""
    return sorted(Path(run_dir, "journal").glob("*.jsonl"))
