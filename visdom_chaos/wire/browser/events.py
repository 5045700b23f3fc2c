"""The page's own events, journalled as they happen (Playwright dispatches them on the
worker thread): console errors, uncaught exceptions, requests, WebSocket frames, page loads.

Journal (client id, `conn` counting the page's sockets from 1):
- `connect` (`transport: "browser"`, `url`, `local_port: 0` and `local_ports`: Chromium's
  established connections to the server at that moment) at a socket's first frame — or, on
  the polling UI, at its first answered `/socket_wrap` poll; `disconnect` when it closes;
- `register` (`sid`), `recv` (`command`, `bytes`, `win` and the wire ids) per frame;
- `resync` reason `env_request`: a `POST /env/<id>` beyond the UI's own after a `register`;
- `protocol_error` kinds `console_error`, `page_error`, `request_failed`, `offsite_request`,
  `undecodable`.

What is journalled is not also kept: counters, the first KEPT_ERRORS page errors, and the
wire readers of the last two sockets.
"""

from __future__ import annotations

import json
import threading
from typing import Any
from urllib.parse import urlsplit

import psutil

from visdom_chaos.journal import JournalWriter
from visdom_chaos.wire.frames import WireReader

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
# The UI POSTs /env/<id> right after a `register`: twice after the first register of a page
# load (0.2.4: the register handler and the first componentDidUpdate; 0.3.0: the
# sessionInfo and mounted effects), once after a later one (the user reconnecting with the
# navbar badge). Any further POST is a re-fetch (0.2.4: hash mismatch, 0.3.0: version
# gap), journalled as `resync` reason `env_request`. Counted in the order the page issues
# requests, so a re-fetch is told apart however soon it follows the register.
INITIAL_ENV_POSTS_FIRST = 2
INITIAL_ENV_POSTS_LATER = 1
KEPT_ERRORS = 20  # page errors kept in memory (all are journalled), as the report lists them


