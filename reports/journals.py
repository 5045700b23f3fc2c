"""Reading a run folder: run.json and the journals merged into one time-ordered stream.

Each journal file is time-ordered per writer thread but not strictly across
threads, and files are written by different processes. We merge the files with
a heap and then hold records back for `slack_ns` so that small inversions come
out in order; the analyzers never need more than that.
"""

from __future__ import annotations

import json
import os
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import chain
from operator import itemgetter
from pathlib import Path
from typing import Any

from visdom_chaos.journal import SCHEMA, journal_files
from visdom_chaos.reports.checkers.state import IdsFold

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
    skipped: int = 0  # records of types no checker reads (`recv`): counted, never decoded


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


# either parser, typed as what both accept (journal lines are bytes)
_loads: Callable[[str | bytes], Any]
try:  # orjson parses journal lines ~3x faster; the stdlib is the fallback
    from orjson import loads as _loads
except ImportError:  # pragma: no cover - depends on the environment
    _loads = json.loads

BIG_LINE = 64 * 1024  # view/truth lines longer than this skip building a list per id
_IDS_KEY = b'"ids":['
IDS_PIECE = 256 * 1024  # bytes of a long ids list parsed at a time


def _big_ids_record(line: bytes) -> dict[str, Any] | None:
    """Parse a long `view`/`truth` line with its ids straight into interval sets.

    A final view of a long run holds every id of a window; as JSON lists that is
    ~100 bytes per id, as interval runs a few bytes per window. None = use the
    ordinary parse (not such a record, or not in the writer's compact form).
    """
    k = line.find(_IDS_KEY)
    if k < 0:
        return None
    start = k + len(_IDS_KEY) - 1
    end = line.find(b"]]", start)
    if end < 0 or line[start + 1 : start + 2] != b"[":
        return None
    end += 2
    try:
        rec = _loads(line[:start] + b"[]" + line[end:])
    except ValueError:
        return None
    if not isinstance(rec, dict) or rec.get("type") not in ("view", "truth"):
        return None
    fold = IdsFold()
    try:  # the list a piece at a time at C speed, folded, then dropped: memory stays flat
        pos = start + 1
        while pos < end - 1:
            cut = line.find(b"],[", pos + IDS_PIECE, end) if end - pos > IDS_PIECE else -1
            stop = end - 1 if cut < 0 else cut + 1
            fold.feed(_loads(b"[" + line[pos:stop] + b"]"))
            pos = stop + 1
    except (ValueError, TypeError, IndexError, KeyError):
        return None  # not a list of ids: the ordinary parse (and the checkers) say what is wrong
    rec["_ids"] = (fold.sets, fold.repeats)
    rec["_order"] = fold.order
    return rec


Record = dict[str, Any]
_T = itemgetter("t")  # sorts are stable and by t alone: equal times keep file order


CHUNK_BYTES = 1 << 20  # lines are read and parsed a megabyte at a time


class _File:
    """One journal file read in chunks: parsed items waiting to be merged, kept sorted."""

    def __init__(self, path: Path, index: int, stats: ReadStats) -> None:
        self.path, self.index, self.stats = path, index, stats
        try:
            self.f = open(path, "rb")  # noqa: SIM115 - closed when exhausted or by close()
        except OSError as exc:
            raise RunFolderError(f"{path}: {exc}") from exc
        self.lineno = 0
        self.first = True
        self.done = False
        self.pending: list[Record] = []
        self.newest = -1  # largest t read so far

    def close(self) -> None:
        self.done = True
        self.f.close()

    def read_chunk(self) -> None:
        """Parse the next chunk into `pending` (same contract as visdom_chaos.journal.read_journal:
        a torn line is skipped and counted, a foreign first line is an error)."""
        lines = self.f.readlines(CHUNK_BYTES)
        if not lines:
            self.close()
            return
        start = self.lineno
        self.lineno += len(lines)
        if self.first or max(map(len, lines)) > BIG_LINE:
            items = self._parse_carefully(lines, start)
        else:
            try:  # the common chunk: every line a record with an int `t` (C-speed map and sort)
                items = list(map(_loads, lines))
                items.sort(key=_T)
                if type(items[0]["t"]) is not int:  # mixed types would not have sorted
                    raise TypeError
            except (ValueError, TypeError, KeyError):
                items = self._parse_carefully(lines, start)
                items.sort(key=_T)
        if items:
            if items[-1]["t"] > self.newest:
                self.newest = items[-1]["t"]
            if self.pending:
                later = items[0]["t"] >= self.pending[-1]["t"]  # the usual case: no sort needed
                self.pending.extend(items)
                if not later:
                    self.pending.sort(key=_T)
            else:
                self.pending = items

    def _parse_carefully(self, lines: list[bytes], lineno: int) -> list[Record]:
        """Line by line: blank, torn and foreign lines, the header, long view/truth lines."""
        stats = self.stats
        items: list[Record] = []
        for line in lines:
            lineno += 1
            try:
                rec = (len(line) > BIG_LINE and not self.first and _big_ids_record(line)) or _loads(
                    line
                )
            except ValueError:
                if not line.strip():
                    continue
                stats.torn += 1
                stats.torn_files[self.path.name] = stats.torn_files.get(self.path.name, 0) + 1
                continue
            if type(rec) is not dict:
                stats.bad += 1
                continue
            if self.first:
                self.first = False
                if rec.get("type") != "header" or rec.get("schema") != SCHEMA:
                    self.close()
                    raise RunFolderError(f"{self.path}: line {lineno} is not a {SCHEMA} header")
                continue  # the header's `t` (open time) may lie outside the run: not merged
            if type(rec.get("t")) is not int:
                stats.bad += 1
                continue
            items.append(rec)
        items.sort(key=_T)
        return items


