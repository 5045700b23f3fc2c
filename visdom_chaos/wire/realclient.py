"""A training source that is the real `visdom` Python client, so the payloads are exactly
what users send (`viz.line(..., update="append")`, `viz.text(..., append=True)`,
`viz.image`, `viz.images`, `viz.bar`, `viz.heatmap`).

The client runs in a Python that has `visdom` installed (the Visdom target's own venv by
default: `client_python`), as a child process executing `realclient_driver.py`; this side
hands it one command per update and journals `send` (stamped when the command is handed
over, a few microseconds before the client builds its request) and `ack` (when the client
returned: ok when it answered the window id), exactly as `TrainingSource` does. Ids travel
where the client lets them (realclient_driver.py), so the id checkers judge line, scatter,
text, image and images windows as they judge the toolkit's own; bar and heatmap carry
none, and reports/checkers/userwin.py judges them by what they show.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from visdom_chaos.journal import JournalWriter
from visdom_chaos.wire.training import JournaledSource

REAL_KINDS = ("line", "scatter", "text", "image", "images", "bar", "heatmap")
DRIVER = Path(__file__).with_name("realclient_driver.py")
REPLY_TIMEOUT_S = 30.0  # the client's own requests time out before this
START_TIMEOUT_S = 60.0
ENV_PYTHON = "VISDOM_CHAOS_CLIENT_PYTHON"


class RealClientError(RuntimeError):
    """No Python with the visdom client, or the client process died."""


def _has_visdom(python: str) -> bool:
    try:
        res = subprocess.run(
            [python, "-c", "import visdom, numpy"], capture_output=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return res.returncode == 0


def client_python(version: str | None = None, explicit: str | None = None) -> str:
    """A Python that imports `visdom`: `explicit`, else $VISDOM_CHAOS_CLIENT_PYTHON, else the
    built Visdom target of `version` (stock; 0.2.4 for an external URL), else any built
    target, else this interpreter. A clear error when none has the client."""
    from visdom_chaos.targets import list_built, load_built

    tried: list[str] = []
    candidates = [explicit, os.environ.get(ENV_PYTHON)]
    if version and (built := load_built(version, "stock")) is not None:
        candidates.append(built.python)
    candidates += [b.python for b in list_built()] + [sys.executable]
    for python in candidates:
        if not python or python in tried:
            continue
        tried.append(python)
        if _has_visdom(python):
            return python
    raise RealClientError(
        "no Python with the visdom client (and numpy) found; tried "
        + ", ".join(tried)
        + f": build a target (visdom-chaos target build 0.2.4) or set {ENV_PYTHON}"
    )


class RealClientSource(JournaledSource):
    """One training job using the real client, writing to one window: `create()` is seq 0,
    each `append()` the next seq (the interface of TrainingSource)."""

    def __init__(
        self,
        base_url: str,
        source: str,
        journal: JournalWriter,
        *,
        python: str,
        env: str = "main",
        kind: str = "line",
        win: str | None = None,
    ) -> None:
        if kind not in REAL_KINDS:
            raise ValueError(f"unknown window kind {kind!r}; one of {', '.join(REAL_KINDS)}")
        self.base_url = base_url.rstrip("/")
        self.source = source
        self.journal = journal
        self.env = env
        self.kind = kind
        self.win = win or f"vc_client_{kind}_{source}"
        self.python = python
        self.seq = -1
        self.sent = 0
        self.acked = 0
        self.stderr_tail: list[str] = []
        self._lock = threading.Lock()
        self.proc = subprocess.Popen(
            [python, str(DRIVER), self.base_url, env, source, kind, self.win],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
            start_new_session=True,
        )
        threading.Thread(target=self._drain_stderr, name=f"{source}-stderr", daemon=True).start()

    def _drain_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr_tail = (self.stderr_tail + [line.rstrip()])[-10:]

    def create(self) -> bool:
        self.seq = 0
        return self._call("create", 0, timeout=START_TIMEOUT_S)

    def append(self) -> bool:
        if self.seq < 0:
            return self.create()
        self.seq += 1
        return self._call("append", self.seq)

    def _reply(self, timeout: float) -> dict[str, Any]:
        stdout = self.proc.stdout
        assert stdout is not None
        out: list[str] = []
        reader = threading.Thread(target=lambda: out.append(stdout.readline()))
        reader.daemon = True
        reader.start()
        reader.join(timeout)
        if not out or not out[0]:
            tail = " | ".join(self.stderr_tail[-3:])
            raise RealClientError(
                f"the visdom client process of {self.source} "
                + ("did not answer" if not out else f"exited ({self.proc.poll()})")
                + (f": {tail}" if tail else "")
            )
        return json.loads(out[0])

    def _call(self, op: str, seq: int, timeout: float = REPLY_TIMEOUT_S) -> bool:
        with self._lock:
            send_ns = time.time_ns()
            self.journal_send(seq, send_ns, op, via="visdom_client")
            assert self.proc.stdin is not None
            try:
                self.proc.stdin.write(json.dumps({"op": op, "seq": seq, "send_ns": send_ns}) + "\n")
                self.proc.stdin.flush()
                reply = self._reply(timeout)
            except (OSError, ValueError, RealClientError) as exc:
                reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:200]}
            ok = bool(reply.get("ok"))
            error = None if ok else str(reply.get("error") or "no window id")[:200]
            return self.journal_ack(seq, send_ns, ok, 200 if ok else 0, error)

    def close(self) -> None:
        """Stop the client process (bounded), also when it hangs."""
        if self.proc.poll() is None:
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.close()
            except OSError:
                pass
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
