"""`visdom-chaos run` and `visdom-chaos scenarios`."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from visdom_chaos.cli import UserError
from visdom_chaos.netguard import RemoteTargetError, check_url
from visdom_chaos.orchestrator import Experiment, RunOptions, RunResult
from visdom_chaos.reports.escape import term
from visdom_chaos.reports.render import findings_table
from visdom_chaos.scenario import Scenario, ScenarioError, load_scenario, scenario_files
from visdom_chaos.targets import BUNDLES, VARIANTS, VERSIONS

DEFAULT_SCENARIO = "mixed"


def register(sub) -> None:
    p = sub.add_parser("run", help="run a scenario and write a report (the default command)")
    p.add_argument(
        "--scenario",
        default=DEFAULT_SCENARIO,
        help="a name from `visdom-chaos scenarios` or a TOML file",
    )
    p.add_argument(
        "--target", default="0.2.4", help=f"{'|'.join(VERSIONS)} or the URL of your own Visdom"
    )
    p.add_argument("--variant", choices=VARIANTS, default="stock")
    p.add_argument(
        "--bundle",
        choices=BUNDLES,
        default="shipped",
        help="shipped: the release's main.js; source: rebuilt from its main.js.map (docs/bundle.md)",
    )
    p.add_argument("--duration", type=float, help="seconds of load (default: the scenario's)")
    p.add_argument("--out", type=Path, help="run folder (default reports/runs/<time>-<scenario>)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--browsers",
        type=int,
        metavar="N",
        help="add N real Chromium subscribers (browser-0…; default: the scenario's [load] browsers)",
    )
    p.add_argument("--allow-remote", action="store_true", help="allow a non-loopback --target URL")
    p.add_argument(
        "--workers",
        default="auto",
        metavar="N|auto",
        help="worker processes for the replica subscribers (default auto: one per core)",
    )
    p.add_argument(
        "--observer-burn-ms",
        type=float,
        default=0.0,
        metavar="MS",
        help="testing knob: worker-0's subscribers spend MS of CPU per frame (a starved observer)",
    )
    p.set_defaults(func=_run)

    ls = sub.add_parser("scenarios", help="list the scenario catalogue")
    ls.set_defaults(func=_list)


def resolve_scenario(name: str, duration: float | None = None) -> Scenario:
    try:
        scenario = load_scenario(name)
    except ScenarioError as exc:
        raise UserError(str(exc)) from exc
    if duration is not None:
        if duration <= 0:
            raise UserError("--duration must be positive")
        scenario = dataclasses.replace(scenario, duration_s=duration)
    return scenario


def check_target(target: str, allow_remote: bool) -> None:
    if target.startswith(("http://", "https://")):
        try:
            check_url(target, allow_remote=allow_remote)
        except RemoteTargetError as exc:
            raise UserError(str(exc)) from exc
    elif target not in VERSIONS:
        raise UserError(f"unknown target {target!r}: use {', '.join(VERSIONS)} or a URL")


def options_from_args(args) -> RunOptions:
    check_target(args.target, args.allow_remote)
    scenario = resolve_scenario(args.scenario, args.duration)
    browsers = getattr(args, "browsers", None)
    if browsers is not None:
        if browsers < 0:
            raise UserError("--browsers must be >= 0")
        scenario = dataclasses.replace(scenario, browsers=browsers)
    return RunOptions(
        scenario=scenario,
        target=args.target,
        variant=args.variant,
        bundle=getattr(args, "bundle", "shipped"),
        out=args.out,
        seed=args.seed,
        allow_remote=args.allow_remote,
        workers=parse_workers(args.workers),
        observer_burn_ms=max(0.0, float(args.observer_burn_ms or 0.0)),
    )


def parse_workers(value: str | int | None) -> str | int:
    """`auto` or a positive number of worker processes (a clear error otherwise)."""
    if value in (None, "auto"):
        return "auto"
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise UserError(f"--workers must be a positive number or 'auto', not {value!r}") from None
    if n < 1:
        raise UserError(
            f"--workers must be at least 1 (or 'auto'), not {n}: subscribers need a process"
        )
    return n


def run_with_progress(options: RunOptions, console: Console) -> RunResult:
    duration = options.scenario.duration_s
    label = f"{options.scenario.name} @ {options.target}:{options.variant}"
    if options.bundle != "shipped":
        label += f" ({options.bundle} bundle)"
    with Progress(
        TextColumn("[bold]{task.fields[label]}"),
        BarColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[stats]}"),
        console=console,
        transient=False,
    ) as bar:
        task = bar.add_task("run", total=duration, label=label, stats="starting")

        def update(state: dict) -> None:
            rss = f"  rss {state['rss_mib']:.0f} MiB" if state.get("rss_mib") else ""
            rate = state["acked"] / state["elapsed"] if state["elapsed"] > 0 else 0.0
            stats = (
                f"acked {state['acked']} ({rate:.0f}/s)  recv {state['received']}"
                f"  connected {state['connected']}{rss}"
            )
            bar.update(task, completed=min(state["elapsed"], duration), stats=stats)

        try:
            experiment = Experiment(options, progress=update)
        except OSError as exc:
            raise UserError(
                f"cannot create the run folder {options.out or 'reports/runs'}: {exc.strerror or exc}"
            ) from exc
        return experiment.run()


def print_result(result: RunResult, console: Console) -> int:
    if result.report is not None:
        console.print(findings_table(result.report))
    console.print(f"report: {term(result.run_dir)}/report.md")
    if result.error:  # may quote the server or a toxic: text, not markup
        console.print(f"[red]error:[/red] {term(result.error)}")
    if result.status == "interrupted":
        console.print("[yellow]interrupted: children stopped, partial report written[/yellow]")
        return 130
    if result.output_error:
        raise UserError(result.error or "cannot write the run folder")
    return 0 if result.status == "complete" else 1


def _run(args) -> int:
    console = Console()
    return print_result(run_with_progress(options_from_args(args), console), console)


def _list(args) -> int:
    table = Table("scenario", "description", "Visdom issues", "fixed in", box=None)
    for name, path in scenario_files().items():
        try:
            sc = load_scenario(str(path))
        except ScenarioError as exc:
            table.add_row(name, f"[red]{exc}[/red]", "", "")
            continue
        table.add_row(name, sc.description, ", ".join(sc.visdom_issues), ", ".join(sc.fixed_in))
    Console().print(table)
    return 0
