"""`visdom-chaos analyze | gate | baseline`: the report and the gate as commands (the CLI side
of visdom_chaos.reports, which imports nothing of the harness)."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

from rich.console import Console

from visdom_chaos.cli import UserError
from visdom_chaos.reports import gate as gating
from visdom_chaos.reports.analyze import analyze_run, config_for
from visdom_chaos.reports.escape import term
from visdom_chaos.reports.journals import RunFolderError, load_run_meta
from visdom_chaos.reports.junit import gate_junit
from visdom_chaos.reports.render import findings_table, write_reports

# `baseline` writes here, relative to the current folder (run folders go to ./reports/runs/);
# `gate --baseline NAME` looks here first, then among the baselines shipped with the package
BASELINE_DIR = Path("reports") / "baselines"
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
# parts of a report a baseline does not need (large, run-specific)
BASELINE_DROP = ("series", "timeline", "evidence", "faults")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "analyze", help="(re-)analyse a finished or crashed run folder and write its reports"
    )
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument(
        "--stale-bound-ms",
        type=float,
        default=2000.0,
        help="an id visible later than this after its ack is stale (default 2000)",
    )
    p.add_argument(
        "--ghost-settle-s",
        type=float,
        default=5.0,
        help="how long a gone client's server socket may linger (default 5)",
    )
    p.add_argument(
        "--memory-bound",
        type=float,
        default=5.0,
        metavar="MIB_PER_MIN",
        help="flag RSS growth steeper than this (default 5 MiB/min)",
    )
    p.add_argument("--no-plots", action="store_true", help="write report.json and report.md only")
    p.set_defaults(func=cmd_analyze)

    g = sub.add_parser(
        "gate",
        help="check a run's report against threshold rules (exit 1 on failure)",
        description="Rules: one 'METRIC OP EXPR' per line, e.g. 'findings.missing == 0', "
        "'latency_ms.p99 <= baseline * 1.2'. Exit 0: all hold, 1: any fails, 2: bad input, "
        "3: cannot judge (no rule failed, but a rule needs a timing figure the run's observer "
        "could not vouch for: report.json `trust`)."
        "\n\nDefault rules:\n"
        + gating.DEFAULT_RULES
        + "\nDefault rules with --baseline (and no --rules):\n"
        + gating.DEFAULT_BASELINE_RULES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    g.add_argument("run_dir", metavar="RUN_DIR", help="run folder (or its report.json)")
    g.add_argument(
        "--baseline",
        metavar="FILE",
        help="baseline report: a file, or NAME for reports/baselines/NAME.json "
        "(of the current folder, else shipped with visdom-chaos)",
    )
    g.add_argument("--rules", metavar="FILE", help="rules file (default: the built-in rule set)")
    g.add_argument("--junit", metavar="FILE", help="also write the outcomes as JUnit XML")
    g.set_defaults(func=cmd_gate)

    b = sub.add_parser("baseline", help="store a run's report as reports/baselines/NAME.json")
    b.add_argument("run_dir", metavar="RUN_DIR")
    b.add_argument("name", metavar="NAME")
    b.add_argument(
        "--dir",
        default=str(BASELINE_DIR),
        help="folder to write to (default: reports/baselines/ of the current folder)",
    )
    b.set_defaults(func=cmd_baseline)


def _console() -> Console:
    """Rich picks 80 columns when not on a terminal; CI logs read better wider."""
    console = Console()
    return console if console.is_terminal else Console(width=140)


def _load_json(path: Path, what: str) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise UserError(f"{what} {path}: no such file") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"{what} {path}: not valid JSON ({exc})") from exc
    if not isinstance(data, dict) or not str(data.get("schema", "")).startswith(
        "visdom-chaos/report/"
    ):
        raise UserError(
            f"{what} {path}: not a visdom-chaos report (no 'schema' visdom-chaos/report/…)"
        )
    return data


def _report_of(run_dir: str) -> dict[str, Any]:
    """A run folder's report.json, analysing the run first if it has none yet."""
    path = Path(run_dir)
    if path.is_file():
        return _load_json(path, "report")
    if not path.is_dir():
        raise UserError(f"{path}: no such run folder")
    if (path / "report.json").exists():
        return _load_json(path / "report.json", "report")
    try:
        report = analyze_run(path)
    except RunFolderError as exc:
        raise UserError(str(exc)) from exc
    write_reports(path, report)
    return report


