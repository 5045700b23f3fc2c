"""A training source: creates a window and appends to it, every update tagged (source, seq, send time).

Plain `requests`, no Locust: the Locust users, the orchestrator and the tests share it.
"""

from __future__ import annotations

import json
import time
from typing import Any

import requests

from visdom_chaos.ids import send_ms, text_token
from visdom_chaos.journal import JournalWriter

KINDS = ("line", "scatter", "text")


class JournaledSource:
    """What every training source journals per update: `send` before it goes, `ack` after.

    Subclasses set journal, source, env, win, kind, sent and acked; the records are the
    contract the analyzers read (visdom_chaos/JOURNAL.md), so they are written in one place."""

    journal: JournalWriter
    source: str
    env: str
    win: str
    kind: str
    sent: int
    acked: int

    def journal_send(self, seq: int, send_ns: int, op: str, **extra: Any) -> None:
        self.journal.write(
            "send",
            self.source,
            0,
            t=send_ns,
            seq=seq,
            env=self.env,
            win=self.win,
            kind=self.kind,
            op=op,
            **extra,
        )
        self.sent += 1

    def journal_ack(self, seq: int, send_ns: int, ok: bool, status: int, error: str | None) -> bool:
        fields: dict[str, Any] = {
            "seq": seq,
            "env": self.env,
            "win": self.win,
            "ok": ok,
            "status": status,
            "rtt_ms": round((time.time_ns() - send_ns) / 1e6, 3),
        }
        if error:
            fields["error"] = error
        self.journal.write("ack", self.source, 0, **fields)
        if ok:
            self.acked += 1
        return ok


class TrainingSource(JournaledSource):
    """One training job writing to one window. `create()` is seq 0, each `append()` the next seq."""

    def __init__(
        self,
        base_url: str,
        source: str,
        journal: JournalWriter,
        *,
        env: str = "main",
        kind: str = "line",
        win: str | None = None,
        pad_bytes: int = 0,
        session: requests.Session | None = None,
        timeout: float = 10.0,
    ) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown window kind {kind!r}; one of {', '.join(KINDS)}")
        self.base_url = base_url.rstrip("/")
        self.source = source
        self.journal = journal
        self.env = env
        self.kind = kind
        self.win = win or f"vc_{kind}_{source}"
        self.pad = "." * pad_bytes
        self.session = session or requests.Session()
        self.timeout = timeout
        self.seq = -1
        self.sent = 0
        self.acked = 0

    # -- payloads -----------------------------------------------------------------
    def _trace(self, seq: int, send_ns: int) -> dict:
        return {"x": [seq], "y": [send_ms(send_ns)], "name": self.source}

    def _create_body(self, send_ns: int) -> dict:
        if self.kind == "text":
            data = [{"content": text_token(self.source, 0, send_ns) + self.pad, "type": "text"}]
            return {"data": data, "win": self.win, "eid": self.env, "opts": {"title": self.win}}
        trace = self._trace(0, send_ns)
        trace.update(type="scatter", mode="lines" if self.kind == "line" else "markers")
        return {
            "data": [trace],
            "layout": {"title": self.win, "showlegend": True},
            "win": self.win,
            "eid": self.env,
            "opts": {"title": self.win},
        }

    def _append_body(self, seq: int, send_ns: int) -> dict:
        if self.kind == "text":
            data = [{"content": text_token(self.source, seq, send_ns) + self.pad, "type": "text"}]
            return {"data": data, "win": self.win, "eid": self.env, "append": True}
        return {
            "data": [self._trace(seq, send_ns)],
            "win": self.win,
            "eid": self.env,
            "name": self.source,
            "append": True,
        }

    # -- requests -----------------------------------------------------------------
    def create(self) -> bool:
        self.seq = 0
        send_ns = time.time_ns()
        return self._post("/events", self._create_body(send_ns), 0, send_ns, "create")

    def append(self) -> bool:
        if self.seq < 0:
            return self.create()
        self.seq += 1
        send_ns = time.time_ns()
        return self._post(
            "/update", self._append_body(self.seq, send_ns), self.seq, send_ns, "append"
        )

    def _post(self, path: str, body: dict, seq: int, send_ns: int, op: str) -> bool:
        payload = json.dumps(body)
        self.journal_send(seq, send_ns, op, bytes=len(payload))
        status, error, ok = 0, None, False
        try:
            resp = self.session.post(self.base_url + path, data=payload, timeout=self.timeout)
            status = resp.status_code
            # Visdom answers the window id on success, an explanation otherwise.
            ok = status == 200 and resp.text == self.win
            if not ok:
                error = resp.text[:200] or f"HTTP {status}"
        except requests.RequestException as exc:
            error = f"{type(exc).__name__}: {exc}"[:200]
        return self.journal_ack(seq, send_ns, ok, status, error)
