"""A real-browser subscriber: headless Debian Chromium driven by Playwright.

It opens the Visdom UI of one env and reads back what the page actually shows:
each pane's Plotly trace data (`el.data` of `.js-plotly-plot`) and the text of text
panes, with event ids extracted by visdom_chaos.ids, journalled as `view` records
(transport `browser`) exactly like the replica's. Besides that it journals the
page's WebSocket lifecycle (`connect`/`register`/`recv`/`disconnect`), console errors
and uncaught exceptions (`protocol_error` kinds `console_error`, `page_error`,
`request_failed`), the JS heap over time (`browser_sample`, from CDP
Performance.getMetrics) and leaves a screenshot in the run folder at the end. And when
each tagged id first shows in the page (`browser_seen`: an init script's MutationObserver
stamps it with the page clock; polled every SEEN_POLL_S and corrected to time.time_ns()),
so the report can set the page's latency beside the replica's for the same ids.

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

from visdom_chaos.ids import EventId, ids_in_text, ids_in_traces, ns_from_ms
from visdom_chaos.journal import JournalWriter
from visdom_chaos.wire.frames import WireReader

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


# When each tagged id first becomes visible: an init script (it runs in every document the
# tab loads, before Visdom's own scripts) installs a MutationObserver on the document. After
# each batch of DOM mutations (React's commit of a pane, Plotly's redraw of its SVG) it reads
# the changed panes as PANES_JS does — text panes' `[src#seq@send_ns]` tokens, plot panes'
# trace name / x = seq / y = send ms from the graph div's `data` (also on `plotly_afterplot`) —
# and stamps the ids it has not seen before with `performance.timeOrigin + performance.now()`
# (wall clock, ms). `take()` hands the pending stamps to Python (SEEN_POLL_S) and clears them.
# Bounded memory, per window: each source keeps a floor (every seq at or below it was seen)
# and the seqs seen above it; past SEEN_CAP of those (a hole that never fills) the floor
# jumps to the lowest one and the hole counts as `given_up`. Stamps wait for the next poll in
# a list of at most SEEN_PENDING_CAP per window; beyond it they are dropped and counted.
# Text panes are parsed only past the part seen last time (length and tail remembered),
# plot traces only past the points seen last time. Ids sent before `since_ms` (before the
# subscriber started: history, not delivery) are marked seen without a stamp.
SEEN_POLL_S = 0.25
SEEN_CAP = 10_000
SEEN_PENDING_CAP = 20_000
SEEN_CHUNK = 2_000  # ids per `browser_seen` record
CLOCK_PROBES = 10  # back-to-back page clock readings when the page has loaded
NOW_JS = "() => performance.timeOrigin + performance.now()"
SEEN_INIT_JS = r"""(cfg) => {
  if (window.__vcSeen) return;
  const RE = /\[([A-Za-z0-9_.:-]+)#(\d+)@(\d+)\]/g;
  const now = () => performance.timeOrigin + performance.now();
  const st = {wins: new Map(), pending: new Map(), dropped: 0, givenUp: 0, scanMs: 0, stamped: 0};
  const winCache = new WeakMap();
  function winOf(el) {
    let w = winCache.get(el);
    if (w) return w;
    const k = Object.keys(el).find(k => k.startsWith('__reactInternalInstance$') || k.startsWith('__reactFiber$'));
    let f = k ? el[k] : null;
    for (let n = 0; f && n < 20; n++, f = f.return) { if (f.key != null) { w = String(f.key); break; } }
    if (w) winCache.set(el, w);
    return w || null;
  }
  function win(name) {
    let w = st.wins.get(name);
    if (!w) { w = {srcs: new Map(), textLen: 0, textTail: '', traces: new Map(), hooked: new WeakSet()}; st.wins.set(name, w); }
    return w;
  }
  function mark(name, w, src, seq, send, t, stamp) {
    let s = w.srcs.get(src);
    if (!s) { s = {floor: -1, above: new Set()}; w.srcs.set(src, s); }
    if (seq <= s.floor || s.above.has(seq)) return;
    s.above.add(seq);
    while (s.above.has(s.floor + 1)) { s.above.delete(s.floor + 1); s.floor++; }
    if (s.above.size > cfg.cap) {
      let m = Infinity;
      for (const q of s.above) if (q < m) m = q;
      st.givenUp += m - s.floor - 1;
      s.floor = m - 1;
      while (s.above.has(s.floor + 1)) { s.above.delete(s.floor + 1); s.floor++; }
    }
    if (!stamp) return;
    let p = st.pending.get(name);
    if (!p) { p = []; st.pending.set(name, p); }
    if (p.length >= cfg.pendingCap) { st.dropped++; return; }
    p.push([src, seq, send, t]);
    st.stamped++;
  }
  function scanText(name, w, text, t) {
    let from = 0;
    const tail = w.textTail;
    if (w.textLen && text.length >= w.textLen && text.substr(w.textLen - tail.length, tail.length) === tail) {
      if (text.length === w.textLen) return;
      from = Math.max(0, w.textLen - 128);  // a token is far shorter: none straddles the cut unseen
    }
    w.textLen = text.length;
    w.textTail = text.substr(Math.max(0, text.length - 64));
    RE.lastIndex = from;
    let m;
    while ((m = RE.exec(text)) !== null) {
      mark(name, w, m[1], Number(m[2]), m[3], t, Number(m[3]) / 1e6 >= cfg.sinceMs);
    }
  }
  function scanPlot(name, w, gd, t) {
    const data = gd.data;
    if (!Array.isArray(data)) return;
    data.forEach((tr, i) => {
      if (!tr || typeof tr.name !== 'string' || !tr.x || !tr.y) return;
      const xs = tr.x, ys = tr.y, n = Math.min(xs.length, ys.length), key = i + ':' + tr.name;
      const prev = w.traces.get(key);
      let from = 0;
      if (prev && prev.n && n >= prev.n && xs[prev.n - 1] === prev.x && ys[prev.n - 1] === prev.y) from = prev.n;
      for (let j = from; j < n; j++) {
        const x = xs[j], y = ys[j];
        if (typeof x !== 'number' || typeof y !== 'number' || x !== x) continue;
        mark(name, w, tr.name, Math.trunc(x), y, t, y >= cfg.sinceMs);
      }
      w.traces.set(key, n ? {n: n, x: xs[n - 1], y: ys[n - 1]} : null);
    });
  }
  function scanPane(el, t) {
    const name = winOf(el);
    if (!name) return;
    const w = win(name);
    const gd = el.querySelector('.js-plotly-plot');
    if (gd) {
      if (typeof gd.on === 'function' && !w.hooked.has(gd)) {
        w.hooked.add(gd);
        gd.on('plotly_afterplot', () => { const t0 = now(); scanPlot(name, w, gd, t0); st.scanMs += now() - t0; });
      }
      scanPlot(name, w, gd, t);
    } else {
      const c = el.querySelector('.content');
      if (c) scanText(name, w, c.textContent || '', t);
    }
  }
  function scanAll(t) { document.querySelectorAll('.react-grid-item').forEach(el => scanPane(el, t)); }
  const obs = new MutationObserver(records => {
    const t = now();
    const panes = new Set(), targets = new Set();
    let all = false;
    for (const r of records) {
      let node = r.target;
      if (targets.has(node)) continue;
      targets.add(node);
      if (node.nodeType !== 1) node = node.parentElement;
      const pane = node && node.closest ? node.closest('.react-grid-item') : null;
      if (pane) panes.add(pane); else if (r.addedNodes && r.addedNodes.length) all = true;
    }
    try {
      if (all) scanAll(t); else panes.forEach(el => scanPane(el, t));
    } catch (e) { st.errors = (st.errors || 0) + 1; }
    st.scanMs += now() - t;
  });
  obs.observe(document, {childList: true, subtree: true, characterData: true});
  window.__vcSeen = {
    take() {
      const out = {now: now(), origin: performance.timeOrigin, wins: {}, dropped: st.dropped, givenUp: st.givenUp,
                   scanMs: st.scanMs, errors: st.errors || 0};
      st.pending.forEach((p, name) => { if (p.length) out.wins[name] = p; });
      st.pending = new Map();
      st.dropped = 0; st.givenUp = 0; st.scanMs = 0; st.errors = 0;
      return out;
    },
  };
}"""
TAKE_SEEN_JS = "() => window.__vcSeen ? window.__vcSeen.take() : {now: performance.timeOrigin + performance.now(), " \
    "origin: performance.timeOrigin, wins: {}, dropped: 0, givenUp: 0, scanMs: 0, errors: 0, missing: true}"


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


def seen_init_script(since_ms: float, cap: int = SEEN_CAP, pending_cap: int = SEEN_PENDING_CAP) -> str:
    """SEEN_INIT_JS as an init script: ids sent before `since_ms` (wall clock) are not stamped;
    `cap` seqs remembered per window and source above its floor, `pending_cap` stamps per
    window between two polls."""
    cfg = {"sinceMs": float(since_ms), "cap": int(cap), "pendingCap": int(pending_cap)}
    return f"({SEEN_INIT_JS})({json.dumps(cfg)})"


def seen_stamps(stamps: Any, offset_ns: int = 0) -> list[list[Any]]:
    """The page's stamps `[src, seq, send, seen_ms]` as `[src, seq, send_ns, seen_ns]`.

    `send` is a text token's send time in ns as a string (it exceeds a double's 53 bits) or a
    plot point's y in ms (read like ids_in_traces does); `seen_ms` is the page's
    `performance.timeOrigin + performance.now()`, and `offset_ns` (page clock minus
    Python's `time.time_ns()`) is taken off it. Malformed stamps are skipped, never raised.
    """
    out: list[list[Any]] = []
    if not isinstance(stamps, list):
        return out
    for st in stamps:
        if not isinstance(st, list | tuple) or len(st) != 4:
            continue
        src, seq, send, seen = st
        if not isinstance(src, str) or isinstance(seq, bool) or not isinstance(seq, int | float) or seq != seq:
            continue
        try:
            send_ns = int(send) if isinstance(send, str) else ns_from_ms(send)
            seen_ns = ns_from_ms(seen) - offset_ns  # via µs: a double holds ms since 1970 to ~0.2 µs
        except (TypeError, ValueError, OverflowError):
            continue
        out.append([src, int(seq), send_ns, seen_ns])
    return out


def clock_sample(page_ms: float, before_ns: int, after_ns: int) -> tuple[int, int]:
    """(offset_ns, rtt_ns) of one page clock reading taken between two time.time_ns() calls:
    the page's clock minus Python's at the midpoint, uncertain by rtt / 2."""
    return ns_from_ms(page_ms) - (before_ns + after_ns) // 2, after_ns - before_ns


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
        stamp_seen: bool = True,
        seen_poll_s: float = SEEN_POLL_S,
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
        self._wire: dict[int, WireReader] = {}  # conn -> what that socket's frames carried
        self.stamp_seen = stamp_seen  # journal `browser_seen`: when each id first shows in the page
        self.seen_poll_s = seen_poll_s
        self._next_seen = 0.0
        self._since_ms = 0.0  # ids sent before start() are history: marked seen, not stamped
        # best (lowest round trip) reading of the page clock against time.time_ns():
        # {offset_ns (page minus Python), rtt_ns, samples}
        self.clock: dict[str, Any] | None = None
        self.seen_stats = {"stamped": 0, "dropped": 0, "given_up": 0, "page_ms": 0.0, "polls": 0, "errors": 0}
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
        self._since_ms = time.time_ns() / 1e6
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
                    if self.stamp_seen:
                        page.add_init_script(script=seen_init_script(self._since_ms))
                    self._hook(page)
                    self._cdp = context.new_cdp_session(page)
                    self._cdp.send("Performance.enable")
                    self._open(page, "initial")
                    if self.stamp_seen:
                        self._probe_clock()
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
            if self.stamp_seen and time.monotonic() >= self._next_seen:
                self._poll_seen()
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
        if self.stamp_seen:
            self._poll_seen()  # the document goes away with its stamps
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
        if self.stamp_seen:
            self._poll_seen()
        if screenshot:
            path = self.run_dir / "screenshots" / f"{self.client_id}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            self._page.screenshot(path=str(path))
            self.screenshot_path = path
        self._sample()
        self._disc_reason = reason
        self._journal_disconnect(reason)
        self._stopping.set()

    def _clock_update(self, page_ms: float, before: int, after: int) -> dict[str, Any]:
        """Keep the lowest-round-trip reading of the page clock against time.time_ns().

        One reading for the tab's life, not per document: the page clock is the wall clock
        (offsets per document agree within 0.1 ms, timeOrigin's own resolution), and a
        document's first readings can take tens of ms while it loads."""
        offset, rtt = clock_sample(page_ms, before, after)
        c = self.clock
        if c is None or rtt < c["rtt_ns"]:
            self.clock = c = {"offset_ns": offset, "rtt_ns": rtt, "samples": 1 + (c["samples"] if c else 0)}
        else:
            c["samples"] += 1
        return c

    def _probe_clock(self, n: int = CLOCK_PROBES) -> None:
        """A few back-to-back readings, so the first stamps are corrected by a good one."""
        for _ in range(n):
            before = time.time_ns()
            try:
                page_ms = self._page.evaluate(NOW_JS)
            except Exception:
                return
            self._clock_update(float(page_ms), before, time.time_ns())

    def _poll_seen(self) -> None:
        """Take the page's pending first-seen stamps, correct them for the page clock's offset
        (measured by the same call) and journal them as `browser_seen`. Keeps no ids."""
        self._next_seen = time.monotonic() + self.seen_poll_s
        before = time.time_ns()
        try:
            got = self._page.evaluate(TAKE_SEEN_JS)
        except Exception:  # navigating: the next poll (or the one before a navigation) takes them
            return
        after = time.time_ns()
        if not isinstance(got, dict) or not isinstance(got.get("now"), int | float):
            return
        c = self._clock_update(got["now"], before, after)
        stats = self.seen_stats
        stats["polls"] += 1
        extra: dict[str, Any] = {}
        for key, field in (("dropped", "dropped"), ("givenUp", "given_up"), ("errors", "errors")):
            n = got.get(key)
            if isinstance(n, int) and n > 0:
                extra[field] = n
                stats[field] += n
        page_ms = got.get("scanMs")
        if isinstance(page_ms, int | float) and page_ms > 0:
            extra["page_ms"] = round(page_ms, 3)
            stats["page_ms"] += page_ms
        wins = got.get("wins") if isinstance(got.get("wins"), dict) else {}
        clock = {"clock_offset_ns": c["offset_ns"], "clock_rtt_ns": c["rtt_ns"]}
        for win, raw in wins.items():
            ids = seen_stamps(raw, c["offset_ns"])
            stats["stamped"] += len(ids)
            for k in range(0, len(ids), SEEN_CHUNK):
                self.journal.write("browser_seen", self.client_id, self.conn, env=self.env, win=str(win),
                                   ids=ids[k:k + SEEN_CHUNK], **clock, **extra)
                extra = {}
        if extra:  # counters with no stamp to carry them
            self.journal.write("browser_seen", self.client_id, self.conn, env=self.env, win=None, ids=[],
                               **clock, **extra)

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
        elif "/socket_wrap" in request.url and status == 200 and not self._open_conns and not self._stopping.is_set():
            # Polling UI (USE_POLLING): its first answered poll is this page's "socket open"
            # (not one answered while the browser closes, after stop() journalled the end).
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
            # What reached the page, read off the frame as for the replicas: a page that heals itself
            # (0.2.4 re-fetches the env on a hash mismatch) must not hide what the server sent it.
            # No `rx`: Playwright's event comes late and out of band, not when the bytes were read.
            reader = self._wire.get(conn)
            if reader is None:
                reader = self._wire[conn] = WireReader()
                for old in [c for c in self._wire if c < conn - 1]:
                    del self._wire[old]  # a page has one live socket: keep the last two
            self.journal.write("recv", self.client_id, conn, command=command, bytes=len(payload),
                               win=msg.get("id") or msg.get("win"), **reader.read(msg))

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
    st, clock = sub.seen_stats, sub.clock or {}
    print(f"first-seen stamps: {st['stamped']} ({st['dropped']} dropped, page time {st['page_ms']:.1f} ms); "
          f"page clock - time.time_ns(): {clock.get('offset_ns', 0) / 1e6:+.3f} ms "
          f"(round trip {clock.get('rtt_ns', 0) / 1e6:.3f} ms)")
    print(f"screenshot: {sub.screenshot_path}\njournal: {journal.path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