def cmd_analyze(args: argparse.Namespace) -> int:
    for name in ("stale_bound_ms", "ghost_settle_s", "memory_bound"):
        if getattr(args, name) < 0:
            raise UserError(f"--{name.replace('_', '-')} must not be negative")
    try:
        cfg = config_for(
            load_run_meta(args.run_dir) if Path(args.run_dir).is_dir() else {},
            stale_bound_ms=args.stale_bound_ms,
            ghost_settle_s=args.ghost_settle_s,
            memory_bound_mib_per_min=args.memory_bound,
        )
        report = analyze_run(args.run_dir, cfg)
    except RunFolderError as exc:
        raise UserError(str(exc)) from exc
    written = write_reports(args.run_dir, report, plots=not args.no_plots)
    console = _console()
    console.print(findings_table(report))
    for note in report["notes"]:
        console.print(f"[dim]note: {term(note)}[/]")  # notes quote the run: text, not markup
    console.print("wrote " + term(", ".join(str(p.relative_to(args.run_dir)) for p in written)))
    return 0


def _baseline_path(arg: str) -> Path:
    p = Path(arg)
    if p.exists() or not NAME_RE.match(arg):
        return p
    for folder in (BASELINE_DIR, gating.BASELINES_DIR):
        if (folder / f"{arg}.json").exists():
            return folder / f"{arg}.json"
    return p


EXIT_CANNOT_JUDGE = 3


def cmd_gate(args: argparse.Namespace) -> int:
    report = _report_of(args.run_dir)
    baseline = _load_json(_baseline_path(args.baseline), "baseline") if args.baseline else None
    if args.rules:
        try:
            text = Path(args.rules).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise UserError(f"rules {args.rules}: cannot read ({exc})") from exc
    else:
        text = gating.DEFAULT_BASELINE_RULES if baseline is not None else gating.DEFAULT_RULES
    try:
        outcomes = gating.evaluate(gating.parse_rules(text), report, baseline)
    except gating.RuleError as exc:
        raise UserError(str(exc)) from exc
    failed = [o for o in outcomes if not o.ok and not o.untrusted]
    unjudged = [o for o in outcomes if o.untrusted]
    console = _console()
    held = len(outcomes) - len(failed) - len(unjudged)
    title = f"gate: {report.get('scenario')} · {held}/{len(outcomes)} rules hold" + (
        f", {len(unjudged)} cannot be judged" if unjudged else ""
    )
    console.print(gating.outcome_table(outcomes, title))
    if args.junit:
        Path(args.junit).write_text(gate_junit(outcomes, report), encoding="utf-8")
    if failed:
        console.print("[bold red]gate failed[/]")
        return 1
    if unjudged:
        reason = (report.get("trust") or {}).get("reason") or "observer lost headroom"
        console.print(f"[bold yellow]gate cannot judge[/]: {term(reason)} (exit 3)")
        return EXIT_CANNOT_JUDGE
    console.print("[green]gate passed[/]")
    return 0


def cmd_baseline(args: argparse.Namespace) -> int:
    if not NAME_RE.match(args.name):
        raise UserError(f"baseline name {args.name!r}: use letters, digits, '.', '_' or '-'")
    report = _report_of(args.run_dir)
    slim = {k: v for k, v in report.items() if k not in BASELINE_DROP}
    slim["baseline_of"] = str(Path(args.run_dir).resolve().name)
    out = Path(args.dir) / f"{args.name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(slim, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    _console().print(f"wrote {term(out)}")
    return 0
