"""The gate: rules parsing (never eval), exit codes 0/1/2 and the outcome table."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from visdom_chaos.cli import UserError
from visdom_chaos.commands import report as commands
from visdom_chaos.reports.analyze import analyze_run
from visdom_chaos.reports.gate import (
    BASELINES_DIR,
    DEFAULT_RULES,
    RULES_DIR,
    RuleError,
    evaluate,
    parse_rules,
)
from visdom_chaos.reports.render import write_reports
from visdom_chaos.reports.synth import Inject, build_run


def vc(*argv: str) -> int:
    """The reports commands as `visdom-chaos` runs them: UserError is exit 2."""
    parser = argparse.ArgumentParser(prog="visdom-chaos")
    commands.register(parser.add_subparsers())
    args = parser.parse_args(list(argv))
    try:
        return int(args.func(args))
    except UserError as exc:
        print(f"visdom-chaos: error: {exc}")
        return 2


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("gate")
    out = {}
    for name, inj in {
        "clean": Inject(events=120),
        "bad": Inject(events=120, missing={"ws-1": [10, 11, 12]}, rss_slope_mib_per_min=30),
    }.items():
        build_run(base / name, inj)
        write_reports(base / name, analyze_run(base / name), plots=False)
        out[name] = base / name
    return out


def test_clean_run_passes_the_default_rules(runs, capsys):
    assert vc("gate", str(runs["clean"])) == 0
    out = capsys.readouterr().out
    assert (
        "gate passed" in out
        and f"{len(parse_rules(DEFAULT_RULES))}/{len(parse_rules(DEFAULT_RULES))} rules hold" in out
    )


def test_failing_run_exits_1_with_a_table(runs, capsys):
    assert vc("gate", str(runs["bad"])) == 1
    out = capsys.readouterr().out
    for col in ("rule", "value", "limit", "baseline"):
        assert col in out
    row = next(line for line in out.splitlines() if "findings.missing == 0" in line)
    assert "3" in row and "FAIL" in row
    assert "memory.growth_flagged" in out and "gate failed" in out


def test_rules_file_with_baseline(runs, tmp_path, capsys):
    assert vc("baseline", str(runs["clean"]), "clean-ref", "--dir", str(tmp_path)) == 0
    base = tmp_path / "clean-ref.json"
    stored = json.loads(base.read_text())
    assert stored["schema"] == "visdom-chaos/report/1" and "series" not in stored
    rules = tmp_path / "r.rules"
    rules.write_text(
        "# relative to the baseline\nlatency_ms.p99 <= baseline * 1.2  # 20 % slack\n"
        "findings.missing <= baseline.findings.missing + 2\n"
    )
    assert vc("gate", str(runs["clean"]), "--baseline", str(base), "--rules", str(rules)) == 0
    assert vc("gate", str(runs["bad"]), "--baseline", str(base), "--rules", str(rules)) == 1
    out = capsys.readouterr().out
    assert "findings.missing <= baseline.findings.missing + 2" in out


def test_default_baseline_rules_allow_what_the_baseline_already_had(runs, tmp_path):
    assert vc("baseline", str(runs["bad"]), "bad-ref", "--dir", str(tmp_path)) == 0
    assert vc("gate", str(runs["bad"]), "--baseline", str(tmp_path / "bad-ref.json")) == 0
    assert vc("baseline", str(runs["clean"]), "clean-ref", "--dir", str(tmp_path)) == 0
    assert vc("gate", str(runs["bad"]), "--baseline", str(tmp_path / "clean-ref.json")) == 1


@pytest.mark.parametrize(
    "text,msg",
    [
        ("findings.missing = 0", "cannot read"),
        ("findings.missing ==", "expects|expected"),
        ("findings.nope == 0", "no metric"),
        ("latency_ms.p99 < baseline * 2", "needs --baseline"),
        ("__import__('os').system('true') == 0", "cannot read|expected"),
        ("# only a comment\n\n", "no rules"),
        ("latency_ms.p99 < (3 + 4", "missing '\\)'"),
        ("memory.growth_flagged < true", "cannot order"),
        ("latency_ms < 5", "not a single value"),
    ],
)
def test_malformed_rules_exit_2(runs, tmp_path, capsys, text, msg):
    rules = tmp_path / "bad.rules"
    rules.write_text(text)
    assert vc("gate", str(runs["clean"]), "--rules", str(rules)) == 2
    err = capsys.readouterr().out
    assert err.startswith("visdom-chaos: error:") and len(err.strip().splitlines()) == 1
    import re

    assert re.search(msg, err), err


@pytest.mark.parametrize(
    "argv",
    [
        ("gate", "/nonexistent/run"),
        ("gate", "RUN", "--rules", "/nonexistent.rules"),
        ("gate", "RUN", "--baseline", "/nonexistent.json"),
        ("gate", "NOTJSON"),
        ("baseline", "RUN", "../escape"),
        ("analyze", "/nonexistent/run"),
    ],
)
def test_bad_input_exits_2(runs, tmp_path, argv):
    junk = tmp_path / "junk.json"
    junk.write_text("{not json")
    argv = tuple(
        str(runs["clean"]) if a == "RUN" else str(junk) if a == "NOTJSON" else a for a in argv
    )
    assert vc(*argv) == 2


def test_gate_analyses_a_run_without_report_and_writes_junit(tmp_path):
    build_run(tmp_path / "run", Inject(events=60))
    assert not (tmp_path / "run" / "report.json").exists()
    assert vc("gate", str(tmp_path / "run"), "--junit", str(tmp_path / "gate.xml")) == 0
    assert (tmp_path / "run" / "report.json").exists()
    xml = (tmp_path / "gate.xml").read_text()
    assert xml.count("<testcase") == len(parse_rules(DEFAULT_RULES)) and "<failure" not in xml


def test_expressions_and_booleans():
    report = {"a": {"x": 10.0, "flag": False, "none": None}}
    base = {"a": {"x": 8.0}}
    rules = parse_rules(
        "a.x <= baseline * 1.25\na.x < (baseline + 1) * 1.1\na.flag == false\n"
        "a.x == 10\na.x > -1\na.x >= 20 / 2\na.none < 5\na.x <= baseline -2\n"
    )
    got = [o.ok for o in evaluate(rules, report, base)]
    assert got == [True, False, True, True, True, True, False, False]
    with pytest.raises(RuleError):
        parse_rules("a.x < 1 +")
    with pytest.raises(RuleError, match="left side"):
        parse_rules("baseline.a.x < 3")


def test_committed_rule_files_parse_and_hold_on_a_clean_run(runs):
    files = sorted(RULES_DIR.glob("*.rules"))
    assert files
    for f in files:
        assert vc("gate", str(runs["clean"]), "--rules", str(f)) == 0, f.name
        assert vc("gate", str(runs["bad"]), "--rules", str(f)) == 1, f.name  # 3 missing ids


def test_committed_baselines_are_reports():
    for f in sorted(BASELINES_DIR.glob("*.json")):
        data = json.loads(f.read_text())
        assert data["schema"] == "visdom-chaos/report/1" and set(data["findings"]) >= {
            "missing",
            "reorder",
        }


def test_analyze_a_crashed_run_from_the_command_line(tmp_path, capsys):
    build_run(tmp_path / "run", Inject(events=80, missing={"ws-0": [3]}))
    (tmp_path / "run" / "run.json").unlink()  # the orchestrator died before writing it
    path = tmp_path / "run" / "journal" / "clients.jsonl"
    path.write_bytes(path.read_bytes()[:-25])  # and a writer mid-line
    assert vc("analyze", str(tmp_path / "run"), "--no-plots") == 0
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert report["input"]["torn"] == 1 and report["scenario"] == "unknown"
    assert report["findings"]["missing"] >= 1
    out = capsys.readouterr().out
    assert "torn journal line" in out and "wrote report.json, report.md" in out
    assert vc("analyze", str(tmp_path / "run"), "--stale-bound-ms", "-1") == 2
