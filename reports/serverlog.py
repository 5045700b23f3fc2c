"""Exceptions in the Visdom server's own log: what a fault made the server throw.

An event starts at one of tornado's / asyncio's error headers; its type is the last
exception line of the traceback that follows (the one that escaped). Counted per
(type, where), with the first example kept. Visdom's own `ERROR: 500: {...}` and
`Traceback: [...]` lines repeat an `Uncaught exception` and are not counted again.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

HEADERS = {
    "ERROR:tornado.application:Uncaught exception": "request handler",
    "ERROR:asyncio:Task exception was never retrieved": "unawaited write",
    "ERROR:asyncio:Exception in callback": "callback",
    "ERROR:tornado.application:Exception in callback": "callback",
    "ERROR:tornado.application:Future exception was never retrieved": "unawaited future",
}
LOG_LINE = re.compile(r"^(DEBUG|INFO|WARNING|ERROR|CRITICAL):")
EXC_LINE = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt))\b(:.*)?$")
ADDRESS = re.compile(r" (object )?at 0x[0-9a-f]+")
ACCESS_5XX = re.compile(r"tornado\.access:(5\d\d) (\w+) (\S+)")
MAX_EXAMPLE_LINES = 40


def scan_server_log(path: str | Path) -> dict[str, Any]:
    """{exceptions, by_type {"Type @ where": n}, http_5xx {"500 POST /update": n}, examples [...]}."""
    path = Path(path)
    out: dict[str, Any] = {"exceptions": 0, "by_type": {}, "http_5xx": {}, "examples": []}
    if not path.exists():
        out["exceptions"] = None
        return out
    event: dict[str, Any] | None = None

    def close_event() -> None:
        nonlocal event
        if event is None:
            return
        key = f"{event['type'] or 'unknown'} @ {event['where']}"
        out["by_type"][key] = out["by_type"].get(key, 0) + 1
        out["exceptions"] += 1
        if len(out["examples"]) < 3 and key not in {e["key"] for e in out["examples"]}:
            out["examples"].append({"key": key, "lines": event["lines"][:MAX_EXAMPLE_LINES]})
        event = None

    with open(path, encoding="utf-8", errors="replace") as f:
        for raw in f:
            line = raw.rstrip("\n")
            header = next((h for h in HEADERS if line.startswith(h)), None)
            if header is not None:
                close_event()
                rest = line[len(header) :].strip()
                where = HEADERS[header] + (f" {rest.split(' (')[0]}" if rest else "")
                where = ADDRESS.sub("", where)  # one key per kind of callback, not per object
                event = {"where": where, "type": None, "lines": [line]}
                continue
            if LOG_LINE.match(line):
                close_event()
                m = ACCESS_5XX.search(line)
                if m:
                    key = f"{m.group(1)} {m.group(2)} {m.group(3)}"
                    out["http_5xx"][key] = out["http_5xx"].get(key, 0) + 1
                continue
            if event is not None:
                event["lines"].append(line)
                m = EXC_LINE.match(line)
                if m:
                    event["type"] = m.group(1)
    close_event()
    return out
