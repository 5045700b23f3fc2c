"""Browser subscribers over WebSocket (/socket) and polling (/socket_wrap).

Each keeps a browser replica (visdom_chaos.wire.replica) and journals what it
receives and what the replica shows. Network I/O lives here; the replica is pure.

Three threads per subscriber (greenlets under Locust's gevent), so the instrument
never hides its own slowness in the figures it measures:
- the reader only reads: it stamps each frame (`rx`) the moment its bytes leave the
  socket, before any parsing, and hands it over (bounded);
- the processor decodes, reads the frame's ids off the wire (visdom_chaos.wire.frames),
  feeds the replica and journals; `t - rx` of its `recv` record is the receive backlog;
- the poster sends the replica's env requests, as the page's fetch() does, without
  holding up the reader or the processor.

Scripted behaviour, callable from any thread:
  drop(abrupt=True)   close without a close frame (tab killed / network gone)
  drop(abrupt=False)  clean close
  reconnect()         new connection, same tab state (what a reconnecting page would do)
  refresh()           page refresh: new connection, new empty tab, env reloaded
  stall(seconds)      stop reading for a while: a slow consumer
"""

from __future__ import annotations

import array
import fcntl
import json
import socket
import struct
import termios
import threading
import time
from collections import deque
from typing import Any

import requests
import websocket

from visdom_chaos.ids import heads
from visdom_chaos.journal import JournalWriter
from visdom_chaos.wire.digest import window_digest
from visdom_chaos.wire.frames import WireReader
from visdom_chaos.wire.replica import (
    Applied,
    ProtocolError,
    Registered,
    RequestEnv,
    SendSocket,
    WindowClosed,
    make_replica,
)
from visdom_chaos.wire.replica.jsvalue import JSParseError

TRAFFIC_SAMPLE = 20  # message sizes kept per window: the first and the last this many
POLL_INTERVAL_S = 0.5  # the browser's POLLING_INTERVAL (settings.js)
READ_TIMEOUT_S = 0.2  # socket timeout so the reader thread notices stalls and stops
HTTP_TIMEOUT_S = 10.0
INBOX_MAX = (
    100_000  # frames read but not yet processed; past this the reader waits (TCP pushes back)
)
POSTS_MAX = 1_000  # env requests waiting to be posted; past this they are counted and dropped
PROCESS_WAIT_S = 0.05  # longest the processor sleeps: replica timers are due at least this often
DRAIN_TIMEOUT_S = 5.0  # bound on processing what is already read, before a close or the end
CLIENT_HEADER = "X-VC-Client"  # lets the chaos proxy aim a toxic at one subscriber


def _pairs(ids) -> list[list[Any]]:
    return [[i[0], i[1]] for i in ids]


def kernel_backlog(sock: socket.socket | None) -> int | None:
    """Bytes waiting in the kernel's receive buffer (FIONREAD): what the reader has not read yet."""
    if sock is None:
        return None
    buf = array.array("i", [0])
    try:
        fcntl.ioctl(sock.fileno(), termios.FIONREAD, buf)
    except (OSError, ValueError):
        return None
    return buf[0]


def burn(ms: float) -> None:
    """Spend `ms` of CPU (the starved-observer knob of the ground-truth tests)."""
    end = time.perf_counter() + ms / 1000.0
    while time.perf_counter() < end:
        pass


