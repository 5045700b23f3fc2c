"""Browser subscribers over WebSocket (/socket) and polling (/socket_wrap).

Each keeps a browser replica (visdom_chaos.wire.replica) and journals what it
receives and what the replica shows. Network I/O lives here; the replica is pure.
A subscriber runs its own reader thread (a greenlet under Locust's gevent).

Scripted behaviour, callable from any thread:
  drop(abrupt=True)   close without a close frame (tab killed / network gone)
  drop(abrupt=False)  clean close
  reconnect()         new connection, same tab state (what a reconnecting page would do)
  refresh()           page refresh: new connection, new empty tab, env reloaded
  stall(seconds)      stop reading for a while: a slow consumer
"""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from collections import deque
from typing import Any

import requests
import websocket

from visdom_chaos.ids import heads
from visdom_chaos.journal import JournalWriter
from visdom_chaos.wire.replica import (
    Applied,
    ProtocolError,
    Registered,
    RequestEnv,
    SendSocket,
    WindowClosed,
    make_replica,
)

TRAFFIC_SAMPLE = 20  # message sizes kept per window: the first and the last this many
POLL_INTERVAL_S = 0.5  # the browser's POLLING_INTERVAL (settings.js)
READ_TIMEOUT_S = 0.2  # socket timeout so the reader thread notices stalls and stops
HTTP_TIMEOUT_S = 10.0


def _pairs(ids) -> list[list[Any]]:
    return [[i[0], i[1]] for i in ids]


