"""The page probe: does a real Chromium page load the Visdom UI from a URL and go online?

One fresh headless Chromium opens `url` (through the chaos proxy, under a path prefix when
the scenario mounts Visdom at one), and within a bounded wait records what a user would
see and what the page asked for: whether the UI rendered (the navbar's connection badge
exists), the badge's text (`online` / `offline`), how many panes it shows, whether a
WebSocket opened (and its URL), the requests answered >= 400 or failed (URL and status),
console errors and uncaught exceptions. `online` is 1 only when the badge reads "online".

Written to `page.json` in the run folder (reports/page.py reads it into the report's
`page` section, numbers for gate rules: `page.online`, `page.panes`, `page.bad_static`).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from visdom_chaos.reports.page import PAGE_FILE
from visdom_chaos.wire.browser.worker import DEFAULT_CHROMIUM, BrowserError, launch_chromium

MAX_LISTED = 20  # bad requests / console errors listed (all are counted)

BADGE_JS = """() => {
  const b = Array.from(document.querySelectorAll('.navbar-form button.btn'))
    .find(b => ['online', 'offline'].includes(b.textContent.trim()));
  return {badge: b ? b.textContent.trim() : '',
          panes: document.querySelectorAll('.react-grid-item').length,
          app: !!(document.getElementById('app') || {}).childElementCount};
}"""


def probe_page(
    url: str,
    *,
    timeout_s: float = 12.0,
    want_panes: int = 1,
    chromium: Path = DEFAULT_CHROMIUM,
    screenshot: Path | None = None,
) -> dict[str, Any]:
    """What one page load of `url` showed, within `timeout_s` (bounded, whatever the page does).

    Waits until the badge reads "online" with at least `want_panes` panes, or the time is up.
    """
    try:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright
    except ImportError as exc:  # the `browser` extra
        raise BrowserError(f"playwright is not installed ({exc})") from None
    bad: list[dict[str, Any]] = []
    errors: list[str] = []
    sockets: list[str] = []
    counts = {"bad_requests": 0, "bad_static": 0, "console_errors": 0}

    def count_bad(url: str) -> None:
        counts["bad_requests"] += 1
        if "/static/" in urlsplit(url).path:
            counts["bad_static"] += 1

    answered_bad: set[str] = set()  # a 404'd resource also "fails" (ERR_ABORTED): count it once

    def on_response(resp: Any) -> None:
        if resp.status >= 400:
            answered_bad.add(resp.url)
            count_bad(resp.url)
            if len(bad) < MAX_LISTED:
                bad.append({"url": resp.url, "status": resp.status})

    def on_failed(req: Any) -> None:
        if req.url in answered_bad:
            return
        count_bad(req.url)
        if len(bad) < MAX_LISTED:
            bad.append({"url": req.url, "status": 0, "failure": str(req.failure or "")})

    def on_console(msg: Any) -> None:
        if msg.type == "error":
            counts["console_errors"] += 1
            if len(errors) < MAX_LISTED:
                errors.append(msg.text[:300])

    def on_page_error(exc: Any) -> None:
        counts["console_errors"] += 1
        if len(errors) < MAX_LISTED:
            errors.append(f"uncaught: {str(exc)[:300]}")

    state: dict[str, Any] = {"badge": "", "panes": 0, "app": False}
    loaded, load_error = False, ""
    t0 = time.monotonic()
    with sync_playwright() as pw:
        browser = launch_chromium(pw, chromium)
        try:
            page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
            page.on("response", on_response)
            page.on("requestfailed", on_failed)
            page.on("console", on_console)
            page.on("pageerror", on_page_error)
            page.on("websocket", lambda ws: sockets.append(ws.url))
            try:
                resp = page.goto(url, wait_until="load", timeout=timeout_s * 1000)
                loaded = resp is not None and resp.ok
                if resp is not None and not resp.ok:
                    load_error = f"HTTP {resp.status}"
            except PlaywrightError as exc:
                load_error = str(exc).splitlines()[0]
            deadline = t0 + timeout_s
            while time.monotonic() < deadline:
                try:
                    state = page.evaluate(BADGE_JS)
                except PlaywrightError:
                    pass  # navigating
                if state["badge"] == "online" and state["panes"] >= want_panes:
                    break
                page.wait_for_timeout(100)
            if screenshot is not None:
                screenshot.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(screenshot))
        finally:
            browser.close()
    return {
        "url": url,
        "loaded": int(loaded),
        "load_error": load_error,
        "ui": int(bool(state["badge"])),  # the React app rendered its navbar
        "badge": state["badge"],
        "online": int(state["badge"] == "online"),
        "panes": int(state["panes"]),
        "sockets": sockets[:MAX_LISTED],
        "bad_requests": counts["bad_requests"],
        "bad_static": counts["bad_static"],  # of them under /static/
        "bad": bad,
        "console_errors": counts["console_errors"],
        "errors": errors,
        "waited_s": round(time.monotonic() - t0, 2),
        "screenshot": str(screenshot.name) if screenshot is not None else None,
    }


def write_page(run_dir: Path, result: dict[str, Any]) -> Path:
    path = Path(run_dir) / PAGE_FILE
    path.write_text(json.dumps(result, indent=1))
    return path
