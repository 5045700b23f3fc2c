"""A real-browser subscriber: headless Debian Chromium driven by Playwright.

It opens the Visdom UI of one env and reads back what the page actually shows:
each pane's Plotly trace data (`el.data` of `.js-plotly-plot`) and the text of text
panes, with event ids extracted by visdom_chaos.ids, journalled as `view` records
(transport `browser`) exactly like the replica's. Besides that it journals the
page's WebSocket lifecycle (`connect`/`register`/`recv`/`disconnect`), console errors
and uncaught exceptions (`protocol_error` kinds `console_error`, `page_error`,
`request_failed`), the JS heap over time (`browser_sample`, from CDP
Performance.getMetrics) and leaves a screenshot in the run folder at the end.

Playwright's sync API must stay on the thread that created it, and its events are
only dispatched while that thread is inside a Playwright call; so one worker thread
owns the browser, pumps events, samples the heap, and runs the public methods'
work items from a queue (each call bounded by a timeout).
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import psutil

from visdom_chaos.ids import EventId, ids_in_text, ids_in_traces
from visdom_chaos.journal import JournalWriter

DEFAULT_CHROMIUM = Path("/usr/bin/chromium")
# Keep Chromium off the (closed) network: no QUIC, no background fetches or updates.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
CALL_TIMEOUT_S = 60.0
PUMP_MS = 50  # how often the worker returns to its queue and heap sampling
# The UI POSTs /env/<id> right after a `register`: twice after the first register of a page
# load (0.2.4: the register handler and the first componentDidUpdate; 0.3.0: the
# sessionInfo and mounted effects), once after a later one (the user reconnecting with the
# navbar badge). Any further POST is a re-fetch (0.2.4: hash mismatch, 0.3.0: version
# gap), journalled as `resync` reason `env_request`. Counted in the order the page issues
# requests, so a re-fetch is told apart however soon it follows the register.
INITIAL_ENV_POSTS_FIRST = 2
INITIAL_ENV_POSTS_LATER = 1

# One entry per grid pane. The window id is the React key of the grid item (the DOM
# carries no other trace of it): React 16 hangs the fiber on the element.
PANES_JS = """() => Array.from(document.querySelectorAll('.react-grid-item')).map((el, i) => {
  const k = Object.keys(el).find(k => k.startsWith('__reactInternalInstance$') || k.startsWith('__reactFiber$'));
  let f = k ? el[k] : null, win = null;
  for (let n = 0; f && n < 20; n++, f = f.return) { if (f.key != null) { win = String(f.key); break; } }
  const plot = el.querySelector('.js-plotly-plot');
  const content = el.querySelector('.content');
  const traces = plot && Array.isArray(plot.data)
    ? plot.data.map(t => ({name: t.name, x: Array.from(t.x || []), y: Array.from(t.y || [])})) : null;
  return {win: win || ('pane-' + i), kind: plot ? 'plot' : 'text',
          traces: traces, text: plot ? null : (content ? content.textContent : '')};
})"""


# The navbar's connection badge: Visdom's own control to go offline / reconnect.
CLICK_BADGE_JS = """() => {
  const b = Array.from(document.querySelectorAll('.navbar-form button.btn'))
    .find(b => ['online', 'offline'].includes(b.textContent.trim()));
  if (!b) return '';
  const text = b.textContent.trim();
  b.click();
  return text;
}"""


class BrowserError(RuntimeError):
    """The browser could not be started or did not answer in time; one-line reason."""


def check_chromium(chromium: Path) -> Path:
    chromium = Path(chromium)
    if not chromium.is_file():
        raise BrowserError(f"chromium not found at {chromium} (install it: apt-get install -y chromium)")
    return chromium


def launch_chromium(playwright: Any, chromium: Path = DEFAULT_CHROMIUM, headless: bool = True) -> Any:
    """Launch Debian's Chromium through Playwright (never a downloaded browser)."""
    return playwright.chromium.launch(
        executable_path=str(check_chromium(chromium)), args=CHROMIUM_ARGS, headless=headless
    )


