"""The client-socket probe (visdom #796, #450): does the released Python client notice that
its `/vis_socket` link went half-open, and do its event callbacks come back when the
network does?

The real client (callback_driver.py, in the target's own Python) reaches Visdom through the
chaos proxy and registers an event handler on a window; a browser-like socket of this
side, straight to Visdom, sends one `forward_to_vis` event every `event_every_s`, its seq
in `key`. Then, on the proxy:

1. cut, `healthy_s` after the first callback: every connection the client has open is frozen for good (`half_open` aimed at its
   port: the old path is gone, as after a NAT timeout or a network switch), and an unaimed
   `half_open` freezes every new one too (the outage);
2. heal, `outage_s` later: the unaimed toxic goes, so new connections pass again; the old
   ones stay frozen;
3. `observe_s` more of events.

A client that pings sees no pong during the outage, drops the link and reconnects; one that
does not (stock: `ping_timeout` without `ping_interval`) keeps waiting on the frozen link and
its callbacks never come back. Written to `client_socket.json` in the run folder
(reports/client_socket.py makes it the report's `client_socket` section).
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil
import websocket

from visdom_chaos.chaos.client import ChaosClient
from visdom_chaos.reports.client_socket import CLIENT_SOCKET_FILE

DRIVER = Path(__file__).with_name("callback_driver.py")
WIN = "vc_callbacks"
READY_TIMEOUT_S = 30.0
FIRST_CALLBACK_TIMEOUT_S = 10.0
MAX_TIMELINE = 40  # socket events listed in client_socket.json
MAX_LINES = 100_000  # driver lines kept (one per callback: a few hundred in a probe)


class ClientSocketError(RuntimeError):
    """The client did not start, or never got a callback while the link was healthy."""


@dataclass
class ProbeTiming:
    healthy_s: float = 1.0  # events on a healthy link after the first callback, before the cut
    outage_s: float = 5.0
    observe_s: float = 8.0
    event_every_s: float = 0.1

    def __post_init__(self) -> None:
        for name in ("healthy_s", "outage_s", "observe_s", "event_every_s"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or value <= 0:
                raise ValueError(f"client-socket probe: {name} must be a number > 0, got {value!r}")


@dataclass
class ProbeLog:
    """What the probe saw, wall-clock ns; `summarize` turns it into figures."""

    sent: dict[int, int] = field(default_factory=dict)  # seq -> send time
    lines: list[dict[str, Any]] = field(default_factory=list)  # the driver's, in order
    cut_ns: int = 0
    heal_ns: int = 0
    end_ns: int = 0
    frozen_ports: list[int] = field(default_factory=list)


def summarize(log: ProbeLog) -> dict[str, Any]:
    """Figures of one probe: pure, so the unit tests feed it made-up logs."""
    got: dict[int, int] = {}
    for line in log.lines:
        if line.get("ev") == "cb":
            try:
                seq = int(line.get("key", ""))
            except ValueError:
                continue
            got.setdefault(seq, int(line["t_ns"]))
    before = [s for s, t in log.sent.items() if t < log.cut_ns]
    after = sorted(s for s, t in log.sent.items() if t >= log.heal_ns)
    after_got = [s for s in after if s in got]
    after_cut = [ln for ln in log.lines if int(ln.get("t_ns", 0)) >= log.cut_ns]
    dead = [
        int(ln["t_ns"])
        for ln in after_cut
        if (ln.get("ev") == "alive" and not ln.get("alive"))
        or (ln.get("ev") == "log" and ln.get("level") in ("ERROR", "CRITICAL"))
    ]
    # a reconnect: socket_alive back to True, or the socket thread's "connected" line, after
    # the link was seen dead (0.2.4's on_close never runs, so socket_alive stays True there)
    back = [
        int(ln["t_ns"])
        for ln in after_cut
        if dead
        and int(ln["t_ns"]) > dead[0]
        and (
            (ln.get("ev") == "alive" and ln.get("alive"))
            or (ln.get("ev") == "log" and "connected" in str(ln.get("msg")))
        )
    ]
    first_after = min((got[s] for s in after_got), default=None)
    return {
        "sent_before": len(before),
        "callbacks_before": sum(1 for s in before if s in got),
        "sent_after_heal": len(after),
        "callbacks_after_heal": len(after_got),
        "noticed": int(bool(dead)),
        "noticed_after_s": round((dead[0] - log.cut_ns) / 1e9, 2) if dead else None,
        "reconnected": int(bool(back)),
        "reconnected_after_s": round((back[0] - log.cut_ns) / 1e9, 2) if back else None,
        "resumed": int(bool(after_got)),
        "resumed_after_heal_s": round((first_after - log.heal_ns) / 1e9, 2)
        if first_after is not None
        else None,
        "client_errors": [
            str(ln.get("msg"))
            for ln in after_cut
            if ln.get("ev") == "log" and ln.get("level") in ("ERROR", "CRITICAL")
        ][:5],
        "frozen_ports": log.frozen_ports,
        "timeline": [  # what the client said about its socket, seconds from the cut
            {
                "t_s": round((int(ln["t_ns"]) - log.cut_ns) / 1e9, 2),
                **{k: v for k, v in ln.items() if k not in ("t_ns", "ev")},
                "ev": ln.get("ev"),
            }
            for ln in log.lines
            if ln.get("ev") in ("alive", "log", "ready")
        ][:MAX_TIMELINE],
        "heal_s": round((log.heal_ns - log.cut_ns) / 1e9, 2) if log.heal_ns else None,
    }


def client_ports(pid: int, proxy_port: int) -> list[int]:
    """The client's own ports of its established connections to the proxy."""
    proc = psutil.Process(pid)
    conns = proc.net_connections(kind="tcp")
    return sorted(
        c.laddr.port
        for c in conns
        if c.raddr and c.raddr.port == proxy_port and c.status == psutil.CONN_ESTABLISHED
    )


