"""`visdom-chaos run`: one experiment on an embedded (or external) Visdom, then the report."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from visdom_chaos.cli import UserError
from visdom_chaos.netguard import RemoteTargetError, check_url
from visdom_chaos.orchestrator import Experiment, RunOptions
from visdom_chaos.targets import VARIANTS, VERSIONS


def register(sub) -> None:
    p = sub.add_parser("run", help="run an experiment and write a report (the default command)")
    p.add_argument("--target", default="0.2.4", help=f"{'|'.join(VERSIONS)} or the URL of your own Visdom")
    p.add_argument("--variant", choices=VARIANTS, default="stock")
    p.add_argument("--duration", type=float, default=60.0, help="seconds of load (default 60)")
    p.add_argument("--out", type=Path, help="run folder (default reports/runs/<time>-<scenario>)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--allow-remote", action="store_true", help="allow a non-loopback --target URL")
    p.set_defaults(func=_run)


def options_from_args(args) -> RunOptions:
    if args.duration <= 0:
        raise UserError("--duration must be positive")
    if args.target.startswith(("http://", "https://")):
        try:
            check_url(args.target, allow_remote=args.allow_remote)
        except RemoteTargetError as exc:
            raise UserError(str(exc)) from exc
    elif args.target not in VERSIONS:
        raise UserError(f"unknown target {args.target!r}: use {', '.join(VERSIONS)} or a URL")
    return RunOptions(
        target=args.target, variant=args.variant, duration_s=args.duration, out=args.out,
        seed=args.seed, allow_remote=args.allow_remote,
    )


def run_with_progress(options: RunOptions, console: Console) -> int:
    with Progress(
        TextColumn("[bold]{task.fields[scenario]}"), BarColumn(), TimeElapsedColumn(),
        TextColumn("{task.fields[stats]}"), console=console, transient=False,
    ) as bar:
        task = bar.add_task("run", total=options.duration_s, scenario=options.scenario, stats="starting")

        def update(state: dict) -> None:
            rss = f"  rss {state['rss_mib']:.0f} MiB" if state.get("rss_mib") else ""
            stats = (f"sent {state['sent']}  acked {state['acked']}  recv {state['received']}"
                     f"  connected {state['connected']}{rss}")
            bar.update(task, completed=min(state["elapsed"], options.duration_s), stats=stats)

        experiment = Experiment(options, progress=update)
        result = experiment.run()
    from reports.render import findings_table

    if result.report is not None:
        console.print(findings_table(result.report))
    console.print(f"report: {result.run_dir}/report.md")
    if result.error:
        console.print(f"[red]error:[/red] {result.error}")
    if result.status == "interrupted":
        console.print("[yellow]interrupted: partial report written[/yellow]")
        return 130
    return 0 if result.status == "complete" else 1


def _run(args) -> int:
    return run_with_progress(options_from_args(args), Console())