class Subscriber:
    transport = "abstract"
    journal_recv = True  # Locust's lighter mode turns the per-frame record off

    def __init__(
        self,
        base_url: str,
        client_id: str,
        journal: JournalWriter,
        *,
        version: str,
        variant: str = "stock",
        env: str = "main",
        burn_ms: float = 0.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.client_id = client_id
        self.journal = journal
        self.version = version
        self.variant = variant
        self.env = env
        self.burn_ms = burn_ms
        self.replica = make_replica(
            version, env_ids=[env], transport=self.transport, variant=variant
        )
        self.wire = WireReader()
        self.conn = 0
        self.connected = False
        self.received = 0  # frames processed
        self.read = 0  # frames read off the socket
        self.http = requests.Session()
        self.http.headers[CLIENT_HEADER] = client_id
        self._lock = threading.RLock()  # replica, journal order, connection state
        self._stop = threading.Event()
        self._stall_until = 0.0
        self._threads: list[threading.Thread] = []
        self.last_error: str | None = None
        self._stopped = False
        self._open_reason = "initial"
        # win -> [count, bytes, first sizes, last sizes] of window/window_update messages
        self._traffic: dict[str, list] = {}
        # what the reader handed over: ("frame", conn, rx, raw, extra) | ("closed", conn, reason, detail)
        self._inbox: deque[tuple[Any, ...]] = deque()
        self._wake = threading.Event()
        self._posts: deque[list[str]] = deque()
        self._post_wake = threading.Event()
        self._posting = 0
        self.inbox_full = 0  # times the reader had to wait for the processor
        self.posts_dropped = 0

    # -- lifecycle ----------------------------------------------------------------
    def start(self) -> None:
        self._stop.clear()
        self._open()
        for name, target in (
            ("read", self._read_loop),
            ("process", self._process_loop),
            ("post", self._post_loop),
        ):
            th = threading.Thread(target=target, name=f"{self.client_id}-{name}", daemon=True)
            th.start()
            self._threads.append(th)

    def stop(self, reason: str = "end") -> None:
        """Journal the final views, then disconnect for good (idempotent)."""
        if self._stopped:
            return
        self._stopped = True
        with self._lock:
            self._drain()
            self.write_traffic()
            # A subscriber that left earlier is judged on the view it had when it left.
            self.write_views(final=self.connected)
        self._shutdown(reason, clean=True)

    def _shutdown(self, reason: str, clean: bool) -> None:
        self._stop.set()
        self._wake.set()
        self._post_wake.set()
        self._close(reason, clean=clean)
        for th in self._threads:
            th.join(timeout=5)

    def drop(self, abrupt: bool = True) -> None:
        with self._lock:
            self._drain()
            self.write_views(final=False)
            self._close("abrupt" if abrupt else "clean", clean=not abrupt)

    def reconnect(self) -> None:
        with self._lock:
            self._drain()
            if self.connected:
                self._close("abrupt", clean=False)
            self._open_reason = "reconnect"
            self._open()

    def refresh(self) -> None:
        with self._lock:
            self._drain()
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
        self._queue_post([env])

    def forward_after_close(self) -> None:
        """visdom #1381: a browser event (forward_to_vis) for a pane the server has just closed,
        as when a user clicks a pane while the training script's vis.close() is in flight.
        Uses a window of its own (no ids), so the tracked windows are untouched."""
        win = f"vc_closed_{self.client_id}_{self.conn}"
        body = {
            "data": [{"content": "closed soon", "type": "text"}],
            "win": win,
            "eid": self.env,
            "opts": {},
        }
        try:
            self.http.post(self.base_url + "/events", data=json.dumps(body), timeout=HTTP_TIMEOUT_S)
            self.http.post(
                self.base_url + "/close",
                data=json.dumps({"win": win, "eid": self.env}),
                timeout=HTTP_TIMEOUT_S,
            )
        except requests.RequestException as exc:
            self.last_error = f"forward_after_close: {exc}"
            return
        self._send(
            {
                "cmd": "forward_to_vis",
                "data": {"eid": self.env, "target": win, "event_type": "Click"},
            }
        )

    def delete_env(self, env: str) -> None:
        """visdom #303 / #887: the user deletes an env from the env manager of the page, here
        the one the tab shows while training still writes to it. The page sends this on
        its socket (both Visdom versions): `prev_eid` the env shown, `eid` the one deleted."""
        self._send({"cmd": "delete_env", "prev_eid": self.env, "eid": env})

    @property
    def sid(self) -> str | None:
        """The session id of the last `register` (the replica holds it, as the page does)."""
        return self.replica.sid

    @property
    def busy(self) -> bool:
        """Frames read but not processed, env requests under way, or replica timers pending:
        the tab may still change without another message from the server."""
        return bool(
            self._inbox or self._posts or self._posting or self.replica.next_timer() is not None
        )

    def stall(self, seconds: float) -> None:
        self._stall_until = time.monotonic() + seconds

    def unstall(self) -> None:
        """End a stall now: the reader goes back to reading its socket."""
        self._stall_until = 0.0

    @property
    def stalled(self) -> bool:
        return time.monotonic() < self._stall_until

    def write_traffic(self) -> None:
        with self._lock:
            for win, (count, total, first, last) in sorted(self._traffic.items()):
                self.journal.write(
                    "traffic",
                    self.client_id,
                    self.conn,
                    env=self.env,
                    win=win,
                    messages=count,
                    bytes=total,
                    first=list(first),
                    last=list(last),
                )

    def _count_traffic(self, command: str, win: str | None, size: int) -> None:
        if win is None or command not in ("window", "window_update", "text_append"):
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
                # what it shows, for judging a user's own window (its "ids", if any, are
                # the trace names and x values of a plot no toolkit source wrote)
                digest = window_digest(self.replica.window(env, win))
                self.journal.write(
                    "view",
                    self.client_id,
                    self.conn,
                    env=env,
                    win=win,
                    ids=_pairs(ids),
                    final=final,
                    digest=digest,
                )

    # -- reader side: hand frames over, stamped, without parsing them -----------------
    def _hand_over(self, item: tuple[Any, ...]) -> None:
        while len(self._inbox) >= INBOX_MAX and not self._stop.is_set():
            self.inbox_full += 1
            time.sleep(0.01)  # the processor is far behind: stop reading, let TCP push back
        self._inbox.append(item)  # deque appends are atomic: no lock, the reader never waits on one
        self._wake.set()

    # -- processor side -------------------------------------------------------------
    def _process_loop(self) -> None:
        while not self._stop.is_set():
            due = self.replica.next_timer()
            wait = (
                PROCESS_WAIT_S
                if due is None
                else min(PROCESS_WAIT_S, max(0.0, due - time.monotonic()))
            )
            self._wake.wait(wait)
            self._wake.clear()
            with self._lock:
                if self._stop.is_set():
                    return
                self._drain()
                self._tick()

    def _drain(self, timeout_s: float = DRAIN_TIMEOUT_S) -> None:
        """Process what the reader handed over (call with the lock held)."""
        end = time.monotonic() + timeout_s
        inbox = self._inbox
        while inbox and time.monotonic() < end:
            item = inbox.popleft()
            if item[0] == "frame":
                self._process_frame(*item[1:])
            else:
                self._reader_closed(*item[1:])

    def _process_frame(
        self, conn: int, rx: int, raw: str | bytes, extra: dict[str, Any] | None
    ) -> None:
        self.received += 1
        try:
            msg: Any = self.replica.decode(raw)
        except JSParseError:
            msg = None
        if self.burn_ms:
            burn(self.burn_ms)
        wire = self.wire.read(msg)
        # The tab would have handled the frame when it arrived: its timers count from there.
        now = time.monotonic() - max(0, time.time_ns() - rx) / 1e9
        effects = self.replica.handle(msg if isinstance(msg, dict) else raw, now)
        command, win = _command_and_window(msg)
        if self.journal_recv:
            fields: dict[str, Any] = {"rx": rx, "command": command, "bytes": len(raw), "win": win}
            if extra:
                fields.update(extra)
            if wire:
                fields.update(wire)
            self.journal.write("recv", self.client_id, conn, **fields)
        self._count_traffic(command, win, len(raw))
        self._queue_posts(self._effects(effects))

    def _reader_closed(self, conn: int, reason: str, detail: str) -> None:
        """The reader saw its connection end (the server closed it, or a poll was refused)."""
        if conn == self.conn and self.connected:
            self.connected = False
            self.last_error = detail
            self._forget_transport()
            self._journal_disconnect(reason, clean=False)

    def _tick(self) -> None:
        self._queue_posts(self._effects(self.replica.tick(time.monotonic())))

    def _effects(self, effects) -> list[list[str]]:
        """Journal the effects; return the env requests to post."""
        due: list[list[str]] = []
        for a in self.replica.drain_accepted():
            self.journal.write(
                "accept", self.client_id, self.conn, env=a.env, win=a.win, head=a.head
            )
        for e in effects:
            if isinstance(e, Applied):
                self.journal.write(
                    "apply",
                    self.client_id,
                    self.conn,
                    env=e.env,
                    win=e.win,
                    command=e.command,
                    added=[[i.source, i.seq, i.send_ns] for i in e.added],
                    removed=_pairs(e.removed),
                    dup=_pairs(e.dup),
                    size=e.size,
                    head=heads(self.replica.view(e.env, e.win)),
                )
            elif isinstance(e, RequestEnv):
                # The tab says "initial" after any register; name why this connection exists.
                reason = self._open_reason if e.reason == "initial" else e.reason
                fields: dict[str, Any] = {"win": e.trigger_win} if e.trigger_win else {}
                self.journal.write(
                    "resync",
                    self.client_id,
                    self.conn,
                    reason=reason,
                    env=",".join(e.env_ids),
                    **fields,
                )
                due.append(list(e.env_ids))
            elif isinstance(e, Registered):
                self.journal.write("register", self.client_id, self.conn, sid=e.sid)
            elif isinstance(e, ProtocolError):
                fields = {"hint": e.hint} if e.hint else {}
                self.journal.write(
                    "protocol_error",
                    self.client_id,
                    self.conn,
                    kind=e.kind,
                    win=e.win,
                    detail=str(e.detail)[:300],
                    **fields,
                )
            elif isinstance(e, SendSocket):
                self._send(e.message)
            elif isinstance(e, WindowClosed):
                self.journal.write(
                    "apply",
                    self.client_id,
                    self.conn,
                    env=e.env,
                    win=e.win,
                    command="close",
                    added=[],
                    removed=[],
                    dup=[],
                    size=0,
                )
        return due

    # -- poster side: the page's postForEnv, off the reading and processing path ------
    def _queue_posts(self, due: list[list[str]]) -> None:
        for env_ids in due:
            self._queue_post(env_ids)

    def _queue_post(self, env_ids: list[str]) -> None:
        if len(self._posts) >= POSTS_MAX:
            self.posts_dropped += 1
            return
        self._posts.append(env_ids)
        self._post_wake.set()

    def _post_loop(self) -> None:
        while not self._stop.is_set():
            self._post_wake.wait(PROCESS_WAIT_S)
            self._post_wake.clear()
            while self._posts and not self._stop.is_set():
                self._posting += 1
                try:
                    self._request_env(self._posts.popleft())
                finally:
                    self._posting -= 1

    def _request_env(self, env_ids: list[str]) -> None:
        """The browser's postForEnv: the server answers by pushing the env over the socket."""
        sid = self.replica.sid
        if not sid or not env_ids:
            return
        path = f"/env/{env_ids[0]}" if len(env_ids) == 1 else "/compare/" + "+".join(env_ids)
        try:
            self.http.post(
                self.base_url + path, data=json.dumps({"sid": sid}), timeout=HTTP_TIMEOUT_S
            )
        except requests.RequestException as exc:
            self.last_error = f"env request failed: {exc}"

    # -- transport hooks ------------------------------------------------------------
    def _send(self, message: dict) -> None:
        raise NotImplementedError

    def _open(self) -> None:
        raise NotImplementedError

    def _close(self, reason: str, clean: bool) -> None:
        raise NotImplementedError

    def _forget_transport(self) -> None:
        raise NotImplementedError

    def _read_loop(self) -> None:
        raise NotImplementedError

    def _connect_failed(self, exc: Exception) -> None:
        self.last_error = f"connect failed: {exc}"
        self.journal.write(
            "disconnect",
            self.client_id,
            self.conn,
            reason="error",
            clean=False,
            detail=self.last_error,
        )

    def _journal_disconnect(self, reason: str, clean: bool) -> None:
        self.journal.write("disconnect", self.client_id, self.conn, reason=reason, clean=clean)

    def _journal_connect(self, **fields: Any) -> None:
        self.wire.reset()
        self.journal.write(
            "connect", self.client_id, self.conn, transport=self.transport, env=self.env, **fields
        )


def _command_and_window(msg: Any) -> tuple[str, str | None]:
    """Command and window of a decoded message, for the recv record."""
    if not isinstance(msg, dict):
        return "undecodable", None
    command = str(msg.get("command", ""))
    win = msg.get("win") if command in ("window_update", "text_append") else msg.get("id")
    return command, win if isinstance(win, str) else None


class WebSocketSubscriber(Subscriber):
    transport = "websocket"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._ws: websocket.WebSocket | None = None
        self._ws_conn = 0  # the connection number of self._ws, read together by the reader

    def _open(self) -> None:
        url = "ws" + self.base_url[len("http") :] + "/socket"
        with self._lock:
            self.conn += 1
            try:
                # The replica decodes the text itself (undecodable frames are protocol errors):
                # websocket-client's pure-Python UTF-8 check is the client's largest CPU cost.
                ws = websocket.create_connection(
                    url,
                    timeout=HTTP_TIMEOUT_S,
                    enable_multithread=True,
                    skip_utf8_validation=True,
                    header=[f"{CLIENT_HEADER}: {self.client_id}"],
                )
            except (OSError, websocket.WebSocketException) as exc:
                self._connect_failed(exc)
                return
            ws.settimeout(READ_TIMEOUT_S)
            # Read before the reader sees ws: a recv that meets a closed connection sets ws.sock
            # to None. create_connection returns a connected WebSocket, whose sock is set.
            assert ws.sock is not None
            local_port = ws.sock.getsockname()[1]
            self._ws, self._ws_conn = ws, self.conn
            self.connected = True
            self._journal_connect(url=url, local_port=local_port)

    def _send(self, message: dict) -> None:
        ws = self._ws
        if ws is None:
            return
        try:
            ws.send(json.dumps(message))
        except (OSError, websocket.WebSocketException) as exc:
            self.last_error = f"send failed: {exc}"

    def _forget_transport(self) -> None:
        self._ws = None

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
                    # No close frame, and an RST rather than a FIN: like a killed tab. No socket
                    # left: the reader's recv met the server's close first and the library
                    # closed it (the processor has not taken note yet).
                    sock = ws.sock
                    if sock is not None:
                        sock.setsockopt(
                            socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                        )
                        sock.close()
            except (OSError, websocket.WebSocketException):
                pass
            self._journal_disconnect(reason, clean)

    def _read_loop(self) -> None:
        while not self._stop.is_set():
            ws, conn = self._ws, self._ws_conn
            if ws is None or self.stalled:
                time.sleep(0.05)
                continue
            try:
                raw = ws.recv()
            except websocket.WebSocketTimeoutException:
                continue
            except UnicodeDecodeError as exc:  # a text frame that is not UTF-8
                self._hand_over(
                    ("frame", conn, time.time_ns(), b"\xff", {"detail": str(exc)[:200]})
                )
                continue
            except (OSError, websocket.WebSocketException) as exc:
                if self._ws is ws:
                    self._hand_over(("closed", conn, "server_closed", str(exc)))
                    while self._ws is ws and not self._stop.is_set():
                        time.sleep(0.01)  # until the processor has taken note
                continue
            rx = time.time_ns()  # first thing after the bytes left the socket
            self.read += 1
            if raw:
                self._hand_over(("frame", conn, rx, raw, {"rxq": kernel_backlog(ws.sock)}))


class PollingSubscriber(Subscriber):
    """The browser's Poller (Legacy.js): GET /socket_wrap for a sid, then POST queries."""

    transport = "polling"

    def __init__(self, *args, poll_interval: float = POLL_INTERVAL_S, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.poll_interval = poll_interval
        self._sid: str | None = None
        self._polls = 0  # poll responses on this connection

    def _open(self) -> None:
        url = self.base_url + "/socket_wrap"
        with self._lock:
            self.conn += 1
            try:
                sid = self.http.get(url, timeout=HTTP_TIMEOUT_S).json()["sid"]
            except (requests.RequestException, ValueError, KeyError) as exc:
                self._connect_failed(exc)
                return
            self._sid, self._polls = sid, 0
            self.connected = True
            self._journal_connect(url=url, local_port=None, poll_sid=sid)

    def _send(self, message: dict) -> None:
        sid = self._sid
        if sid is None:
            return
        body = {"message_type": "send", "sid": sid, "message": json.dumps(message)}
        try:
            self.http.post(
                self.base_url + "/socket_wrap", data=json.dumps(body), timeout=HTTP_TIMEOUT_S
            )
        except requests.RequestException as exc:
            self.last_error = f"send failed: {exc}"

    def _forget_transport(self) -> None:
        self._sid = None

    def _close(self, reason: str, clean: bool) -> None:
        # Polling has nothing to close: the server forgets the sid after MAX_SOCKET_WAIT.
        with self._lock:
            if not self.connected:
                return
            self.connected = False
            self._sid = None
            self._journal_disconnect(reason, clean)

    def poll_once(self) -> int:
        sid, conn = self._sid, self.conn
        if sid is None:
            return 0
        try:
            resp = self.http.post(
                self.base_url + "/socket_wrap",
                data=json.dumps({"message_type": "query", "sid": sid}),
                timeout=HTTP_TIMEOUT_S,
            )
            rx = time.time_ns()  # the response's bytes are in: the stamp before decoding
            body = resp.json()
        except (requests.RequestException, ValueError) as exc:
            self.last_error = str(exc)
            return 0
        if not isinstance(body, dict) or not body.get("success"):
            if self._sid == sid:
                self._hand_over(("closed", conn, "server_closed", "poll refused"))
            return 0
        messages = body.get("messages") or []
        poll = self._polls
        self._polls += 1
        for pos, raw in enumerate(messages):
            self.read += 1
            self._hand_over(("frame", conn, rx, raw, {"poll": poll, "pos": pos}))
        return len(messages)

    def _read_loop(self) -> None:
        while not self._stop.is_set():
            if self._sid is not None and not self.stalled:
                self.poll_once()
            self._stop.wait(self.poll_interval)