MERGE_BY_INSERTION = 64  # records of the other files' parts placed one by one, else a sort


def _merge_parts(parts: list[list[Record]]) -> list[Record]:
    """Sorted parts (in file order) as one list sorted by t, equal times in file order (as a
    stable sort of their concatenation). One file usually brings most records of a batch (the
    clients'), the others a few: those are placed into it by bisection, not sorted with it."""
    if len(parts) <= 1:
        return parts[0] if parts else []
    big = max(range(len(parts)), key=lambda i: len(parts[i]))
    rest = [r for i, p in enumerate(parts) if i != big for r in p]
    if len(rest) > MERGE_BY_INSERTION:
        out = [r for p in parts for r in p]
        out.sort(key=_T)
        return out
    before = sum(len(p) for p in parts[:big])  # the first `before` of rest come from earlier files
    rest_sorted = sorted(enumerate(rest), key=lambda ir: ir[1]["t"])  # stable: file order kept
    out = parts[big]
    lo = 0
    for i, rec in rest_sorted:
        t = rec["t"]
        # an earlier file's record goes before the big part's equal times, a later one's after
        at = bisect_left(out, t, lo, key=_T) if i < before else bisect_right(out, t, lo, key=_T)
        out.insert(at, rec)
        lo = at + 1
    return out


def _batches(files: list[_File], stats: ReadStats, slack_ns: int) -> Iterator[list[dict[str, Any]]]:
    """Time-ordered batches of records from all files.

    A batch releases every record older than (the least advanced open file's
    newest t) - slack, so a record a thread wrote up to `slack_ns` late still
    comes out in order; anything later is counted as an inversion.
    """
    released = -1  # everything at or before this t has been released
    try:
        while True:
            open_files = [f for f in files if not f.done]
            for f in open_files:  # every open file must be read past the release point
                if not f.pending or f.newest - slack_ns <= released:
                    f.read_chunk()
            open_files = [f for f in files if not f.done]
            cut = min((f.newest for f in open_files), default=None)
            cut = None if cut is None else cut - slack_ns
            parts: list[list[Record]] = []  # each file's released part, sorted, in file order
            for f in files:
                if not f.pending:
                    continue
                if cut is None:
                    parts.append(f.pending)
                    f.pending = []
                else:
                    i = bisect_right(f.pending, cut, key=_T)
                    if i:
                        parts.append(f.pending[:i])
                        del f.pending[:i]
            taken = _merge_parts(parts)
            if taken:
                if taken[0]["t"] < released:
                    stats.inversions += sum(1 for r in taken if r["t"] < released)
                released = max(released, taken[-1]["t"])
                stats.records += len(taken)
                yield taken
            if cut is None:
                if not any(f.pending for f in files):
                    return
            elif (
                cut > released
            ):  # all files were read past cut + slack: nothing older can still come
                released = cut
    finally:
        for f in files:
            if not f.done:
                f.close()


def merge_streams(
    streams: list[Iterable[dict[str, Any]]], stats: ReadStats, slack_ns: int = DEFAULT_SLACK_NS
) -> Iterator[dict[str, Any]]:
    """Merge in-memory streams of record dicts (each with an int `t`) in time order, like the files."""
    items = sorted((r for s in streams for r in s), key=_T)
    stats.records = len(items)
    return iter(items)


def run_records(
    run_dir: str | os.PathLike[str], stats: ReadStats, slack_ns: int = DEFAULT_SLACK_NS
) -> Iterator[dict[str, Any]]:
    """All records of a run folder's journals, merged in time order (torn lines counted)."""
    paths = journal_files(run_dir)
    if not paths:
        raise RunFolderError(f"{Path(run_dir, 'journal')}: no *.jsonl journals")
    stats.files = [str(p) for p in paths]
    files = [_File(p, i, stats) for i, p in enumerate(paths)]
    for f in files:  # surfaces a foreign header now, not mid-analysis
        f.read_chunk()
    return chain.from_iterable(_batches(files, stats, slack_ns))
