"""Reading a run folder: run.json and the journals merged into one time-ordered stream.

Each journal file is time-ordered per writer thread but not strictly across
threads, and files are written by different processes. We merge the files with
a heap and then hold records back for `slack_ns` so that small inversions come
out in order; the analyzers never need more than that.
"""

from __future__ import annotations

import heapq
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from visdom_chaos.journal import JournalError, journal_files, read_journal

DEFAULT_SLACK_NS = 50_000_000  # 50 ms: larger than any thread interleaving we have seen


class RunFolderError(ValueError):
    """A run folder that cannot be analysed (one-line message for the CLI)."""


@dataclass
class ReadStats:
    files: list[str] = field(default_factory=list)
    records: int = 0
    torn: int = 0
    torn_files: dict[str, int] = field(default_factory=dict)
    bad: int = 0  # records without an integer `t`
    inversions: int = 0  # records that arrived later than slack allows (emitted late)


def load_run_meta(run_dir: str | os.PathLike[str]) -> dict[str, Any]:
    path = Path(run_dir, "run.json")
    if not path.exists():
        return {}
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise RunFolderError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(meta, dict):
        raise RunFolderError(f"{path}: expected a JSON object")
    return meta


def _counted(records: Iterable[dict[str, Any]], stats: ReadStats, name: str) -> Iterator[dict[str, Any]]:
    for rec in records:
        typ = rec.get("type")
        if typ == "header":  # carries no analysis data, and its `t` (open time) may lie outside the run
            continue
        if typ == "torn":
            stats.torn += 1
            stats.torn_files[name] = stats.torn_files.get(name, 0) + 1
            continue
        if not isinstance(rec.get("t"), int):
            stats.bad += 1
            continue
        yield rec


def _t(rec: dict[str, Any]) -> int:
    return rec["t"]


def merge_streams(
    streams: list[Iterable[dict[str, Any]]], stats: ReadStats, slack_ns: int = DEFAULT_SLACK_NS
) -> Iterator[dict[str, Any]]:
    """Merge per-file record streams by `t`, repairing inversions up to slack_ns."""
    merged = heapq.merge(*streams, key=_t)
    heap: list[tuple[int, int, dict[str, Any]]] = []
    push, pop = heapq.heappush, heapq.heappop
    last_out = -1
    n = 0
    for rec in merged:
        t = rec["t"]
        push(heap, (t, n, rec))
        n += 1
        limit = t - slack_ns
        while heap[0][0] < limit:
            out = pop(heap)
            if out[0] < last_out:
                stats.inversions += 1
            last_out = out[0]
            yield out[2]
    while heap:
        out = pop(heap)
        if out[0] < last_out:
            stats.inversions += 1
        last_out = out[0]
        yield out[2]
    stats.records = n


def run_records(
    run_dir: str | os.PathLike[str], stats: ReadStats, slack_ns: int = DEFAULT_SLACK_NS
) -> Iterator[dict[str, Any]]:
    """All records of a run folder's journals, merged in time order (torn lines counted)."""
    files = journal_files(run_dir)
    if not files:
        raise RunFolderError(f"{Path(run_dir, 'journal')}: no *.jsonl journals")
    stats.files = [str(p) for p in files]
    streams = []
    for p in files:
        try:
            it = read_journal(p)
            first = next(it, None)  # surfaces a foreign header now, not mid-analysis
        except (JournalError, OSError) as exc:
            raise RunFolderError(str(exc)) from exc
        head = [first] if first is not None else []
        streams.append(_counted(_chain(head, it), stats, p.name))
    return merge_streams(streams, stats, slack_ns)


def _chain(head: list[dict[str, Any]], rest: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    yield from head
    yield from rest
