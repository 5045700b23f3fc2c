"""Hostile input through every renderer (issue 20): env names, window ids, client names, toxic
names, browser errors, notes and the scenario of a user's run carry `<script>`, `"><img onerror>`,
quote breakers, `]]>`, mathtext, entities, Markdown pipes and backticks, rich markup and a
terminal escape. The real path (`visdom-chaos analyze RUN_DIR`) must write report.html,
report.md, junit.xml, plots and the terminal table with the payloads shown as text, never
obeyed, and never dropped (each check also finds the payload, so it cannot pass by losing it).
"""

from __future__ import annotations

import html
import json
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from visdom_chaos import cli
from visdom_chaos.commands import report as report_cmd
from visdom_chaos.journal import JournalWriter
from visdom_chaos.reports.synth import ENV, SEC, SRC, WIN, Inject, build_run

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
QUOTE = "' onmouseover='x"
CDATA = "]]></failure>"
MATH = "$x^2$"
BAD_MATH = r"$\bogus$"  # mathtext cannot parse it: a plot drawing it as math raises
AMP = "&amp;"
MD = "a|b`c*d*"
RICH = "[/][red]x"
ANSI = "\x1b]0;pwned\x07"  # a terminal escape (sets the window title); not valid in XML either

CLIENT = f"ws-0{SCRIPT}{RICH}"
CTRL_CLIENT = f"ws-1{ANSI}"  # shown with its control characters made visible
CTRL_SHOWN = "ws-1\\x1b]0;pwned\\x07"
ENV_H = f"env{IMG}{AMP}"
WIN_H = f"win{QUOTE}{CDATA}{BAD_MATH}{MD}"
SRC_H = f"src{MATH}|"
TOXIC = f"tox{SCRIPT}{BAD_MATH}[bold]"
BROWSER = f"browser-0{IMG}{BAD_MATH}"
SCENARIO = f"scen{SCRIPT}[bold]b[/bold]{MD}"
NOTE = f"note {SCRIPT} {IMG} {QUOTE} {CDATA} {MATH} {AMP} {MD} {RICH}"
CONSOLE_ERR = f"console {SCRIPT}{IMG}{ANSI}"
EXC_MSG = f"{SCRIPT}{IMG}{CDATA}{ANSI}"

# every payload that must come through (as text) in the outputs that show it
PAYLOADS = [SCRIPT, IMG, QUOTE, CDATA, MATH, BAD_MATH, AMP, MD, RICH]
RENAME = {"ws-0": CLIENT, "ws-1": CTRL_CLIENT, ENV: ENV_H, WIN: WIN_H, SRC: SRC_H, "t0": TOXIC}


def _rename(x: Any) -> Any:
    if isinstance(x, str):
        return RENAME.get(x, x)
    if isinstance(x, list):
        return [_rename(v) for v in x]
    if isinstance(x, dict):
        return {_rename(k): _rename(v) for k, v in x.items()}
    return x


def hostile_run(root: Path) -> Path:
    """A synthetic run (findings, causes, a singled-out tab, faults) renamed hostile, plus a real
    browser tab with hostile errors, a server log whose traceback is hostile, a security.json."""
    run = root / "run"
    build_run(
        run,
        Inject(
            events=80,
            subscribers=3,
            missing={"ws-0": [5], "ws-1": [7]},
            reorder={"ws-0": [20]},
            reloads={"ws-0": 2},
            unknown_errors={"ws-0": 3},
            wire_gaps={"ws-0": [30]},
            faults_at_ms=[150.0],
        ),
    )
    for path in (run / "journal").glob("*.jsonl"):
        recs = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        for r in recs:
            if r["type"] == "fault":
                r["detail"] = f"injected {SCRIPT}{CDATA}"
        path.write_text("".join(json.dumps(_rename(r)) + "\n" for r in recs))
    meta = json.loads((run / "run.json").read_text())
    t0 = meta["started_ns"]
    faults = JournalWriter(run / "journal" / "faults-2.jsonl", "faults")
    faults.write(
        "fault",
        "proxy",
        0,
        t=t0 + SEC,
        proxy="visdom",
        toxic=TOXIC,
        kind="schedule",
        stream="downstream",
        detail={"op": f"add{IMG}", "args": {"type": f"latency{MATH}"}},
    )
    faults.close()
    tab = JournalWriter(run / "journal" / "browser-0.jsonl", "browser")
    tab.write("connect", BROWSER, 1, t=t0 + 10_000_000, transport="browser", env=ENV_H, url="x")
    tab.write("resync", BROWSER, 1, t=t0 + 11_000_000, reason="initial", env=ENV_H)
    for i in range(4):
        tab.write("browser_sample", BROWSER, 1, t=t0 + i * SEC, js_heap_mib=10.0 + i, nodes=100 + i)
    tab.write("protocol_error", BROWSER, 1, t=t0 + SEC, kind="console_error", detail=CONSOLE_ERR)
    tab.write("protocol_error", BROWSER, 1, t=t0 + SEC, kind="page_error", detail=NOTE)
    tab.write(
        "view", BROWSER, 1, t=t0 + 3 * SEC, env=ENV_H, win=WIN_H, ids=[[SRC_H, 1]], final=True
    )
    tab.write("disconnect", BROWSER, 1, t=t0 + 4 * SEC, reason="end", clean=True)
    tab.close()
    meta.update(
        scenario=SCENARIO,
        target={"version": f"0.2.4{SCRIPT}", "variant": RICH, "url": f"http://x/{IMG}{MD}"},
        status="failed",
        error=f"boom {SCRIPT}{RICH}{ANSI}",
        notes=[NOTE],
    )
    (run / "run.json").write_text(json.dumps(meta))
    (run / "server.log").write_text(
        "INFO:root:start\n"
        "ERROR:tornado.application:Uncaught exception GET /env/x (127.0.0.1)\n"
        "Traceback (most recent call last):\n"
        f'  File "{SCRIPT}.py", line 1, in <module>\n'
        f"ValueError: {EXC_MSG}\n"
        "INFO:root:more\n"
    )
    (run / "security.json").write_text(
        json.dumps(
            {
                f"check{SCRIPT}": {
                    "title": f"title {IMG}",
                    "status": "vulnerable",
                    "evidence": {"why": f"why {SCRIPT}{RICH}"},
                }
            }
        )
    )
    return run


