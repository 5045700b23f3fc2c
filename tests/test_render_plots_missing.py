"""A broken matplotlib must not silently cost a run its HTML and JUnit: the plots are left
out, the report says so, report.html and junit.xml are still written."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from visdom_chaos.journal import JournalWriter
from visdom_chaos.reports.analyze import analyze_run
from visdom_chaos.reports.render import write_reports


def test_without_matplotlib_the_report_says_the_plots_are_missing(
    tmp_path: Path, monkeypatch
) -> None:
    JournalWriter(tmp_path / "run" / "journal" / "clients.jsonl", "clients").close()
    report = analyze_run(tmp_path / "run")
    monkeypatch.delitem(sys.modules, "visdom_chaos.reports.plots", raising=False)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib raises ImportError
    paths = write_reports(tmp_path / "run", report)
    names = {p.name for p in paths}
    assert {"report.json", "report.md", "report.html", "junit.xml"} <= names
    assert not any(p.suffix == ".png" for p in paths)
    note = next(
        n
        for n in report["notes"]
        if n.startswith("plots not drawn: matplotlib could not be imported")
    )
    assert note in json.loads((tmp_path / "run" / "report.json").read_text())["notes"]
    assert note in (tmp_path / "run" / "report.md").read_text()
    assert "plots not drawn" in (tmp_path / "run" / "report.html").read_text()
    write_reports(tmp_path / "run", report)  # again: one note, not two
    assert sum(n == note for n in report["notes"]) == 1
