"""The Visdom UI in the tab (worker thread): what its panes show, the navbar's
online/offline badge, and navigation — the first load, a reload (F5), another env's page.

What it reads: every grid pane; its window id is the React key of the grid item (the DOM
has no other trace of it, React 16 keeps the fiber on the element). Plot panes: `el.data`
of `.js-plotly-plot` (name/x/y of each trace) -> ids_in_traces; other panes: the `.content`
text -> ids_in_text.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from visdom_chaos.ids import EventId, ids_in_text, ids_in_traces
from visdom_chaos.journal import JournalWriter
from visdom_chaos.wire.browser.events import PageEvents
from visdom_chaos.wire.browser.worker import PUMP_MS, BrowserError

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


def pane_ids(pane: dict[str, Any]) -> list[EventId]:
    """Ids shown by one pane as PANES_JS reports it."""
    if pane.get("kind") == "plot":
        return ids_in_traces(pane.get("traces") or [])
    return ids_in_text(pane.get("text") or "")


def env_url(base_url: str, env: str) -> str:
    """The page of one env."""
    return f"{base_url}/env/{quote(env, safe='')}"


class VisdomPage:
    """One tab's Playwright page with what the UI offers a user. Runs on the worker thread.

    `before_leave()` runs before the document goes away (its first-seen stamps with it).
    """

    def __init__(
        self,
        page: Any,
        events: PageEvents,
        journal: JournalWriter,
        client_id: str,
        load_timeout_s: float,
        before_leave: Callable[[], None],
    ) -> None:
        self.page = page
        self.events = events
        self.journal = journal
        self.client_id = client_id
        self.load_timeout_s = load_timeout_s
        self.before_leave = before_leave

    def evaluate(self, expression: str) -> Any:
        return self.page.evaluate(expression)

    def read(self) -> list[tuple[str, list[EventId]]]:
        """(window, ids) of every pane, in the grid's order."""
        return [(str(p["win"]), pane_ids(p)) for p in self.page.evaluate(PANES_JS)]

    def click_badge(self) -> str:
        """Click the online/offline badge; its text before the click ("" if absent)."""
        return str(self.page.evaluate(CLICK_BADGE_JS))

    def screenshot(self, path: Any) -> None:
        self.page.screenshot(path=str(path))

    def open(self, url: str, reason: str) -> None:
        """The first load of the tab: journalled as `resync` `reason`, done when a socket opened."""
        before = self.events.opened_upto
        self._resync(reason)
        self.page.goto(url, wait_until="load", timeout=self.load_timeout_s * 1000)
        self._wait_socket(before)

    def navigate(self, url: str, reason: str) -> None:
        """Reload the page (`refresh`) or open `url` (`switch_env`): the socket closes, a new one opens."""
        before = self.events.opened_upto
        self.before_leave()
        self.events.expect_close(reason)
        # Navigation tears the socket down without a reliable close event: journal it here.
        self.events.journal_disconnect(reason)
        self._resync(reason)
        if reason == "refresh":
            self.page.reload(wait_until="load", timeout=self.load_timeout_s * 1000)
        else:
            self.page.goto(url, wait_until="load", timeout=self.load_timeout_s * 1000)
        self._wait_socket(before)

    def _resync(self, reason: str) -> None:
        self.journal.write(
            "resync", self.client_id, self.events.conn, reason=reason, env=self.events.env
        )

    def _wait_socket(self, before: int) -> None:
        # The UI opens its WebSocket after load; with USE_POLLING it polls /socket_wrap instead.
        deadline = time.monotonic() + self.load_timeout_s
        while self.events.opened_upto == before and time.monotonic() < deadline:
            self.page.wait_for_timeout(PUMP_MS)
        if self.events.opened_upto == before:
            raise BrowserError(
                f"{self.client_id}: the page opened no socket within {self.load_timeout_s:.0f} s"
            )