@pytest.fixture(scope="module")
def analyzed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, object]:
    """`visdom-chaos analyze RUN_DIR` in process, its terminal output recorded (no colour, wide
    enough that no table cell wraps a payload). The files are written before the terminal
    output: a failure there is the terminal test's, not every test's."""
    run = hostile_run(tmp_path_factory.mktemp("escaping"))
    console = Console(width=20_000, record=True, color_system=None, force_terminal=False)
    mp = pytest.MonkeyPatch()
    mp.setattr(report_cmd, "_console", lambda: console)
    try:
        rc: int | BaseException = cli.main(["analyze", str(run)])
    except Exception as exc:  # noqa: BLE001 - the terminal test reports it
        rc = exc
    finally:
        mp.undo()
    return run, console.export_text(), rc


def test_the_payloads_reach_the_report(analyzed):
    """Ground for the checks below: the hostile names are in report.json (JSON-escaped), so each
    renderer really was fed them."""
    run, _, _ = analyzed
    report = json.loads((run / "report.json").read_text())
    text = "\n".join(_strings(report))
    for needle in (CLIENT, ENV_H, WIN_H, SRC_H, TOXIC, BROWSER, SCENARIO, NOTE, CONSOLE_ERR):
        assert needle in text, needle
    assert any(CLIENT in e["message"] and WIN_H in e["message"] for e in report["evidence"])
    assert [s["client"] for s in report["singled_out"]] == [CLIENT]
    assert report["browser"]["browsers"][0]["id"] == BROWSER
    assert EXC_MSG in "\n".join(_strings(report["server"]))
    assert CTRL_CLIENT in text


def _strings(x: Any) -> list[str]:
    if isinstance(x, str):
        return [x]
    if isinstance(x, dict):
        return [s for k, v in x.items() for s in (*_strings(k), *_strings(v))]
    if isinstance(x, list):
        return [s for v in x for s in _strings(v)]
    return []


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


# what render_html itself writes; anything else came from a payload
HTML_TAGS = {
    "html", "head", "meta", "title", "style", "body", "h1", "h2", "h3", "p", "b", "code",
    "table", "tr", "th", "td", "ul", "li", "span", "figure", "img",
}  # fmt: skip
HTML_ATTRS = {"lang", "charset", "class", "alt", "src"}


def test_html_shows_payloads_as_text_only(analyzed):
    run, _, _ = analyzed
    page = (run / "report.html").read_text(encoding="utf-8")
    parser = _Elements()
    parser.feed(page)
    parser.close()
    tags = {t for t, _ in parser.tags}
    assert "script" not in tags
    assert tags <= HTML_TAGS, tags - HTML_TAGS
    for tag, attrs in parser.tags:
        for name, value in attrs:
            assert not name.startswith("on"), (tag, name, value)
            assert name in HTML_ATTRS, (tag, name, value)
        if tag == "img":
            assert dict(attrs)["src"].startswith("data:image/png;base64,")  # type: ignore[union-attr]
    text = "".join(parser.text)
    for needle in (*PAYLOADS, CLIENT, ENV_H, WIN_H, TOXIC, BROWSER, SCENARIO, NOTE):
        assert needle in text, needle
    assert "<script" not in page.lower() and "<img src=x" not in page


def test_junit_parses_and_keeps_payloads_as_text(analyzed):
    run, _, _ = analyzed
    root = ET.fromstring((run / "junit.xml").read_bytes())  # raises on an injected tag or char
    assert root.tag == "testsuite"
    assert {e.tag for e in root.iter()} <= {"testsuite", "testcase", "failure", "system-out"}
    assert {tc.get("classname") for tc in root.iter("testcase")} == {f"visdom_chaos.{SCENARIO}"}
    failures = " ".join(f.text or "" for f in root.iter("failure"))
    for needle in (CLIENT, ENV_H, WIN_H, CTRL_SHOWN):
        assert needle in failures, needle