class _Driver:
    """The callback driver process and a thread collecting its lines."""

    def __init__(self, python: str, env: Mapping[str, str], url: str, log: ProbeLog) -> None:
        self.log = log
        self.ready = threading.Event()
        self.error: str | None = None
        self.stderr_tail: list[str] = []
        self.proc = subprocess.Popen(
            [python, str(DRIVER), url, "main", WIN],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=dict(env),
            start_new_session=True,
        )
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._drain_stderr, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            try:
                line = json.loads(raw)
            except ValueError:
                continue
            if len(self.log.lines) < MAX_LINES:
                self.log.lines.append(line)
            if line.get("ev") == "error":
                self.error = str(line.get("msg"))
                self.ready.set()
            elif line.get("ev") == "ready":
                self.ready.set()
        if not self.ready.is_set():  # stdout closed before "ready": the process ended
            self.error = f"the driver exited ({self.proc.wait(timeout=5)})"
            self.ready.set()

    def _drain_stderr(self) -> None:
        assert self.proc.stderr is not None
        for raw in self.proc.stderr:
            self.stderr_tail = (self.stderr_tail + [raw.rstrip()])[-5:]

    def callbacks(self) -> int:
        return sum(1 for ln in self.log.lines if ln.get("ev") == "cb")

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.close()
                self.proc.wait(timeout=3)
            except (OSError, subprocess.TimeoutExpired):
                # its socket thread may sit on a frozen link for good: that is the finding
                self.proc.kill()
                self.proc.wait(timeout=5)


class _Sender:
    """A browser's socket straight to Visdom sending forward_to_vis events, seq in `key`."""

    def __init__(self, target_url: str, every_s: float, log: ProbeLog) -> None:
        ws_url = "ws" + target_url[len("http") :].rstrip("/") + "/socket"
        self.ws = websocket.create_connection(ws_url, timeout=5)
        self.every_s = every_s
        self.log = log
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._send, daemon=True),
            threading.Thread(target=self._drain, daemon=True),
        ]
        for th in self._threads:
            th.start()

    def _send(self) -> None:
        seq = max(self.log.sent, default=-1) + 1  # a sender after a restart goes on counting
        while not self._stop.is_set():
            event: dict[str, Any] = {"eid": "main", "target": WIN, "event_type": "KeyPress"}
            event["key"] = str(seq)
            event["pane_data"] = False  # the event alone: no pane copied into every message
            try:
                self.log.sent[seq] = time.time_ns()
                self.ws.send(json.dumps({"cmd": "forward_to_vis", "data": event}))
            except (OSError, websocket.WebSocketException):
                return
            seq += 1
            self._stop.wait(self.every_s)

    def _drain(self) -> None:  # what Visdom broadcasts to a tab is not the probe's business
        while not self._stop.is_set():
            try:
                self.ws.recv()
            except websocket.WebSocketTimeoutException:
                continue
            except (OSError, websocket.WebSocketException):
                return

    def stop(self) -> None:
        self._stop.set()
        for th in self._threads:
            th.join(timeout=6)
        self.ws.close()


