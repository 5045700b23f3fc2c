"""The replica's plot write-back model (plot_render.py) against real Chromium on the 0.2.4 UI.

Windows made the way users make them (Visdom's own Python client, from the target's
venv) and the way the toolkit's training sources make them; once the page has rendered
them, the page's `state.panes` (React's App state, read through the fiber on #app) is
compared with the server's window (/win_data) after `render_plot`. Every key the page
adds, removes or changes must be what the model adds, removes or changes, with the same
values — except `range`, Plotly's autorange result, which the model only approximates
(the hash differs either way; see plot_render.py).
"""

from __future__ import annotations

import copy
import json
import subprocess
import time
from pathlib import Path

import pytest
import requests
from test_browser_index import built_target  # tests/ is on sys.path (rootdir, no package)

from visdom_chaos.journal import JournalWriter
from visdom_chaos.wire.browser import launch_chromium
from visdom_chaos.wire.replica.jsvalue import js_json_clone
from visdom_chaos.wire.replica.plot_render import render_plot
from visdom_chaos.wire.training import TrainingSource

pytestmark = [pytest.mark.browser, pytest.mark.visdom]

USER_WINDOWS = """
import sys
import numpy as np
import visdom
v = visdom.Visdom(port=int(sys.argv[1]), use_incoming_socket=False, raise_exceptions=True)
v.line(X=np.arange(5), Y=np.arange(5) ** 2, win='line', opts=dict(title='Line', xlabel='step', ylabel='loss'))
v.line(X=np.arange(5), Y=np.arange(5) ** 2, win='line_range', opts=dict(title='Ranged', xtickmin=0, xtickmax=10))
v.line(X=np.arange(5), Y=np.stack([np.arange(5), np.arange(5) * 2], 1), win='two', opts=dict(legend=['a', 'b']))
v.scatter(X=np.random.RandomState(0).rand(5, 2), win='scatter', opts=dict(title='Scatter'))
v.bar(X=np.arange(1, 5), win='bar')
v.heatmap(X=np.eye(3), win='heat')
v.text('not a plot', win='text')
"""

APP_PANES = """() => {
  const root = document.getElementById('app');
  const container = root._reactRootContainer;
  let f = container && (container.current || container._internalRoot.current);
  for (let n = 0; f && n < 10; n++, f = f.child) {
    if (f.stateNode && f.stateNode.state && f.stateNode.state.consistent_pane_copy) {
      return JSON.parse(JSON.stringify(f.stateNode.state.panes));
    }
  }
  return null;
}"""


def changes(before: object, after: object, path: str = "") -> dict[str, tuple[str, object]]:
    """path -> ('+', value) | ('-', None) | ('~', new value), for JSON values."""
    out: dict[str, tuple[str, object]] = {}
    if isinstance(before, dict) and isinstance(after, dict):
        for key in sorted(set(before) | set(after)):
            sub = f"{path}/{key}"
            if key not in before:
                out[sub] = ("+", after[key])
            elif key not in after:
                out[sub] = ("-", None)
            else:
                out.update(changes(before[key], after[key], sub))
    elif isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        for k, (b, a) in enumerate(zip(before, after, strict=True)):
            out.update(changes(b, a, f"{path}/{k}"))
    elif before != after:
        out[path] = ("~", after)
    return out


def without_ranges(diff: dict[str, tuple[str, object]]) -> dict[str, object]:
    def strip(value: object) -> object:
        if isinstance(value, dict):
            return {k: ("<range>" if k == "range" else strip(v)) for k, v in value.items()}
        return value

    return {
        p: ("<range>" if p.endswith("/range") else (op, strip(v))) for p, (op, v) in diff.items()
    }


def test_the_model_writes_back_what_the_real_page_writes(tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    targets, built = built_target("0.2.4")
    with targets.start_built(built, tmp_path) as target, sync_playwright() as pw:
        browser = launch_chromium(pw)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1200})
            page.goto(target.url + "/env/main")
            page.wait_for_function(
                "() => document.getElementById('app') && document.getElementById('app')._reactRootContainer",
                timeout=30_000,
            )
            journal = JournalWriter(tmp_path / "training.jsonl", "training")
            for kind in ("line", "scatter"):
                source = TrainingSource(target.url, f"tool-{kind}", journal, kind=kind)
                assert source.create() and source.append()
            port = target.url.rsplit(":", 1)[1]
            subprocess.run(
                [built.python, "-c", USER_WINDOWS, port],
                check=True,
                capture_output=True,
                timeout=120,
            )
            truth = requests.post(
                f"{target.url}/win_data", json={"eid": "main", "win": None}, timeout=30
            ).json()
            deadline = time.monotonic() + 30
            while True:  # rendered: every window in the page, each with the server's content id
                panes = page.evaluate(APP_PANES) or {}
                if all(
                    panes.get(w, {}).get("contentID") == json.loads(t)["contentID"]
                    if isinstance(t, str)
                    else panes.get(w, {}).get("contentID") == t["contentID"]
                    for w, t in truth.items()
                ):
                    break
                assert time.monotonic() < deadline, (
                    f"page never showed every window: {sorted(panes)}"
                )
                page.wait_for_timeout(200)
            page.wait_for_timeout(1000)  # effects and Plotly's newPlot have run
            panes = page.evaluate(APP_PANES)
        finally:
            browser.close()

    assert len(truth) == 9
    checked = 0
    for win, window in sorted(truth.items()):
        window = json.loads(window) if isinstance(window, str) else window
        real = changes(window, panes[win])
        modelled = copy.deepcopy(window)
        if modelled["type"] == "plot":
            render_plot(modelled["content"], None)
        model = changes(window, js_json_clone(modelled))
        assert without_ranges(model) == without_ranges(real), win
        if window["type"] == "plot":
            assert real, f"{win}: a rendered plot always differs from the server's window"
            checked += 1
        else:
            assert real == {}, win
    assert checked == 8