def is_loopback(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme in ("data", "blob", "about"):
        return True
    return (parts.hostname or "") in LOOPBACK_HOSTS or (parts.hostname or "").startswith("127.")


def chromium_ports(server_port: int) -> list[int]:
    """Local ports of Chromium's established connections to the server (for ghost matching)."""
    ports: list[int] = []
    try:
        procs = psutil.Process().children(recursive=True)
    except psutil.Error:
        return ports
    for p in procs:
        try:
            if "chrom" not in p.name():
                continue
            for c in p.net_connections(kind="tcp"):
                if c.raddr and c.raddr.port == server_port and c.status == psutil.CONN_ESTABLISHED:
                    ports.append(c.laddr.port)
        except psutil.Error:
            continue
    return sorted(set(ports))


class PageEvents:
    """One tab's connections as its page events show them, and the journal of those events.

    `env` is the env the tab shows (the subscriber changes it on an env switch); `stopping`
    is set while the browser closes (a poll answered then opens no connection).
    """

    def __init__(
        self,
        journal: JournalWriter,
        client_id: str,
        base_url: str,
        env: str,
        stopping: threading.Event,
        record_frames: bool = True,
    ) -> None:
        self.journal = journal
        self.client_id = client_id
        self.base_url = base_url
        self.env = env
        self.record_frames = record_frames
        self._stopping = stopping
        self._server_port = urlsplit(base_url).port or 80
        self.conn = 0  # the page's sockets, counted from 1
        self.received = 0  # WebSocket frames received, all connections
        self.sid: str | None = None  # from the last `register` message
        self.errors: dict[str, int] = {}  # protocol_error kind -> how many journalled
        self.page_errors: list[str] = []  # the first KEPT_ERRORS uncaught exceptions
        self.env_requests = 0  # requests to /env/… the page made (its loads and env POSTs)
        self.env_refetches = 0  # POST /env/ re-fetches after the initial ones
        self._open_conns: set[int] = set()  # conn numbers of sockets open now
        self._opened_upto = 0  # highest conn number journalled as `connect`
        self._close_reason = ""  # why the next close happens, when we cause it
        # the UI's own env POSTs still due after the last `register`; None: no register since
        # the page (re)loaded (its POSTs before one carry no session)
        self._initial_posts_left: int | None = None
        self._wire: dict[int, WireReader] = {}  # conn -> what that socket's frames carried

    @property
    def connected(self) -> bool:
        return bool(self._open_conns)

    @property
    def opened_upto(self) -> int:
        """The highest connection number journalled as open: a new socket raises it."""
        return self._opened_upto

    def expect_close(self, reason: str) -> None:
        """The next socket close is ours, for `reason` ("" : not ours after all)."""
        self._close_reason = reason

    def hook(self, page: Any) -> None:
        page.on("console", self._on_console)
        page.on("pageerror", self._on_page_error)
        page.on("websocket", self._on_websocket)
        page.on("request", self._on_request_sent)
        page.on("framenavigated", self._on_navigated)
        page.on("requestfinished", lambda r: self._on_request(r, None))
        page.on("requestfailed", lambda r: self._on_request(r, r.failure or "failed"))

    def journal_disconnect(self, reason: str, conn: int | None = None, detail: str = "") -> None:
        """Journal each open connection's end once (`conn`: that one only)."""
        conns = sorted(self._open_conns) if conn is None else [conn]
        for c in conns:
            if c not in self._open_conns:
                continue
            self._open_conns.discard(c)
            fields: dict[str, Any] = {
                "reason": reason,
                "clean": reason in ("clean", "refresh", "end", "switch_env"),
            }
            if detail:
                fields["detail"] = detail[:300]
            self.journal.write("disconnect", self.client_id, c, **fields)

    # --- handlers -----------------------------------------------------------------

    def _error(self, kind: str, detail: str, conn: int | None = None) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1
        self.journal.write(
            "protocol_error",
            self.client_id,
            self.conn if conn is None else conn,
            kind=kind,
            win=None,
            detail=detail,
        )

    def _on_console(self, msg: Any) -> None:
        if msg.type == "error":
            self._error("console_error", msg.text[:500])

    def _on_page_error(self, err: Any) -> None:
        text = getattr(err, "stack", None) or str(err)
        if len(self.page_errors) < KEPT_ERRORS:
            self.page_errors.append(text)
        self._error("page_error", text[:1000])

    def _on_navigated(self, frame: Any) -> None:
        if frame.parent_frame is None:  # the page itself (re)loaded: a new App
            self._initial_posts_left = None

    def _on_request_sent(self, request: Any) -> None:
        path = urlsplit(request.url).path
        if (
            request.method != "POST"
            or not ("/env/" in path or "/compare/" in path)
            or self._initial_posts_left is None
        ):
            return
        if self._initial_posts_left > 0:
            self._initial_posts_left -= 1
            return
        self.env_refetches += 1
        self.journal.write("resync", self.client_id, self.conn, reason="env_request", env=self.env)

    def _on_request(self, request: Any, failure: str | None) -> None:
        status = None
        if failure is None:
            try:
                resp = request.response()
                status = resp.status if resp else None
            except Exception:
                status = None
        url = request.url
        if "/env/" in url:
            self.env_requests += 1
        if "/socket_wrap" in url and (failure or (status or 0) >= 400):
            self.journal_disconnect("error", detail=f"poll failed: {failure or status}")
        elif (
            "/socket_wrap" in url
            and status == 200
            and not self._open_conns
            and not self._stopping.is_set()
        ):
            # Polling UI (USE_POLLING): its first answered poll is this page's "socket open"
            # (not one answered while the browser closes, after stop() journalled the end).
            self.conn += 1
            self._opened_upto = self.conn
            self._journal_connect(self.conn, url.split("?")[0], polling=True)
        if not is_loopback(url) and is_loopback(self.base_url):
            # The offline UI must not reach out; a loopback target makes any other host a leak.
            self._error("offsite_request", url[:500])
        if failure is not None or (status is not None and status >= 400):
            self._error("request_failed", f"{url} {failure or status}"[:500])

    def _on_websocket(self, ws: Any) -> None:
        # Created is not open: `connect` is journalled at the first frame (Visdom sends
        # `register` right after the handshake), when Chromium's socket is established.
        self.conn += 1
        conn = self.conn
        self._close_reason = ""
        ws.on("framereceived", lambda payload: self._on_frame(conn, ws.url, payload))
        ws.on("socketerror", lambda err: self._on_ws_close(conn, ws.url, "error", str(err)))
        ws.on(
            "close",
            lambda _ws: self._on_ws_close(conn, ws.url, self._close_reason or "server_closed"),
        )

    def _journal_connect(self, conn: int, url: str, polling: bool = False) -> None:
        self._open_conns.add(conn)
        self.journal.write(
            "connect",
            self.client_id,
            conn,
            transport="browser",
            url=url,
            env=self.env,
            local_port=0,
            local_ports=chromium_ports(self._server_port),
            polling=polling,
        )

    def _on_ws_close(self, conn: int, url: str, reason: str, detail: str = "") -> None:
        if conn > self._opened_upto:  # closed before it ever opened
            self._opened_upto = conn
            self._journal_connect(conn, url)
            reason = "error" if reason == "server_closed" else reason
        self.journal_disconnect(reason, conn, detail)

    def _on_frame(self, conn: int, url: str, payload: str | bytes) -> None:
        if conn > self._opened_upto:
            self._opened_upto = conn
            self._journal_connect(conn, url)
        self.received += 1
        try:
            msg = json.loads(payload)
        except (ValueError, TypeError):
            msg = None
        if not isinstance(msg, dict):
            self._error("undecodable", str(payload[:200]), conn)
            return
        command = msg.get("command", "?")
        if command == "register":
            self.sid = msg.get("data")
            first = self._initial_posts_left is None
            self._initial_posts_left = INITIAL_ENV_POSTS_FIRST if first else INITIAL_ENV_POSTS_LATER
            self.journal.write("register", self.client_id, conn, sid=self.sid)
        if self.record_frames:
            # What reached the page, read off the frame as for the replicas: a page that heals itself
            # (0.2.4 re-fetches the env on a hash mismatch) must not hide what the server sent it.
            # No `rx`: Playwright's event comes late and out of band, not when the bytes were read.
            reader = self._wire.get(conn)
            if reader is None:
                reader = self._wire[conn] = WireReader()
                for old in [c for c in self._wire if c < conn - 1]:
                    del self._wire[old]  # a page has one live socket: keep the last two
            self.journal.write(
                "recv",
                self.client_id,
                conn,
                command=command,
                bytes=len(payload),
                win=msg.get("id") or msg.get("win"),
                **reader.read(msg),
            )