# A Markdown viewer renders raw HTML, so report.md writes untrusted text with `<`, `>`, `&` as
# entities (they read right rendered and nearly right raw, in every context but a code span) and
# backslash-escapes the punctuation Markdown acts on (`|` ends a table cell, a backtick opens a
# code span, `[`/`]` a link, `*`/`~` emphasis, `$` GitHub's math). Code spans would need fences longer than any
# backtick run inside and cannot hold an entity or a `\|`, so untrusted text is not put in one.
MD_ESCAPED = re.compile(r"\\([\\`*~$\[\]|])")


def _md_text(md: str) -> str:
    """What a Markdown viewer shows of the escapes render.md writes."""
    return html.unescape(MD_ESCAPED.sub(r"\1", md))


def _no_raw_backtick(md: str) -> bool:
    return re.search(r"(?<!\\)`", md) is None


def _cells(row: str) -> int:
    return len(re.findall(r"(?<!\\)\|", row)) - 1


def test_markdown_neutralises_html_and_keeps_tables(analyzed):
    run, _, _ = analyzed
    md = (run / "report.md").read_text(encoding="utf-8")
    parser = _Elements()
    parser.feed(md)
    parser.close()
    assert parser.tags == []  # no HTML at all: the renderer writes none, a payload may not either
    assert "<" not in md.replace("<-", "")
    lines = md.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("|---"):
            width = _cells(line)
            assert _cells(lines[i - 1]) == width, lines[i - 1]
            for row in lines[i + 1 :]:
                if not row.startswith("|"):
                    break
                assert _cells(row) == width, row
    shown = _md_text(md)
    for needle in (*PAYLOADS, CLIENT, ENV_H, WIN_H, TOXIC, BROWSER, SCENARIO, NOTE):
        assert needle in shown, needle
    assert _no_raw_backtick(md)


def test_terminal_shows_markup_as_text(analyzed):
    """Rich markup in a payload is printed, not obeyed (`[/]` would raise MarkupError, `[bold]`
    would vanish into style), and no terminal escape gets through."""
    _, out, rc = analyzed
    assert rc == 0, rc
    for needle in (RICH, "[bold]b[/bold]", CLIENT, SCENARIO, NOTE, "boom", "\\x1b]0;pwned\\x07"):
        assert needle in out, needle
    assert "\x1b" not in out and "\x07" not in out


def test_plots_are_drawn(analyzed):
    run, _, _ = analyzed
    names = {p.stem for p in (run / "plots").glob("*.png")}
    assert {"rss", "latency", "timeline", "findings", "reload_causes", "browser_heap"} <= names


def _recorded() -> Console:
    return Console(width=20_000, record=True, color_system=None, force_terminal=False)


def test_gate_and_run_output_show_markup_as_text(analyzed, monkeypatch):
    """The gate's table (title: the scenario) and `visdom-chaos run`'s closing lines (the run's
    error) print the run's text as text too."""
    run, _, _ = analyzed
    console = _recorded()
    monkeypatch.setattr(report_cmd, "_console", lambda: console)
    assert cli.main(["gate", str(run)]) == 1  # the injected findings fail the default rules
    out = console.export_text()
    assert SCENARIO in out and "gate failed" in out

    from visdom_chaos.commands.run import print_result
    from visdom_chaos.orchestrator import RunResult

    report = json.loads((run / "report.json").read_text())
    console = _recorded()
    result = RunResult(run, "failed", report, error=f"boom {RICH}{ANSI}")
    print_result(result, console)
    out = console.export_text()
    assert f"boom {RICH}\\x1b]0;pwned\\x07" in out and "\x1b" not in out


def test_user_window_rows_show_titles_as_text():
    """A user's own window titles (issue 19) come from their Visdom: printed, never obeyed."""
    from rich.table import Table

    from visdom_chaos.reports.render import user_rows

    title = f"loss{RICH}{SCRIPT}"
    finding = {"detail": f"trace '1': tab 1 points{ANSI}"}
    report = {
        "user_windows": {
            "verdicts": {"missing_points": 1},
            "findings": {"missing_points": 1},
            "windows": [
                {
                    "win": "w1",
                    "title": title,
                    "type": "line",
                    "tabs": {"ws-1": {"findings": [finding]}},
                }
            ],  # fmt: skip
            "not_judged": [f"props{RICH}"],
        },
        "server": {"process": {"pid": None, "note": f"not found {RICH}"}},
    }
    table = Table("finding", "n", "detail")
    user_rows(table, report)
    console = _recorded()
    console.print(table)
    out = console.export_text()
    assert f"ws-1: {title}" in out and f"props{RICH}" in out and f"not found {RICH}" in out
    assert "\x1b" not in out
