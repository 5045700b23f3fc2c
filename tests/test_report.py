"""Report outputs: report.json/md, plots, junit.xml, and report.html rendered in real headless Chromium."""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from rich.console import Console

from visdom_chaos.reports.analyze import analyze_run, config_for
from visdom_chaos.reports.junit import INVARIANTS
from visdom_chaos.reports.plots import PLOTS
from visdom_chaos.reports.render import findings_table, write_reports
from visdom_chaos.reports.summary import FINDING_KINDS
from visdom_chaos.reports.synth import Inject, build_run

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> tuple[Path, dict]:
    run = tmp_path_factory.mktemp("report") / "run"
    build_run(
        run,
        Inject(
            events=150,
            missing={"ws-1": [20, 21]},
            reorder={"ws-2": [40]},
            gaps={"ws-0": [70]},
            ghosts=1,
            rss_slope_mib_per_min=8,
            faults_at_ms=[300, 1500],
        ),
    )
    report = analyze_run(
        run, config_for({}, memory_min_growth_mib=0)
    )  # a short run: flag any growth
    write_reports(run, report)
    return run, report


def test_report_json_has_schema_v1_keys(written):
    run, report = written
    data = json.loads((run / "report.json").read_text())
    assert data == json.loads(json.dumps(report, default=str))
    for key in (
        "schema",
        "scenario",
        "target",
        "duration_s",
        "totals",
        "findings",
        "memory",
        "latency_ms",
        "subscribers",
        "notes",
    ):
        assert key in data
    assert set(data["findings"]) == set(FINDING_KINDS)
    assert set(data["target"]) == {"version", "variant", "url"}
    assert set(data["totals"]) == {
        "sent",
        "acked",
        "delivered",
        "subscribers",
        "not_acked",
        "server_closed",
    }
    assert {
        "rss_start_mib",
        "rss_end_mib",
        "rss_peak_mib",
        "slope_mib_per_min",
        "growth_flagged",
    } <= set(data["memory"])
    assert {"p50", "p95", "p99", "max"} <= set(data["latency_ms"])
    for s in data["subscribers"]:
        assert set(s["findings"]) == set(FINDING_KINDS) and s["transport"] in (
            "websocket",
            "polling",
            "browser",
        )


def test_markdown_names_findings_and_evidence(written):
    run, report = written
    md = (run / "report.md").read_text()
    assert md.startswith("# visdom-chaos report: synthetic")
    assert "| missing ids (id × subscriber) | 2 |" in md
    assert "src-0#20, src-0#21" in md  # the ids themselves
    assert "reset_peer" in md and "![rss](plots/rss.png)" in md


def test_junit_has_one_case_per_invariant(written):
    run, report = written
    suite = ET.parse(run / "junit.xml").getroot()
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert set(cases) == {name for name, _, _ in INVARIANTS} | {"bounded_memory", "causes_known"}
    failed = {n for n, c in cases.items() if c.find("failure") is not None}
    assert failed == {"no_missing", "in_order", "no_ghost_subscribers", "bounded_memory"}
    assert suite.get("failures") == str(len(failed))
    assert "2 missing" in cases["no_missing"].find("failure").text


def test_plots_are_pngs(written):
    run, _ = written
    for name in PLOTS:
        data = (run / "plots" / f"{name}.png").read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000


def test_findings_table_rows(written):
    _, report = written
    table = findings_table(report)
    # one row per finding kind, reloads by cause, who is singled out, then memory, view and wire
    # latency, and the observer's verdict
    assert table.row_count == len(FINDING_KINDS) + 6
    console = Console(width=200, record=True)
    console.print(table)
    text = console.export_text()
    assert "missing ids" in text and "2 missing (final_view) for ws-1" in text
    assert "latency p99, wire" in text and "observer" in text and "unmeasured" in text


def test_reports_of_an_empty_run_still_render(tmp_path):
    from visdom_chaos.journal import JournalWriter

    JournalWriter(tmp_path / "run" / "journal" / "clients.jsonl", "clients").close()
    report = analyze_run(tmp_path / "run")
    assert report["findings"] == dict.fromkeys(FINDING_KINDS, 0)
    assert any("not measured" in n for n in report["notes"])
    paths = write_reports(tmp_path / "run", report)
    assert {p.name for p in paths} >= {"report.json", "report.md", "report.html", "junit.xml"}


@pytest.mark.browser
@pytest.mark.skipif(
    not os.path.exists(CHROMIUM),
    reason="needs Debian chromium at /usr/bin/chromium (apt-get install -y chromium)",
)
def test_html_report_renders_every_plot_in_chromium(written, tmp_path):
    playwright = pytest.importorskip("playwright.sync_api")
    run, _ = written
    html = (run / "report.html").read_text()
    assert "http://" not in html.split("<body>", 1)[1].replace(
        "http://127.0.0.1:1", ""
    )  # self-contained
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=30_000)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.set_default_timeout(20_000)
            page.goto((run / "report.html").as_uri())
            page.wait_for_load_state("load")
            sizes = page.eval_on_selector_all(
                "img", "imgs => imgs.map(i => [i.alt, i.complete, i.naturalWidth])"
            )
            shot = tmp_path / "report.png"
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    assert sorted(alt for alt, _, _ in sizes) == sorted(
        p.stem for p in (run / "plots").glob("*.png")
    )
    assert set(PLOTS) <= {alt for alt, _, _ in sizes}
    assert all(done and width > 0 for _, done, width in sizes), sizes
    assert shot.stat().st_size > 10_000
