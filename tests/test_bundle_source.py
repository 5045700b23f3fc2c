"""The stock bundles rebuilt from their own source maps behave as the shipped ones.

Builds (or reuses: a cache hit after the first build) `<version>-stock-srcbundle`, checks
the build's evidence (every node_modules file the map names verified against npm; the
rebuilt map's sources equal to the shipped map's), then drives a real Chromium page on
each bundle, the shipped one and the rebuilt one, with the same updates (a line plot
appended in two steps, a text window) and compares what the pages show. A second test
runs the fidelity experiment (dropped window_update frames and a refresh; replicas and
Chromium side by side) on both 0.3.0 bundles and compares the findings and the per-window
verdicts.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import pytest
import requests
from test_browser_index import VIEWPORT, built_target, post_line  # tests/ is on sys.path
from test_fidelity import SCENARIO

from visdom_chaos.orchestrator import Experiment, RunOptions
from visdom_chaos.scenario import parse_scenario
from visdom_chaos.wire.browser import launch_chromium

pytestmark = [pytest.mark.browser, pytest.mark.visdom, pytest.mark.slow]


def source_target(version: str):
    targets, shipped = built_target(version)  # skips without chromium or 0.3.0
    from visdom_chaos.targets.bundle_build import build_bundle
    from visdom_chaos.targets.sourcemap_tree import read_bundle_sources

    rebuilt = targets.build_target(version, "stock", bundle="source")
    shipped_map = Path(shipped.package_dir) / "static" / "js" / "main.js.map"
    bundle = build_bundle(version, shipped_map, targets.cache_dir())  # the cached build
    assert bundle.cached and bundle.key == rebuilt.bundle_key
    return targets, shipped, rebuilt, bundle, read_bundle_sources(shipped_map)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def drive_page(targets, built, run_dir: Path) -> dict:
    """One Chromium tab on `built`: what main.js it was served, and what it shows after
    20 + 10 line points and a text window."""
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    bodies: dict[str, bytes] = {}
    with targets.start_built(built, run_dir) as target, sync_playwright() as pw:
        browser = launch_chromium(pw)
        try:
            page = browser.new_page(viewport=VIEWPORT)
            page.on("pageerror", lambda e: errors.append(str(e)))

            def on_response(r) -> None:
                if r.url.split("?")[0].endswith("/static/js/main.js"):
                    bodies["main.js"] = r.body()

            page.on("response", on_response)
            page.goto(f"{target.url}/", wait_until="load", timeout=30_000)
            page.wait_for_function(
                "() => document.querySelector('#app .navbar-brand') !== null", timeout=15_000
            )
            page.wait_for_timeout(500)  # the socket opens after the first render
            ys = post_line(target.url, "plot-1", "src-0", list(range(1, 21)))
            page.wait_for_function(
                "() => { const e = document.querySelector('.js-plotly-plot');"
                " return e && e.data && e.data.length && e.data[0].x.length === 20; }",
                timeout=15_000,
            )
            trace = {"x": list(range(21, 31)), "y": [float(i) for i in range(21, 31)]}
            trace.update(name="src-0", type="scatter", mode="lines")
            r = requests.post(
                f"{target.url}/update",
                json={
                    "eid": "main",
                    "win": "plot-1",
                    "append": True,
                    "name": "src-0",
                    "data": [trace],
                },
                timeout=10,
            )
            assert r.status_code == 200, r.text
            page.wait_for_function(
                "() => document.querySelector('.js-plotly-plot').data[0].x.length === 30",
                timeout=15_000,
            )
            r = requests.post(
                f"{target.url}/events",
                json={
                    "eid": "main",
                    "win": "text-1",
                    "data": [{"content": "hello [t#1]", "type": "text"}],
                    "opts": {},
                },
                timeout=10,
            )
            assert r.status_code == 200, r.text
            page.wait_for_function(
                "() => document.body.innerText.includes('hello [t#1]')", timeout=15_000
            )
            deadline = time.monotonic() + 2
            while "main.js" not in bodies and time.monotonic() < deadline:
                page.wait_for_timeout(50)
            data = page.evaluate("document.querySelector('.js-plotly-plot').data")
            panes = page.locator(".react-grid-item").count()
        finally:
            browser.close()
    return {
        "main_js": sha(bodies.get("main.js", b"")),
        "x": data[0]["x"],
        "y": data[0]["y"],
        "first_ys": ys,
        "name": data[0]["name"],
        "panes": panes,
        "errors": errors,
    }


@pytest.mark.parametrize("version", ["0.2.4", "0.3.0"])
def test_rebuilt_bundle_page_receives_updates_like_the_shipped_one(
    version: str, tmp_path: Path
) -> None:
    targets, shipped, rebuilt, bundle, sources = source_target(version)
    # The build's own proof: the exact npm versions (every map-named file verified), and
    # a rebuilt map holding the shipped map's sources, text for text.
    assert bundle.verified_files == len(sources.modules) and bundle.packages >= 50, bundle
    assert bundle.own_files == len(sources.own) and "js/main.js" in sources.own
    assert not bundle.differing_sources and not bundle.only_shipped, bundle
    assert not bundle.only_rebuilt, bundle
    shipped_js = (Path(shipped.package_dir) / "static" / "js" / "main.js").read_bytes()
    rebuilt_js = Path(bundle.main_js).read_bytes()
    assert sha(rebuilt_js) != sha(shipped_js), "the rebuild is a copy of the shipped file?"

    pages = {
        "shipped": drive_page(targets, shipped, tmp_path / "shipped"),
        "source": drive_page(targets, rebuilt, tmp_path / "source"),
    }
    print(json.dumps({k: {**v, "y": len(v["y"])} for k, v in pages.items()}))
    # Each page really ran its own bundle.
    assert pages["shipped"]["main_js"] == sha(shipped_js)
    assert pages["source"]["main_js"] == sha(rebuilt_js)
    for name, seen in pages.items():
        assert not seen["errors"], (name, seen["errors"])
        assert seen["x"] == list(range(1, 31)), (name, seen["x"])
        assert seen["y"][:20] == seen["first_ys"], name
        assert seen["name"] == "src-0" and seen["panes"] == 2, (name, seen)
    same = ("x", "name", "panes")
    assert {k: pages["source"][k] for k in same} == {k: pages["shipped"][k] for k in same}
    assert pages["source"]["y"][20:] == pages["shipped"]["y"][20:]


def test_fidelity_run_gives_the_same_findings_on_both_bundles(tmp_path: Path) -> None:
    source_target("0.3.0")
    results = {}
    for bundle in ("shipped", "source"):
        result = Experiment(
            RunOptions(
                scenario=parse_scenario(SCENARIO),
                target="0.3.0",
                bundle=bundle,
                out=tmp_path / bundle,
            )
        ).run()
        assert result.status == "complete", (bundle, result.error)
        meta = json.loads((result.run_dir / "run.json").read_text())
        assert meta["target"]["bundle"] == bundle, meta["target"]
        results[bundle] = result.report
    verdicts = {}
    for bundle, report in results.items():
        fid = report["browser"]["fidelity"]
        verdicts[bundle] = {
            "kinds": sorted(k for k, n in report["findings"].items() if n),
            "windows": {
                r["window"]: (
                    r["agree"],
                    sorted(s["final_ids"] == r["truth_ids"] for s in r["browser"]["subscribers"]),
                )
                for r in fid["windows"]
            },
            "reloads_agree": fid["reloads"]["agree"],
        }
    print(json.dumps({b: {**v, "findings": results[b]["findings"]} for b, v in verdicts.items()}))
    assert verdicts["source"] == verdicts["shipped"]
    for v in verdicts.values():  # and both are the faithful verdict, not the same failure
        assert all(agree and all(full) for agree, full in v["windows"].values()), v


def test_patched_target_bundles(tmp_path: Path) -> None:
    """Both series change js/ (0.2.4: 0007, 0011, 0014; 0.3.0: 0006, 0011): each patched
    target always serves main.js rebuilt from the map with those changes, extending the
    verified stock rebuild, and no injected script (index.html loads main.js only)."""
    js = Path("static") / "js"
    for version in ("0.2.4", "0.3.0"):
        targets, shipped, _rebuilt, bundle, _sources = source_target(version)
        patched = targets.build_target(version, "patched")
        assert patched.name == f"{version}-patched" and patched.bundle == "source"
        assert patched.bundle_key == bundle.key  # it extends the verified stock rebuild
        assert targets.build_target(version, "patched", bundle="source") == patched
        served = (Path(patched.package_dir) / js / "main.js").read_bytes()
        stock_js = (Path(shipped.package_dir) / js / "main.js").read_bytes()
        rebuilt_js = Path(bundle.main_js).read_bytes()
        assert served not in (rebuilt_js, stock_js)
        assert b"reconnecting" in served and b"reconnecting" not in rebuilt_js
        served_files = {p.name for p in (Path(patched.package_dir) / js).iterdir()}
        shipped_files = {p.name for p in (Path(shipped.package_dir) / js).iterdir()}
        assert served_files == shipped_files, served_files ^ shipped_files
        index = (Path(patched.package_dir) / "static" / "index.html").read_text()
        assert "visdom-" not in index, "the patched page still loads an injected script"