def is_loopback(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme in ("data", "blob", "about"):
        return True
    return (parts.hostname or "") in LOOPBACK_HOSTS or (parts.hostname or "").startswith("127.")


def pane_ids(pane: dict[str, Any]) -> list[EventId]:
    """Ids shown by one pane as PANES_JS reports it."""
    if pane.get("kind") == "plot":
        return ids_in_traces(pane.get("traces") or [])
    return ids_in_text(pane.get("text") or "")


class BrowserSubscriber:
    """One Chromium tab subscribed to one Visdom env. Not reusable after stop().

    Shaped like the replica subscribers (wire/subscriber.py) where the orchestrator
    touches them: `start()`, `refresh()`, `write_views(final)`, `stop(reason)`,
    `received`, `connected`, `sid`.
    """

    transport = "browser"

    def __init__(
        self,
        base_url: str,
        client_id: str,
        journal: JournalWriter,
        env: str = "main",
        chromium: Path = DEFAULT_CHROMIUM,
        *,
        run_dir: Path | None = None,
        sample_interval_s: float = 1.0,
        load_timeout_s: float = 30.0,
        viewport: tuple[int, int] = (1280, 900),
        record_frames: bool = True,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise BrowserError(f"bad Visdom URL {base_url!r}: expected http://host:port")
        self.base_url = base_url.rstrip("/")
        self.client_id = client_id
        self.journal = journal
        self.env = env
        self.chromium = Path(chromium)
        # <run>/journal/<file>.jsonl -> <run>
        self.run_dir = Path(run_dir) if run_dir else journal.path.parent.parent
        self.sample_interval_s = sample_interval_s
        self.load_timeout_s = load_timeout_s
        self.viewport = viewport
        self.record_frames = record_frames
        self.page_url = f"{self.base_url}/env/{quote(env, safe='')}"
        self._server_port = urlsplit(self.base_url).port or 80
        self.conn = 0
        self._open_conns: set[int] = set()  # conn numbers of WebSockets open now
        self._opened_upto = 0  # highest conn number journalled as `connect`
        self._disc_reason = ""  # why the next close happens, when we cause it
        self.requests: list[dict[str, Any]] = []  # every request the page made: url, status/failure
        self.console_errors: list[str] = []
        self.page_errors: list[str] = []
        self.samples: list[dict[str, float]] = []
        self.received = 0  # WebSocket frames received, all connections
        self.sid: str | None = None  # from the last `register` message
        # the UI's own env POSTs still due after the last `register`; None: no register since
        # the page (re)loaded (its POSTs before one carry no session)
        self._initial_posts_left: int | None = None
        self.env_refetches = 0  # POST /env/ re-fetches after the initial ones
        self._final_written = False
        self.screenshot_path: Path | None = None
        self.unsupported: list[str] = []  # scripted behaviours a page cannot act out
        self._queue: queue.Queue[tuple[Callable[[], Any], Future]] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._page: Any = None
        self._cdp: Any = None
        self._next_sample = 0.0

    # --- public API (any thread) -------------------------------------------------

    def start(self) -> None:
        """Launch Chromium, open the env page and wait for its socket to open."""
        if self._thread is not None:
            raise BrowserError("BrowserSubscriber.start() called twice")
        check_chromium(self.chromium)
        ready: Future = Future()
        self._thread = threading.Thread(target=self._run, args=(ready,), name=f"browser-{self.client_id}", daemon=True)
        self._thread.start()
        try:
            ready.result(timeout=self.load_timeout_s + 30)
        except FutureTimeout as exc:
            self._stopping.set()
            self._thread.join(timeout=30)
            raise BrowserError(f"{self.client_id}: the page did not load within {self.load_timeout_s:.0f} s") from exc
        except Exception:
            self._stopping.set()
            self._thread.join(timeout=30)
            raise

    def refresh(self) -> None:
        """Reload the page (a user pressing F5): the socket closes, a new one opens."""
        self._call(lambda: self._navigate("refresh"))

    def read_views(self) -> dict[str, list[EventId]]:
        """What the page shows now, per window, without journalling it."""
        return {win: ids for win, ids in self._call(self._read_panes)}

    @property
    def connected(self) -> bool:
        return bool(self._open_conns)

    def write_views(self, final: bool) -> None:
        self.snapshot_views(final)

    def snapshot_views(self, final: bool = False) -> dict[str, list[EventId]]:
        """What the page shows now, per window; journals one `view` record per window."""
        panes = self._call(self._read_panes)
        self._final_written = final
        for win, ids in panes:
            self.journal.write(
                "view", self.client_id, self.conn, env=self.env, win=win,
                ids=[[i.source, i.seq] for i in ids], final=final, transport="browser",
            )
        return dict(panes)

    def click_online_badge(self) -> str:
        """Click the navbar's online/offline button, as a user would to reconnect.

        Returns the badge text before the click ("online", "offline" or "" if absent).
        """
        before = str(self._call(lambda: self._page.evaluate(CLICK_BADGE_JS)))
        if before == "offline":
            self.journal.write("resync", self.client_id, self.conn, reason="reconnect", env=self.env)
        return before

    # Scripted behaviours (visdom_chaos.behaviours) a real page can act out. The page
    # owns its socket, so a drop is what the user can do: the navbar badge (a clean close).
    def reconnect(self) -> None:
        """Go offline and back online with the navbar badge: a new socket, env re-fetched."""
        if self.click_online_badge() == "online":
            time.sleep(0.1)
            self.click_online_badge()

    def drop(self, abrupt: bool = True) -> None:
        """Go offline with the navbar badge (the UI closes its socket cleanly; `abrupt` cannot
        be honoured from inside the page). A later reconnect() brings it back."""
        self._disc_reason = "clean"
        if self.click_online_badge() != "online":
            self._disc_reason = ""

    def stall(self, seconds: float) -> None:
        """A page cannot be made to stop reading its socket: recorded, not acted out."""
        self.unsupported.append(f"stall {seconds:g} s")

    def switch_env(self, env: str) -> None:
        """Open another env's page (a navigation: the socket closes, a new one opens)."""
        self.env = env
        self.page_url = f"{self.base_url}/env/{quote(env, safe='')}"
        self._call(lambda: self._navigate("switch_env"))

    def evaluate(self, expression: str) -> Any:
        """Run JavaScript in the page (diagnostics, fault injection in tests)."""
        return self._call(lambda: self._page.evaluate(expression))

    def stop(self, reason: str = "end", screenshot: bool = True) -> None:
        """Final views (unless just journalled), screenshot into <run>/screenshots/,
        close the browser, journal the disconnect. Idempotent."""
        if self._thread is None:
            return
        if self._thread.is_alive() and not self._stopping.is_set():
            try:
                if not self._final_written:
                    self.snapshot_views(final=True)
                self._call(lambda: self._do_stop(screenshot, reason))
            except BrowserError:
                pass  # a wedged browser: the worker's own exit closes Playwright
        self._stopping.set()
        self._thread.join(timeout=30)
        self._journal_disconnect(reason)

    def __enter__(self) -> BrowserSubscriber:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- worker thread --------------------------------------------------------------

    def _call(self, fn: Callable[[], Any], timeout: float = CALL_TIMEOUT_S) -> Any:
        if self._thread is None or not self._thread.is_alive():
            raise BrowserError(f"{self.client_id}: browser is not running")
        fut: Future = Future()
        self._queue.put((fn, fut))
        deadline = time.monotonic() + timeout
        while True:  # in slices, so a worker that dies meanwhile fails the call at once
            try:
                return fut.result(timeout=0.5)
            except FutureTimeout:
                if not self._thread.is_alive() and not fut.done():
                    raise BrowserError(f"{self.client_id}: browser stopped") from None
                if time.monotonic() >= deadline:
                    raise BrowserError(
                        f"{self.client_id}: browser did not answer within {timeout:.0f} s"
                    ) from None

    def _run(self, ready: Future) -> None:
        from playwright.sync_api import sync_playwright  # optional dependency: import late

        try:
            with sync_playwright() as pw:
                browser = launch_chromium(pw, self.chromium)
                try:
                    context = browser.new_context(
                        viewport={"width": self.viewport[0], "height": self.viewport[1]}
                    )
                    page = context.new_page()
                    self._page = page
                    self._hook(page)
                    self._cdp = context.new_cdp_session(page)
                    self._cdp.send("Performance.enable")
                    self._open(page, "initial")
                    ready.set_result(None)
                    self._loop(page)
                finally:
                    browser.close()
        except Exception as exc:  # surfaces through start() or the journal
            if not ready.done():
                ready.set_exception(BrowserError(f"{self.client_id}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"))
            else:
                self.journal.write(
                    "protocol_error", self.client_id, self.conn, kind="browser_error", win=None,
                    detail=f"{type(exc).__name__}: {exc}"[:500],
                )
        finally:
            self._page = None
            while not self._queue.empty():  # fail callers instead of leaving them waiting
                _, fut = self._queue.get_nowait()
                fut.set_exception(BrowserError(f"{self.client_id}: browser stopped"))

    def _loop(self, page: Any) -> None:
        while not self._stopping.is_set():
            try:
                fn, fut = self._queue.get_nowait()
            except queue.Empty:
                fn = None
            if fn is not None:
                try:
                    fut.set_result(fn())
                except Exception as exc:
                    fut.set_exception(exc)
                continue
            if time.monotonic() >= self._next_sample:
                self._sample()
            page.wait_for_timeout(PUMP_MS)  # lets Playwright dispatch page events

    def _open(self, page: Any, reason: str) -> None:
        before = self._opened_upto
        self.journal.write("resync", self.client_id, self.conn, reason=reason, env=self.env)
        page.goto(self.page_url, wait_until="load", timeout=self.load_timeout_s * 1000)
        self._wait_socket(page, before)

    def _wait_socket(self, page: Any, before: int) -> None:
        # The UI opens its WebSocket after load; with USE_POLLING it polls /socket_wrap instead.
        deadline = time.monotonic() + self.load_timeout_s
        while self._opened_upto == before and time.monotonic() < deadline:
            page.wait_for_timeout(PUMP_MS)
        if self._opened_upto == before:
            raise BrowserError(f"{self.client_id}: the page opened no socket within {self.load_timeout_s:.0f} s")

    def _navigate(self, reason: str) -> None:
        """Reload the page (`refresh`) or open `page_url` (an env switch)."""
        before = self._opened_upto
        self._disc_reason = reason
        self._final_written = False
        # Navigation tears the socket down without a reliable close event: journal it here.
        self._journal_disconnect(reason)
        self.journal.write("resync", self.client_id, self.conn, reason=reason, env=self.env)
        if reason == "refresh":
            self._page.reload(wait_until="load", timeout=self.load_timeout_s * 1000)
        else:
            self._page.goto(self.page_url, wait_until="load", timeout=self.load_timeout_s * 1000)
        self._wait_socket(self._page, before)

    def _read_panes(self) -> list[tuple[str, list[EventId]]]:
        panes = self._page.evaluate(PANES_JS)
        return [(str(p["win"]), pane_ids(p)) for p in panes]

    def _do_stop(self, screenshot: bool, reason: str) -> None:
        if screenshot:
            path = self.run_dir / "screenshots" / f"{self.client_id}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            self._page.screenshot(path=str(path))
            self.screenshot_path = path
        self._sample()
        self._disc_reason = reason
        self._journal_disconnect(reason)
        self._stopping.set()

    def _sample(self) -> None:
        self._next_sample = time.monotonic() + self.sample_interval_s
        try:
            metrics = {m["name"]: m["value"] for m in self._cdp.send("Performance.getMetrics")["metrics"]}
        except Exception as exc:  # the page is navigating; next tick will do
            self.journal.write("protocol_error", self.client_id, self.conn, kind="browser_error",
                               win=None, detail=f"Performance.getMetrics: {exc}"[:300])
            return
        sample = {
            "js_heap_mib": round(metrics.get("JSHeapUsedSize", 0) / 2**20, 3),
            "js_heap_total_mib": round(metrics.get("JSHeapTotalSize", 0) / 2**20, 3),
            "nodes": int(metrics.get("Nodes", 0)),
            "listeners": int(metrics.get("JSEventListeners", 0)),
        }
        self.samples.append(sample)
        self.journal.write("browser_sample", self.client_id, self.conn, **sample)

    # --- page events (worker thread) ----------------------------------------------

    def _hook(self, page: Any) -> None:
        page.on("console", self._on_console)
        page.on("pageerror", self._on_page_error)
        page.on("websocket", self._on_websocket)
        page.on("request", self._on_request_sent)
        page.on("framenavigated", self._on_navigated)
        page.on("requestfinished", lambda r: self._on_request(r, None))
        page.on("requestfailed", lambda r: self._on_request(r, r.failure or "failed"))

    def _on_console(self, msg: Any) -> None:
        if msg.type != "error":
            return
        self.console_errors.append(msg.text)
        self.journal.write("protocol_error", self.client_id, self.conn, kind="console_error",
                           win=None, detail=msg.text[:500])

    def _on_page_error(self, err: Any) -> None:
        text = getattr(err, "stack", None) or str(err)
        self.page_errors.append(text)
        self.journal.write("protocol_error", self.client_id, self.conn, kind="page_error",
                           win=None, detail=text[:1000])

    def _on_navigated(self, frame: Any) -> None:
        if frame.parent_frame is None:  # the page itself (re)loaded: a new App
            self._initial_posts_left = None

    def _on_request_sent(self, request: Any) -> None:
        path = urlsplit(request.url).path
        if request.method != "POST" or not ("/env/" in path or "/compare/" in path) or self._initial_posts_left is None:
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
        method = getattr(request, "method", "GET")
        entry = {"url": request.url, "method": method, "status": status, "failure": failure}
        self.requests.append(entry)
        if "/socket_wrap" in request.url and (failure or (status or 0) >= 400):
            self._journal_disconnect("error", detail=f"poll failed: {failure or status}")
        elif "/socket_wrap" in request.url and status == 200 and not self._open_conns:
            # Polling UI (USE_POLLING): its first answered poll is this page's "socket open".
            self.conn += 1
            self._opened_upto = self.conn
            self._journal_connect(self.conn, request.url.split("?")[0], polling=True)
        if not is_loopback(request.url) and is_loopback(self.base_url):
            # The offline UI must not reach out; a loopback target makes any other host a leak.
            self.journal.write("protocol_error", self.client_id, self.conn, kind="offsite_request",
                               win=None, detail=request.url[:500])
        if failure is not None or (status is not None and status >= 400):
            self.journal.write("protocol_error", self.client_id, self.conn, kind="request_failed",
                               win=None, detail=f"{request.url} {failure or status}"[:500])

    def _on_websocket(self, ws: Any) -> None:
        # Created is not open: `connect` is journalled at the first frame (Visdom sends
        # `register` right after the handshake), when Chromium's socket is established.
        self.conn += 1
        conn = self.conn
        self._disc_reason = ""
        ws.on("framereceived", lambda payload: self._on_frame(conn, ws.url, payload))
        ws.on("socketerror", lambda err: self._on_ws_close(conn, ws.url, "error", str(err)))
        ws.on("close", lambda _ws: self._on_ws_close(conn, ws.url, self._disc_reason or "server_closed"))

    def _journal_connect(self, conn: int, url: str, polling: bool = False) -> None:
        self._open_conns.add(conn)
        self.journal.write(
            "connect", self.client_id, conn, transport="browser", url=url, env=self.env,
            local_port=0, local_ports=self._chromium_ports(), polling=polling,
        )

    def _on_ws_close(self, conn: int, url: str, reason: str, detail: str = "") -> None:
        if conn > self._opened_upto:  # closed before it ever opened
            self._opened_upto = conn
            self._journal_connect(conn, url)
            reason = "error" if reason == "server_closed" else reason
        self._journal_disconnect(reason, conn, detail)

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
            self.journal.write("protocol_error", self.client_id, conn, kind="undecodable", win=None,
                               detail=str(payload[:200]))
            return
        command = msg.get("command", "?")
        if command == "register":
            self.sid = msg.get("data")
            first = self._initial_posts_left is None
            self._initial_posts_left = INITIAL_ENV_POSTS_FIRST if first else INITIAL_ENV_POSTS_LATER
            self.journal.write("register", self.client_id, conn, sid=self.sid)
        if self.record_frames:
            self.journal.write("recv", self.client_id, conn, command=command, bytes=len(payload),
                               win=msg.get("id") or msg.get("win"))

    def _journal_disconnect(self, reason: str, conn: int | None = None, detail: str = "") -> None:
        # Called from close events and from stop(): journal each connection once.
        conns = sorted(self._open_conns) if conn is None else [conn]
        for c in conns:
            if c not in self._open_conns:
                continue
            self._open_conns.discard(c)
            fields: dict[str, Any] = {"reason": reason, "clean": reason in ("clean", "refresh", "end", "switch_env")}
            if detail:
                fields["detail"] = detail[:300]
            self.journal.write("disconnect", self.client_id, c, **fields)

    def _chromium_ports(self) -> list[int]:
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
                    if c.raddr and c.raddr.port == self._server_port and c.status == psutil.CONN_ESTABLISHED:
                        ports.append(c.laddr.port)
            except psutil.Error:
                continue
        return sorted(set(ports))


def main(argv: list[str] | None = None) -> int:
    """`python -m visdom_chaos.wire.browser URL [--env E] [--watch S] [--run-dir D]`:
    open one Chromium tab on a Visdom, watch it, print what it shows."""
    import argparse

    ap = argparse.ArgumentParser(prog="python -m visdom_chaos.wire.browser", description=main.__doc__)
    ap.add_argument("url", help="Visdom base URL, e.g. http://127.0.0.1:8097")
    ap.add_argument("--env", default="main")
    ap.add_argument("--watch", type=float, default=5.0, help="seconds to watch (default 5)")
    ap.add_argument("--run-dir", type=Path, default=Path("reports/runs/browser-check"))
    ap.add_argument("--chromium", type=Path, default=DEFAULT_CHROMIUM)
    args = ap.parse_args(argv)
    try:
        with JournalWriter(args.run_dir / "journal" / "browser.jsonl", role="clients", url=args.url) as journal:
            sub = BrowserSubscriber(args.url, "br-0", journal, args.env, args.chromium,
                                    run_dir=args.run_dir, sample_interval_s=0.5)
            sub.start()
            try:
                time.sleep(max(0.0, min(args.watch, 3600.0)))
                views = sub.snapshot_views(final=True)
            finally:
                sub.stop()
    except BrowserError as exc:
        print(f"error: {exc}")
        return 1
    for win, ids in sorted(views.items()):
        print(f"{win}: {len(ids)} ids")
    heap = [s["js_heap_mib"] for s in sub.samples]
    if heap:
        print(f"JS heap MiB: first {heap[0]:.1f}, max {max(heap):.1f}, last {heap[-1]:.1f} ({len(heap)} samples)")
    print(f"console errors: {len(sub.console_errors)}, page errors: {len(sub.page_errors)}")
    print(f"screenshot: {sub.screenshot_path}\njournal: {journal.path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