FAULTS = ("half_open", "restart")


def run_probe(
    *,
    target_url: str,
    proxy_url: str,
    proxy_port: int,
    proxy: ChaosClient,
    proxy_name: str,
    python: str,
    env: Mapping[str, str],
    timing: ProbeTiming | None = None,
    fault: str = "half_open",
    restart: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """One probe run; returns client_socket.json's content. Every toxic it adds it removes.

    `fault = "restart"` (visdom #497): instead of freezing the link, `restart()` stops the
    Visdom process and starts it again on the same port (the cut is the stop, the heal the
    moment it answers again); the browser-like sender reconnects after it."""
    if fault not in FAULTS:
        raise ValueError(
            f"client-socket probe: fault must be one of {', '.join(FAULTS)}, got {fault!r}"
        )
    if fault == "restart" and restart is None:
        raise ValueError("client-socket probe: fault 'restart' needs a restart callable")
    timing = timing or ProbeTiming()
    log = ProbeLog()
    driver = _Driver(python, env, proxy_url, log)
    sender: _Sender | None = None
    added: list[str] = []
    try:
        if not driver.ready.wait(READY_TIMEOUT_S) or driver.error:
            raise ClientSocketError(
                "the visdom client did not start: "
                + (driver.error or "no answer in 30 s " + " | ".join(driver.stderr_tail[-2:]))
            )
        sender = _Sender(target_url, timing.event_every_s, log)
        deadline = time.monotonic() + FIRST_CALLBACK_TIMEOUT_S
        while driver.callbacks() == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        if driver.callbacks() == 0:
            raise ClientSocketError(
                "no callback reached the client while its link was healthy "
                f"({len(log.sent)} events sent in {FIRST_CALLBACK_TIMEOUT_S:.0f} s)"
            )
        time.sleep(timing.healthy_s)
        if fault == "restart":
            assert restart is not None
            log.cut_ns = time.time_ns()
            sender.stop()
            restart()
            log.heal_ns = time.time_ns()
            sender = _Sender(target_url, timing.event_every_s, log)
            time.sleep(timing.observe_s)
            log.end_ns = time.time_ns()
            return _result(log, timing, python, env, proxy_url, fault)
        log.frozen_ports = client_ports(driver.proc.pid, proxy_port)
        log.cut_ns = time.time_ns()
        for port in log.frozen_ports:  # the old path, gone for good
            name = f"client_dead_{port}"
            proxy.add_toxic(
                proxy_name,
                "half_open",
                name=name,
                stream="downstream",
                attributes={"downstream_port": port},
            )
            added.append(name)
        proxy.add_toxic(proxy_name, "half_open", name="client_outage", stream="downstream")
        added.append("client_outage")
        time.sleep(timing.outage_s)
        proxy.remove_toxic(proxy_name, "client_outage")
        added.remove("client_outage")
        log.heal_ns = time.time_ns()
        time.sleep(timing.observe_s)
        log.end_ns = time.time_ns()
    finally:
        if sender is not None:
            sender.stop()
        driver.stop()
        for name in added:
            try:
                proxy.remove_toxic(proxy_name, name)
            except Exception:  # noqa: BLE001 - the proxy may be gone; keep cleaning up
                pass
    return _result(log, timing, python, env, proxy_url, fault)


def _result(
    log: ProbeLog,
    timing: ProbeTiming,
    python: str,
    env: Mapping[str, str],
    via: str,
    fault: str,
) -> dict[str, Any]:
    return {
        **summarize(log),
        "fault": fault,
        "timing": asdict(timing),
        "python": python,
        "ping_env": {k: v for k, v in env.items() if k.startswith("VISDOM_CLIENT_PING")},
        "via": via,
    }


def write_client_socket(run_dir: Path, result: dict[str, Any]) -> Path:
    path = Path(run_dir) / CLIENT_SOCKET_FILE
    path.write_text(json.dumps(result, indent=1))
    return path