class Subscriber:
    transport = "abstract"

    def __init__(
        self,
        base_url: str,
        client_id: str,
        journal: JournalWriter,
        *,
        version: str,
        variant: str = "stock",
        env: str = "main",
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.client_id = client_id
        self.journal = journal
        self.version = version
        self.variant = variant
        self.env = env
        self.replica = make_replica(version, env_ids=[env], transport=self.transport, variant=variant)
        self.conn = 0
        self.connected = False
        self.received = 0
        self.http = requests.Session()
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._stall_until = 0.0
        self._thread: threading.Thread | None = None
        self.last_error: str | None = None
        self._stopped = False
        self._open_reason = "initial"
        # win -> [count, bytes, first sizes, last sizes] of window/window_update messages
        self._traffic: dict[str, list] = {}

    # -- lifecycle ----------------------------------------------------------------
    def start(self) -> None:
        self._stop.clear()
        self._open()
        self._thread = threading.Thread(target=self._run, name=self.client_id, daemon=True)
        self._thread.start()

    def stop(self, reason: str = "end") -> None:
        """Journal the final views, then disconnect for good (idempotent)."""
        if self._stopped:
            return
        self._stopped = True
        self.write_traffic()
        # A subscriber that left earlier is judged on the view it had when it left.
        self.write_views(final=self.connected)
        self._stop.set()
        self._close(reason, clean=True)
        if self._thread is not None:
            self._thread.join(timeout=5)

    def drop(self, abrupt: bool = True) -> None:
        self.write_views(final=False)
        self._close("abrupt" if abrupt else "clean", clean=not abrupt)

    def reconnect(self) -> None:
        with self._lock:
            if self.connected:
                self._close("abrupt", clean=False)
            self._open_reason = "reconnect"
            self._open()

    def refresh(self) -> None:
        with self._lock:
            self.write_views(final=False)
            if self.connected:
                self._close("refresh", clean=True)
            self.replica.reset()
            self._open_reason = "refresh"
            self._open()

    def switch_env(self, env: str) -> None:
        """The user picks another env in the tab: the browser posts for it on the same socket."""
        with self._lock:
            self.env = env
            self.replica.env_ids = [env]
            self.journal.write("resync", self.client_id, self.conn, reason="switch_env", env=env)
        self._request_env([env])

    def forward_after_close(self) -> None:
        """visdom #1381: a browser event (forward_to_vis) for a pane the server has just closed,
        as when a user clicks a pane while the training script's vis.close() is in flight.
        Uses a window of its own (no ids), so the tracked windows are untouched."""
        win = f"vc_closed_{self.client_id}_{self.conn}"
        body = {"data": [{"content": "closed soon", "type": "text"}], "win": win, "eid": self.env, "opts": {}}
        try:
            self.http.post(self.base_url + "/events", data=json.dumps(body), timeout=HTTP_TIMEOUT_S)
            self.http.post(self.base_url + "/close", data=json.dumps({"win": win, "eid": self.env}),
                           timeout=HTTP_TIMEOUT_S)
        except requests.RequestException as exc:
            self.last_error = f"forward_after_close: {exc}"
            return
        self._send({"cmd": "forward_to_vis", "data": {"eid": self.env, "target": win, "event_type": "Click"}})

    @property
    def sid(self) -> str | None:
        """The session id of the last `register` (the replica holds it, as the page does)."""
        return self.replica.sid

    def stall(self, seconds: float) -> None:
        self._stall_until = time.monotonic() + seconds

    @property
    def stalled(self) -> bool:
        return time.monotonic() < self._stall_until

    def write_traffic(self) -> None:
        with self._lock:
            for win, (count, total, first, last) in sorted(self._traffic.items()):
                self.journal.write("traffic", self.client_id, self.conn, env=self.env, win=win,
                                   messages=count, bytes=total, first=list(first), last=list(last))

    def _count_traffic(self, command: str, win: str | None, size: int) -> None:
        if win is None or command not in ("window", "window_update"):
            return
        entry = self._traffic.get(win)
        if entry is None:
            entry = self._traffic[win] = [0, 0, [], deque(maxlen=TRAFFIC_SAMPLE)]
        entry[0] += 1
        entry[1] += size
        if len(entry[2]) < TRAFFIC_SAMPLE:
            entry[2].append(size)
        entry[3].append(size)

    def write_views(self, final: bool) -> None:
        with self._lock:
            for (env, win), ids in self.replica.views().items():
                self.journal.write(
                    "view", self.client_id, self.conn, env=env, win=win, ids=_pairs(ids), final=final
                )

    # -- message handling ---------------------------------------------------------
    def _handle(self, raw: str | bytes) -> None:
        with self._lock:
            self.received += 1
            command, win = _peek(raw)
            self.journal.write(
                "recv", self.client_id, self.conn, command=command, bytes=len(raw), win=win
            )
            self._count_traffic(command, win, len(raw))
            requests_due = self._effects(self.replica.handle(raw, time.monotonic()))
        self._post_env_requests(requests_due)

    def _tick(self) -> None:
        with self._lock:
            requests_due = self._effects(self.replica.tick(time.monotonic()))
        self._post_env_requests(requests_due)

    def _post_env_requests(self, due: list[list[str]]) -> None:
        # Outside the lock: during a reload storm these POSTs would starve scripted drops.
        for env_ids in due:
            self._request_env(env_ids)

    def _effects(self, effects) -> list[list[str]]:
        """Journal the effects; return the env requests to post (after the lock is released)."""
        due: list[list[str]] = []
        for a in self.replica.drain_accepted():
            self.journal.write("accept", self.client_id, self.conn, env=a.env, win=a.win, head=a.head)
        for e in effects:
            if isinstance(e, Applied):
                self.journal.write(
                    "apply", self.client_id, self.conn, env=e.env, win=e.win, command=e.command,
                    added=[[i.source, i.seq, i.send_ns] for i in e.added],
                    removed=_pairs(e.removed), dup=_pairs(e.dup), size=e.size,
                    head=heads(self.replica.views().get((e.env, e.win), [])),
                )
            elif isinstance(e, RequestEnv):
                # The tab says "initial" after any register; name why this connection exists.
                reason = self._open_reason if e.reason == "initial" else e.reason
                self.journal.write("resync", self.client_id, self.conn, reason=reason, env=",".join(e.env_ids))
                due.append(list(e.env_ids))
            elif isinstance(e, Registered):
                self.journal.write("register", self.client_id, self.conn, sid=e.sid)
            elif isinstance(e, ProtocolError):
                self.journal.write(
                    "protocol_error", self.client_id, self.conn, kind=e.kind, win=e.win, detail=str(e.detail)[:300]
                )
            elif isinstance(e, SendSocket):
                self._send(e.message)
            elif isinstance(e, WindowClosed):
                self.journal.write("apply", self.client_id, self.conn, env=e.env, win=e.win, command="close",
                                   added=[], removed=[], dup=[], size=0)
        return due

    def _request_env(self, env_ids: list[str]) -> None:
        """The browser's postForEnv: the server answers by pushing the env over the socket."""
        sid = self.replica.sid
        if not sid or not env_ids:
            return
        path = f"/env/{env_ids[0]}" if len(env_ids) == 1 else "/compare/" + "+".join(env_ids)
        try:
            self.http.post(self.base_url + path, data=json.dumps({"sid": sid}), timeout=HTTP_TIMEOUT_S)
        except requests.RequestException as exc:
            self.last_error = f"env request failed: {exc}"

    # -- transport hooks ------------------------------------------------------------
    def _send(self, message: dict) -> None:
        raise NotImplementedError

    def _open(self) -> None:
        raise NotImplementedError

    def _close(self, reason: str, clean: bool) -> None:
        raise NotImplementedError

    def _run(self) -> None:
        raise NotImplementedError

    def _journal_disconnect(self, reason: str, clean: bool) -> None:
        self.journal.write("disconnect", self.client_id, self.conn, reason=reason, clean=clean)


def _peek(raw: str | bytes) -> tuple[str, str | None]:
    """Command and window of a message, for the recv record (the replica does the real parse)."""
    try:
        msg = json.loads(raw)
    except (ValueError, TypeError):
        return "undecodable", None
    if not isinstance(msg, dict):
        return "undecodable", None
    command = str(msg.get("command", ""))
    win = msg.get("win") if command == "window_update" else msg.get("id")
    return command, win if isinstance(win, str) else None


class WebSocketSubscriber(Subscriber):
    transport = "websocket"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._ws: websocket.WebSocket | None = None

    def _open(self) -> None:
        url = "ws" + self.base_url[len("http"):] + "/socket"
        with self._lock:
            self.conn += 1
            try:
                # The replica decodes the text itself (undecodable frames are protocol errors):
                # websocket-client's pure-Python UTF-8 check is the client's largest CPU cost.
                ws = websocket.create_connection(url, timeout=HTTP_TIMEOUT_S, enable_multithread=True,
                                                 skip_utf8_validation=True)
            except (OSError, websocket.WebSocketException) as exc:
                self.last_error = f"connect failed: {exc}"
                self.journal.write("disconnect", self.client_id, self.conn, reason="error", clean=False,
                                   detail=self.last_error)
                return
            ws.settimeout(READ_TIMEOUT_S)
            self._ws = ws
            self.connected = True
            self.journal.write(
                "connect", self.client_id, self.conn, transport=self.transport, url=url,
                local_port=ws.sock.getsockname()[1], env=self.env,
            )

    def _send(self, message: dict) -> None:
        ws = self._ws
        if ws is None:
            return
        try:
            ws.send(json.dumps(message))
        except (OSError, websocket.WebSocketException) as exc:
            self.last_error = f"send failed: {exc}"

    def _close(self, reason: str, clean: bool) -> None:
        with self._lock:
            ws, self._ws = self._ws, None
            if ws is None or not self.connected:
                return
            self.connected = False
            try:
                if clean:
                    ws.close(timeout=1)
                else:
                    # No close frame, and an RST rather than a FIN: like a killed tab.
                    ws.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    ws.sock.close()
            except (OSError, websocket.WebSocketException):
                pass
            self._journal_disconnect(reason, clean)

    def _run(self) -> None:
        while not self._stop.is_set():
            ws = self._ws
            if ws is None or self.stalled:
                time.sleep(0.05)
                continue
            try:
                raw = ws.recv()
            except websocket.WebSocketTimeoutException:
                self._tick()
                continue
            except UnicodeDecodeError as exc:  # a text frame that is not UTF-8
                with self._lock:
                    self.journal.write("protocol_error", self.client_id, self.conn, kind="undecodable",
                                       win=None, detail=str(exc)[:300])
                continue
            except (OSError, websocket.WebSocketException) as exc:
                with self._lock:
                    if self._ws is ws and self.connected:
                        self.connected = False
                        self._ws = None
                        self.last_error = str(exc)
                        self._journal_disconnect("server_closed", clean=False)
                continue
            if raw:
                self._handle(raw)
                self._tick()


class PollingSubscriber(Subscriber):
    """The browser's Poller (Legacy.js): GET /socket_wrap for a sid, then POST queries."""

    transport = "polling"

    def __init__(self, *args, poll_interval: float = POLL_INTERVAL_S, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.poll_interval = poll_interval
        self._sid: str | None = None

    def _open(self) -> None:
        url = self.base_url + "/socket_wrap"
        with self._lock:
            self.conn += 1
            try:
                sid = self.http.get(url, timeout=HTTP_TIMEOUT_S).json()["sid"]
            except (requests.RequestException, ValueError, KeyError) as exc:
                self.last_error = f"connect failed: {exc}"
                self.journal.write("disconnect", self.client_id, self.conn, reason="error", clean=False,
                                   detail=self.last_error)
                return
            self._sid = sid
            self.connected = True
            self.journal.write("connect", self.client_id, self.conn, transport=self.transport, url=url,
                               local_port=None, env=self.env, poll_sid=sid)

    def _send(self, message: dict) -> None:
        sid = self._sid
        if sid is None:
            return
        body = {"message_type": "send", "sid": sid, "message": json.dumps(message)}
        try:
            self.http.post(self.base_url + "/socket_wrap", data=json.dumps(body), timeout=HTTP_TIMEOUT_S)
        except requests.RequestException as exc:
            self.last_error = f"send failed: {exc}"

    def _close(self, reason: str, clean: bool) -> None:
        # Polling has nothing to close: the server forgets the sid after MAX_SOCKET_WAIT.
        with self._lock:
            if not self.connected:
                return
            self.connected = False
            self._sid = None
            self._journal_disconnect(reason, clean)

    def poll_once(self) -> int:
        sid = self._sid
        if sid is None:
            return 0
        try:
            resp = self.http.post(
                self.base_url + "/socket_wrap",
                data=json.dumps({"message_type": "query", "sid": sid}),
                timeout=HTTP_TIMEOUT_S,
            ).json()
        except (requests.RequestException, ValueError) as exc:
            self.last_error = str(exc)
            return 0
        if not resp.get("success"):
            with self._lock:
                if self._sid == sid and self.connected:
                    self.connected = False
                    self._sid = None
                    self._journal_disconnect("server_closed", clean=False)
            return 0
        messages = resp.get("messages") or []
        for raw in messages:
            self._handle(raw)
        return len(messages)

    def _run(self) -> None:
        while not self._stop.is_set():
            if self._sid is not None and not self.stalled:
                self.poll_once()
            self._tick()
            self._stop.wait(self.poll_interval)
