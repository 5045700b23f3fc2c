"""The page's first-seen stamping (SEEN_INIT_JS) in real Chromium on a synthetic grid: no
Visdom, no React — a pane's window id is planted where React 16 keeps its fiber."""

from __future__ import annotations

import time

import pytest

from visdom_chaos.wire.browser import (
    DEFAULT_CHROMIUM,
    TAKE_SEEN_JS,
    launch_chromium,
    seen_init_script,
    seen_stamps,
)

pytestmark = [pytest.mark.browser]

GRID = """<div class="react-grid-item" id="t"><div class="content"></div></div>
<div class="react-grid-item" id="p"><div class="js-plotly-plot"></div></div>"""
PLANT = """() => {
  document.getElementById('t')['__reactInternalInstance$x'] = {key: 'text-win', return: null};
  document.getElementById('p')['__reactInternalInstance$x'] = {key: null, return: {key: 'plot-win'}};
}"""


@pytest.fixture(scope="module")
def browser():
    if not DEFAULT_CHROMIUM.is_file():
        pytest.skip(f"chromium not installed at {DEFAULT_CHROMIUM} (apt-get install -y chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        b = launch_chromium(pw)
        yield b
        b.close()


def _page(browser, since_ms: float, **caps):
    page = browser.new_page()
    page.set_content(GRID)
    page.evaluate(PLANT)
    page.evaluate(seen_init_script(since_ms, **caps))
    return page


def _text(page, tokens: list[tuple[int, int]]) -> None:
    html = "<br>".join(f"line [src-1#{seq}@{ns}]" for seq, ns in tokens)
    page.evaluate("(h) => { document.querySelector('#t .content').innerHTML = h; }", html)


def _take(page) -> dict:
    return page.evaluate(TAKE_SEEN_JS)


def test_text_pane_ids_are_stamped_once_when_they_first_show(browser) -> None:
    since = time.time_ns() / 1e6
    page = _page(browser, since)
    ns = time.time_ns()
    old = int((since - 5000) * 1e6)  # sent before the subscriber started: history
    before = time.time_ns()
    _text(page, [(0, old), (1, ns), (2, ns + 1)])
    got = _take(page)
    after = time.time_ns()
    ids = seen_stamps(got["wins"]["text-win"])
    assert [(i[0], i[1], i[2]) for i in ids] == [("src-1", 1, ns), ("src-1", 2, ns + 1)]
    assert all(before - 5_000_000 <= i[3] <= after + 5_000_000 for i in ids), (before, ids, after)
    # appended: only the new ids; replaced by the same text (a resync): nothing
    _text(page, [(0, old), (1, ns), (2, ns + 1), (3, ns + 2)])
    assert [i[1] for i in seen_stamps(_take(page)["wins"]["text-win"])] == [3]
    page.evaluate("() => { document.querySelector('#t .content').innerHTML = ''; }")
    _text(page, [(1, ns), (2, ns + 1), (3, ns + 2)])
    got = _take(page)
    assert got["wins"] == {} and got["dropped"] == 0 and got["givenUp"] == 0 and got["scanMs"] >= 0
    page.close()


def test_plot_pane_points_are_stamped_from_the_graph_div_data(browser) -> None:
    since = time.time_ns() / 1e6
    page = _page(browser, since)
    ms = time.time_ns() / 1e6
    page.evaluate(
        """(ms) => { const gd = document.querySelector('#p .js-plotly-plot');
      gd.data = [{name: 'src-0', x: [0, 1], y: [ms, ms + 1]}, {name: 'other', x: [0], y: ['nope']}];
      gd.appendChild(document.createElement('svg')); }""",
        ms,
    )
    ids = seen_stamps(_take(page)["wins"]["plot-win"])
    assert [(i[0], i[1]) for i in ids] == [("src-0", 0), ("src-0", 1)]
    assert abs(ids[0][2] - ms * 1e6) < 1000
    page.evaluate(
        """(ms) => { const gd = document.querySelector('#p .js-plotly-plot');
      gd.data[0].x.push(2); gd.data[0].y.push(ms + 2); gd.firstChild.setAttribute('d', 'M0,0'); gd.appendChild(document.createElement('g')); }""",
        ms,
    )
    assert [i[1] for i in seen_stamps(_take(page)["wins"]["plot-win"])] == [2]
    page.close()


def test_page_memory_is_bounded_per_window(browser) -> None:
    since = time.time_ns() / 1e6
    page = _page(browser, since, cap=3, pending_cap=4)
    ns = time.time_ns()
    # seq 1 never shows: 2..5 wait above the floor until there are more than 3, then the floor
    # jumps past the hole (given up); a late seq 1 is not stamped
    _text(page, [(0, ns), (2, ns), (3, ns), (4, ns), (5, ns)])
    got = _take(page)
    assert [i[1] for i in seen_stamps(got["wins"]["text-win"])] == [0, 2, 3, 4]  # 4 pending at most
    assert got["dropped"] == 1 and got["givenUp"] == 1
    _text(page, [(0, ns), (1, ns), (2, ns), (3, ns), (4, ns), (5, ns), (6, ns)])
    got = _take(page)
    assert [i[1] for i in seen_stamps(got["wins"]["text-win"])] == [6]
    assert got["dropped"] == 0 and got["givenUp"] == 0  # counters are per take()
    page.close()
