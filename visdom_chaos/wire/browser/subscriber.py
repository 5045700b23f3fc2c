"""BrowserSubscriber: one headless Debian Chromium tab on the Visdom UI of one env.

It is a subscriber like the replica ones (visdom_chaos.wire.protocol.Subscriber) and is
made of the parts of this package, each with one job:

- worker.PageWorker: the Playwright thread, and the calls other threads hand it;
- events.PageEvents: the page's events -> journal (socket lifecycle, frames, console
  errors, uncaught exceptions, requests, env re-fetches);
- page.VisdomPage: the UI itself — reading the panes, the navbar badge, navigation;
- cdp.HeapSampler: JS heap and DOM size over time (`browser_sample`);
- seen.SeenPoller: when each id first shows in the page (`browser_seen`).

It journals `view` records (transport `browser`) of what the page shows, exactly like the
replica's, and leaves a screenshot in the run folder at the end.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from visdom_chaos.ids import EventId
from visdom_chaos.journal import JournalWriter
from visdom_chaos.wire.browser.cdp import HeapSampler
from visdom_chaos.wire.browser.events import PageEvents
from visdom_chaos.wire.browser.page import VisdomPage, env_url
from visdom_chaos.wire.browser.seen import SEEN_POLL_S, SeenPoller, seen_init_script
from visdom_chaos.wire.browser.worker import (
    CALL_TIMEOUT_S,
    DEFAULT_CHROMIUM,
    BrowserError,
    PageWorker,
    check_chromium,
)


class BrowserSubscriber:
    """One Chromium tab subscribed to one Visdom env. Not reusable after stop().

    Beyond the Subscriber protocol: `read_views()` / `snapshot_views(final)` (what the page
    shows now, journalled or not), `click_online_badge()`, `evaluate(js)`; and what it
    counts (`env_refetches`, `env_requests`, `page_errors`, `seen_stats`, `clock`,
    `unsupported`). The parts are `worker`, `events`, `sampler` and `seen`.
    """

    transport = "browser"
    busy = False  # a page's own work (its render batch, env fetches) is not visible to wait on

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
        self.chromium = Path(chromium)
        # <run>/journal/<file>.jsonl -> <run>
        self.run_dir = Path(run_dir) if run_dir else journal.path.parent.parent
        self.load_timeout_s = load_timeout_s
        self.stamp_seen = stamp_seen  # journal `browser_seen`: when each id first shows in the page
        self.worker = PageWorker(client_id, self.chromium, viewport)
        self.events = PageEvents(
            journal, client_id, self.base_url, env, self.worker.stopping, record_frames
        )
        self.sampler = HeapSampler(journal, client_id, sample_interval_s)
        self.seen = SeenPoller(journal, client_id, seen_poll_s)
        self._page: Any = None  # the VisdomPage while the worker runs
        self._since_ms = 0.0  # ids sent before start() are history: marked seen, not stamped
        self._final_written = False
        self.screenshot_path: Path | None = None
        self.unsupported: dict[
            str, int
        ] = {}  # scripted behaviours a page cannot act out -> times asked

    # --- what the run reads (any thread) ----------------------------------------------

    @property
    def env(self) -> str:
        return self.events.env

    @property
    def page_url(self) -> str:
        return env_url(self.base_url, self.env)

    @property
    def conn(self) -> int:
        return self.events.conn

    @property
    def received(self) -> int:
        return self.events.received

    @property
    def connected(self) -> bool:
        return self.events.connected

    @property
    def sid(self) -> str | None:
        return self.events.sid

    @property
    def env_refetches(self) -> int:
        return self.events.env_refetches

    @property
    def env_requests(self) -> int:
        return self.events.env_requests

    @property
    def page_errors(self) -> list[str]:
        return self.events.page_errors

    @property
    def seen_stats(self) -> dict[str, Any]:
        return self.seen.stats

    @property
    def clock(self) -> dict[str, Any] | None:
        return self.seen.clock

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Launch Chromium, open the env page and wait for its socket to open."""
        if self.worker.started:
            raise BrowserError("BrowserSubscriber.start() called twice")
        check_chromium(self.chromium)
        self._since_ms = time.time_ns() / 1e6
        self.worker.start(self._setup, self._idle, self._crashed, self._gone, self.load_timeout_s)

    def stop(self, reason: str = "end", screenshot: bool = True) -> None:
        """Final views (unless just journalled), screenshot into <run>/screenshots/,
        close the browser, journal the disconnect. Idempotent."""
        if not self.worker.started:
            return
        if self.worker.alive and not self.worker.stopping.is_set():
            try:
                if not self._final_written:
                    self.snapshot_views(final=True)
                self._call(lambda: self._do_stop(screenshot, reason))
            except BrowserError:
                pass  # a wedged browser: the worker's own exit closes Playwright
        self.worker.stop()
        self.events.journal_disconnect(reason)

    def __enter__(self) -> BrowserSubscriber:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- what the page shows ----------------------------------------------------------------

    def read_views(self) -> dict[str, list[EventId]]:
        """What the page shows now, per window, without journalling it."""
        return dict(self._call(lambda: self._page.read()))

    def write_views(self, final: bool) -> None:
        self.snapshot_views(final)

    def snapshot_views(self, final: bool = False) -> dict[str, list[EventId]]:
        """What the page shows now, per window; journals one `view` record per window."""
        panes = self._call(lambda: self._page.read())
        self._final_written = final
        for win, ids in panes:
            self.journal.write(
                "view",
                self.client_id,
                self.conn,
                env=self.env,
                win=win,
                ids=[[i.source, i.seq] for i in ids],
                final=final,
                transport="browser",
            )
        return dict(panes)

    def evaluate(self, expression: str) -> Any:
        """Run JavaScript in the page (diagnostics, fault injection in tests)."""
        return self._call(lambda: self._page.evaluate(expression))

    # --- behaviours: what a user can do in a page -------------------------------------------

    def click_online_badge(self) -> str:
        """Click the navbar's online/offline button, as a user would to reconnect.

        Returns the badge text before the click ("online", "offline" or "" if absent).
        """
        before = self._call(lambda: self._page.click_badge())
        if before == "offline":
            self.journal.write(
                "resync", self.client_id, self.conn, reason="reconnect", env=self.env
            )
        return before

    def refresh(self) -> None:
        """Reload the page (a user pressing F5): the socket closes, a new one opens."""
        self._call(lambda: self._navigate("refresh"))

    def reconnect(self) -> None:
        """Go offline and back online with the navbar badge: a new socket, env re-fetched."""
        if self.click_online_badge() == "online":
            time.sleep(0.1)
            self.click_online_badge()

    def drop(self, abrupt: bool = True) -> None:
        """Go offline with the navbar badge (the UI closes its socket cleanly; `abrupt` cannot
        be honoured from inside the page: the page owns its socket). A later reconnect()
        brings it back."""
        self.events.expect_close("clean")
        if self.click_online_badge() != "online":
            self.events.expect_close("")

    def switch_env(self, env: str) -> None:
        """Open another env's page (a navigation: the socket closes, a new one opens)."""
        self.events.env = env
        self._call(lambda: self._navigate("switch_env"))

    def stall(self, seconds: float) -> None:
        """A page cannot be made to stop reading its socket: counted, not acted out."""
        self.unsupported["stall"] = self.unsupported.get("stall", 0) + 1

    def forward_after_close(self) -> None:
        """visdom #1381 needs a click racing a close, timed from outside the page: counted,
        not acted out."""
        self.unsupported["forward_after_close"] = self.unsupported.get("forward_after_close", 0) + 1

    def delete_env(self, env: str) -> None:
        """Deleting through the page's env manager modal is not scripted: counted, not acted
        out (the replicas send the page's own `delete_env` message)."""
        self.unsupported["delete_env"] = self.unsupported.get("delete_env", 0) + 1

    # --- on the worker thread ----------------------------------------------------------------

    def _call(self, fn: Any, timeout: float = CALL_TIMEOUT_S) -> Any:
        return self.worker.call(fn, timeout)

    def _setup(self, context: Any, page: Any) -> None:
        self._page = VisdomPage(
            page, self.events, self.journal, self.client_id, self.load_timeout_s, self._leaving
        )
        if self.stamp_seen:
            page.add_init_script(script=seen_init_script(self._since_ms))
        self.events.hook(page)
        self.sampler.attach(context, page)
        self._page.open(self.page_url, "initial")
        if self.stamp_seen:
            self.seen.probe_clock(self._page)

    def _idle(self) -> None:
        if self.sampler.due(time.monotonic()):
            self.sampler.sample(self.conn)
        if self.stamp_seen and self.seen.due(time.monotonic()):
            self._poll_seen()

    def _poll_seen(self) -> None:
        self.seen.poll(self._page, self.conn, self.env)

    def _leaving(self) -> None:
        if self.stamp_seen:
            self._poll_seen()  # the document goes away with its stamps

    def _crashed(self, detail: str) -> None:
        self.journal.write(
            "protocol_error",
            self.client_id,
            self.conn,
            kind="browser_error",
            win=None,
            detail=detail,
        )

    def _gone(self) -> None:
        self._page = None

    def _navigate(self, reason: str) -> None:
        self._final_written = False
        self._page.navigate(self.page_url, reason)

    def _do_stop(self, screenshot: bool, reason: str) -> None:
        if self.stamp_seen:
            self._poll_seen()
        if screenshot:
            path = self.run_dir / "screenshots" / f"{self.client_id}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            self._page.screenshot(path)
            self.screenshot_path = path
        self.sampler.sample(self.conn)
        self.events.expect_close(reason)
        self.events.journal_disconnect(reason)
        self.worker.stopping.set()
