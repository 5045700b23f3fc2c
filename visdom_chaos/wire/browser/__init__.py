"""A real-browser subscriber: headless Debian Chromium driven by Playwright.

It opens the Visdom UI of one env and reads back what the page actually shows — each
pane's Plotly trace data and the text of text panes, with event ids extracted by
visdom_chaos.ids — journalled as `view` records (transport `browser`) exactly like the
replica's. Besides that it journals the page's socket lifecycle, its console errors,
uncaught exceptions and failed requests, the JS heap over time (`browser_sample`) and when
each id first shows in the page (`browser_seen`), and leaves a screenshot in the run folder.

One module per job (docs/browser.md):

    worker.py      the Playwright thread and the calls handed to it (PageWorker)
    events.py      page events -> journal: sockets, frames, errors, requests (PageEvents)
    page.py        the UI: reading panes, the navbar badge, navigation (VisdomPage)
    cdp.py         JS heap and DOM size from CDP (HeapSampler)
    seen.py        first-seen stamps and the page clock (SeenPoller, SEEN_INIT_JS)
    subscriber.py  BrowserSubscriber, which puts them together

By hand: `python -m visdom_chaos.wire.browser URL [--env E] [--watch S] [--run-dir D]`.
"""

from visdom_chaos.wire.browser.events import LOOPBACK_HOSTS, is_loopback
from visdom_chaos.wire.browser.page import CLICK_BADGE_JS, PANES_JS, pane_ids
from visdom_chaos.wire.browser.seen import (
    CLOCK_PROBES,
    NOW_JS,
    SEEN_CAP,
    SEEN_CHUNK,
    SEEN_INIT_JS,
    SEEN_PENDING_CAP,
    SEEN_POLL_S,
    TAKE_SEEN_JS,
    clock_sample,
    seen_init_script,
    seen_stamps,
)
from visdom_chaos.wire.browser.subscriber import BrowserSubscriber
from visdom_chaos.wire.browser.worker import (
    CALL_TIMEOUT_S,
    CHROMIUM_ARGS,
    DEFAULT_CHROMIUM,
    BrowserError,
    check_chromium,
    launch_chromium,
)

__all__ = [
    "BrowserError",
    "BrowserSubscriber",
    "CALL_TIMEOUT_S",
    "CHROMIUM_ARGS",
    "CLICK_BADGE_JS",
    "CLOCK_PROBES",
    "DEFAULT_CHROMIUM",
    "LOOPBACK_HOSTS",
    "NOW_JS",
    "PANES_JS",
    "SEEN_CAP",
    "SEEN_CHUNK",
    "SEEN_INIT_JS",
    "SEEN_PENDING_CAP",
    "SEEN_POLL_S",
    "TAKE_SEEN_JS",
    "check_chromium",
    "clock_sample",
    "is_loopback",
    "launch_chromium",
    "pane_ids",
    "seen_init_script",
    "seen_stamps",
]
