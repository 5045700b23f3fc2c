"""The Playwright worker thread of one Chromium tab, and how calls reach it.

Playwright's sync API is bound to the thread that created it, and it dispatches page
events only while that thread is inside a Playwright call. So one thread per tab owns the
browser: it launches Debian's Chromium, runs the tab's setup (which opens the page), then
loops — a submitted call if there is one, else the tab's idle work (heap samples,
first-seen polls), then PUMP_MS inside `page.wait_for_timeout` so Playwright dispatches
the page's events. Any other thread hands work over with `call()`, each call bounded.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import Any

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
CALL_TIMEOUT_S = 60.0
PUMP_MS = 50  # how often the worker returns to its queue and its idle work
START_GRACE_S = 30.0  # beyond the page's load timeout: Chromium's own start-up


class BrowserError(RuntimeError):
    """The browser could not be started or did not answer in time; one-line reason."""


def check_chromium(chromium: Path) -> Path:
    chromium = Path(chromium)
    if not chromium.is_file():
        raise BrowserError(
            f"chromium not found at {chromium} (install it: apt-get install -y chromium)"
        )
    return chromium


def launch_chromium(
    playwright: Any, chromium: Path = DEFAULT_CHROMIUM, headless: bool = True
) -> Any:
    """Launch Debian's Chromium through Playwright (never a downloaded browser)."""
    return playwright.chromium.launch(
        executable_path=str(check_chromium(chromium)), args=CHROMIUM_ARGS, headless=headless
    )


def _one_line(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}"


class PageWorker:
    """The thread that owns Playwright for one tab. Not reusable after it stopped.

    `start(setup, idle, on_crash, on_exit, load_timeout_s)`: on the worker thread,
    `setup(context, page)` opens the page (an exception there fails `start()` with a
    one-line BrowserError), then `idle()` runs between calls; `on_crash(detail)` hears of
    an exception after start-up, `on_exit()` runs last, whatever happened.
    """

    def __init__(self, name: str, chromium: Path, viewport: tuple[int, int]) -> None:
        self.name = name  # the client id, for the errors
        self.chromium = Path(chromium)
        self.viewport = viewport
        self.stopping = threading.Event()  # set: the loop ends at its next turn
        self._queue: queue.Queue[tuple[Callable[[], Any], Future]] = queue.Queue()
        self._thread: threading.Thread | None = None

    @property
    def started(self) -> bool:
        return self._thread is not None

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(
        self,
        setup: Callable[[Any, Any], None],
        idle: Callable[[], None],
        on_crash: Callable[[str], None],
        on_exit: Callable[[], None],
        load_timeout_s: float,
    ) -> None:
        ready: Future = Future()
        self._thread = threading.Thread(
            target=self._run,
            args=(ready, setup, idle, on_crash, on_exit),
            name=f"browser-{self.name}",
            daemon=True,
        )
        self._thread.start()
        try:
            ready.result(timeout=load_timeout_s + START_GRACE_S)
        except FutureTimeout as exc:
            self.stop()
            raise BrowserError(
                f"{self.name}: the page did not load within {load_timeout_s:.0f} s"
            ) from exc
        except Exception:
            self.stop()
            raise

    def call(self, fn: Callable[[], Any], timeout: float = CALL_TIMEOUT_S) -> Any:
        """Run `fn()` on the worker thread and return its result (or raise its exception)."""
        if not self.alive:
            raise BrowserError(f"{self.name}: browser is not running")
        assert self._thread is not None
        fut: Future = Future()
        self._queue.put((fn, fut))
        deadline = time.monotonic() + timeout
        while True:  # in slices, so a worker that dies meanwhile fails the call at once
            try:
                return fut.result(timeout=0.5)
            except FutureTimeout:
                if not self._thread.is_alive() and not fut.done():
                    raise BrowserError(f"{self.name}: browser stopped") from None
                if time.monotonic() >= deadline:
                    raise BrowserError(
                        f"{self.name}: browser did not answer within {timeout:.0f} s"
                    ) from None

    def stop(self, timeout: float = 30.0) -> None:
        """End the loop and wait (bounded) for the thread, which closes Chromium."""
        self.stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout)

    def _run(
        self,
        ready: Future,
        setup: Callable[[Any, Any], None],
        idle: Callable[[], None],
        on_crash: Callable[[str], None],
        on_exit: Callable[[], None],
    ) -> None:
        try:
            from playwright.sync_api import sync_playwright  # optional dependency: import late

            with sync_playwright() as pw:
                browser = launch_chromium(pw, self.chromium)
                try:
                    context = browser.new_context(
                        viewport={"width": self.viewport[0], "height": self.viewport[1]}
                    )
                    page = context.new_page()
                    setup(context, page)
                    ready.set_result(None)
                    self._loop(page, idle)
                finally:
                    browser.close()
        except Exception as exc:  # surfaces through start() or the tab's journal
            if not ready.done():
                ready.set_exception(BrowserError(f"{self.name}: {_one_line(exc)}"))
            else:
                on_crash(f"{type(exc).__name__}: {exc}"[:500])
        finally:
            on_exit()
            while not self._queue.empty():  # fail callers instead of leaving them waiting
                _, fut = self._queue.get_nowait()
                fut.set_exception(BrowserError(f"{self.name}: browser stopped"))

    def _loop(self, page: Any, idle: Callable[[], None]) -> None:
        while not self.stopping.is_set():
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
            idle()
            page.wait_for_timeout(PUMP_MS)  # lets Playwright dispatch page events
