"""A subscriber worker process: `python -m visdom_chaos.workerproc`, driven by visdom_chaos.workers.

It hosts some of a run's replica subscribers, each journaling into the worker's own
journal file, so the subscribers of one run do not share one GIL. The parent speaks
JSON Lines over stdin/stdout: the first line is the worker's setup, then one request per
line (`{"id", "op", ...}`), each answered by one line `{"id", "ok": ...}` or
`{"id", "error": "..."}`. End of stdin (the parent is gone) stops the subscribers cleanly.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from typing import Any

import orjson

# What the parent may ask a subscriber to do (the behaviours of a scenario's timeline).
CALLS = frozenset(
    {"drop", "reconnect", "refresh", "stall", "switch_env", "forward_after_close", "delete_env"}
)


class Worker:
    def __init__(self, setup: dict[str, Any], out: Any) -> None:
        from visdom_chaos.journal import JournalWriter
        from visdom_chaos.wire.subscriber import PollingSubscriber, WebSocketSubscriber

        self.out = out
        self._out_lock = threading.Lock()
        self.name = setup["name"]
        self.journal = JournalWriter(setup["journal"], "clients", worker=self.name, pid=os.getpid())
        self.subscribers: dict[str, Any] = {}
        for spec in setup["subscribers"]:
            cls = WebSocketSubscriber if spec["transport"] == "websocket" else PollingSubscriber
            kw: dict[str, Any] = {
                "version": spec["version"],
                "variant": spec["variant"],
                "env": spec["env"],
                "burn_ms": float(spec.get("burn_ms") or 0.0),
            }
            if spec["transport"] == "polling" and spec.get("poll_interval"):
                kw["poll_interval"] = float(spec["poll_interval"])
            self.subscribers[spec["client"]] = cls(spec["url"], spec["client"], self.journal, **kw)

    def reply(self, rid: Any, **body: Any) -> None:
        line = orjson.dumps({"id": rid, **body}, default=str, option=orjson.OPT_APPEND_NEWLINE)
        with self._out_lock:
            self.out.write(line)
            self.out.flush()

    def status(self) -> dict[str, Any]:
        return {
            c: {
                "received": s.received,
                "read": s.read,
                "connected": s.connected,
                "sid": s.sid,
                "busy": s.busy,
                "conn": s.conn,
                "last_error": s.last_error,
            }
            for c, s in self.subscribers.items()
        }

    def start(self) -> dict[str, Any]:
        errors = {}
        for c, s in self.subscribers.items():
            try:
                s.start()
            except Exception as exc:  # noqa: BLE001 - one bad subscriber must not stop the others
                errors[c] = f"{type(exc).__name__}: {exc}"
        return {"errors": errors}

    def stop(self, reason: str) -> dict[str, Any]:
        threads = [
            threading.Thread(target=s.stop, args=(reason,), daemon=True)
            for s in self.subscribers.values()
        ]
        for th in threads:
            th.start()
        for th in threads:
            th.join(timeout=15)
        self.journal.close()
        return {"journal_error": str(self.journal.error) if self.journal.error else None}

    def call(self, rid: Any, client: str, method: str, args: list[Any]) -> None:
        sub = self.subscribers.get(client)
        if sub is None or method not in CALLS:
            self.reply(rid, error=f"no call {method!r} for {client!r}")
            return
        try:
            getattr(sub, method)(*args)
        except Exception as exc:  # noqa: BLE001 - reported to the parent, the worker goes on
            self.reply(rid, error=f"{type(exc).__name__}: {exc}")
            return
        self.reply(rid, ok=True)


def main() -> int:
    # spawn() holds these back across fork and exec (visdom_chaos.targets.process)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when its workers stop
    proto_out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything printed goes to the worker's log, never into the protocol stream
    stdin = sys.stdin.buffer
    first = stdin.readline()
    if not first:
        return 2
    setup = orjson.loads(first)
    worker = Worker(setup, proto_out)
    worker.reply(0, ok=worker.start())
    for line in stdin:
        try:
            req = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        op, rid = req.get("op"), req.get("id")
        if op == "status":
            worker.reply(rid, ok=worker.status())
        elif op == "call":
            threading.Thread(
                target=worker.call,
                args=(rid, req["client"], req["method"], req.get("args") or []),
                daemon=True,
            ).start()
        elif op == "stop":
            worker.reply(rid, ok=worker.stop(str(req.get("reason") or "end")))
            return 0
    worker.stop("parent_gone")  # stdin closed: the orchestrator is gone
    return 0


if __name__ == "__main__":
    sys.exit(main())
