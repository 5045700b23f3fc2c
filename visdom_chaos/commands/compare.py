"""`visdom-chaos compare`: run scenarios × targets and write the findings matrix."""

from __future__ import annotations

import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from visdom_chaos.cli import UserError
from visdom_chaos.commands.run import check_target, resolve_scenario, run_with_progress
from visdom_chaos.matrix import Cell, cell_from_report, write_matrix
from visdom_chaos.orchestrator import RunOptions
from visdom_chaos.scenario import scenario_files
from visdom_chaos.targets import VARIANTS


def register(sub) -> None:
    p = sub.add_parser(
        "compare", help="run scenarios on several targets and write the findings matrix"
    )
    p.add_argument("--scenarios", default="all", help="comma-separated names, or 'all' (default)")
    p.add_argument(
        "--targets",
        default="0.2.4:stock,0.3.0:stock",
        help="comma-separated VERSION:VARIANT (default 0.2.4:stock,0.3.0:stock)",
    )
    p.add_argument("--duration", type=float, help="override every scenario's duration (seconds)")
    p.add_argument("--exclude", default="soak", help="scenarios left out of 'all' (default: soak)")
    p.add_argument(
        "--out",
        type=Path,
        help="folder for the runs and the matrix (default reports/runs/<time>-compare)",
    )
    p.set_defaults(func=_compare)


def parse_targets(spec: str) -> list[tuple[str, str]]:
    out = []
    for item in filter(None, (s.strip() for s in spec.split(","))):
        version, _, variant = item.partition(":")
        variant = variant or "stock"
        check_target(version, allow_remote=False)
        if variant not in VARIANTS:
            raise UserError(f"unknown variant {variant!r} in {item!r}: use {', '.join(VARIANTS)}")
        out.append((version, variant))
    if not out:
        raise UserError("--targets is empty")
    return out


def _compare(args) -> int:
    names = (
        list(scenario_files())
        if args.scenarios == "all"
        else [s.strip() for s in args.scenarios.split(",") if s.strip()]
    )
    if args.scenarios == "all":
        names = [n for n in names if n not in set(args.exclude.split(","))]
    scenarios = [resolve_scenario(n, args.duration) for n in names]  # all validated before any run
    targets = parse_targets(args.targets)
    out = args.out or Path("reports") / "runs" / f"{time.strftime('%Y%m%d-%H%M%S')}-compare"
    out.mkdir(parents=True, exist_ok=True)
    console = Console()
    cells: list[Cell] = []
    labels = [f"{v}:{var}" for v, var in targets]
    interrupted = False
    try:
        for sc in scenarios:
            for (version, variant), label in zip(targets, labels, strict=True):
                run_dir = out / sc.name / label.replace(":", "-")
                options = RunOptions(scenario=sc, target=version, variant=variant, out=run_dir)
                result = run_with_progress(options, console)
                cells.append(
                    cell_from_report(
                        sc.name,
                        label,
                        run_dir,
                        result.status,
                        result.report,
                        sc.expectations_for(version, variant),
                        result.error,
                    )
                )
                if result.status == "interrupted":
                    raise KeyboardInterrupt
    except KeyboardInterrupt:
        interrupted = True
    paths = write_matrix(out, [s.name for s in scenarios], labels, cells)
    table = Table("scenario", *labels, title="findings matrix", show_lines=True)
    by = {(c.scenario, c.target): c for c in cells}
    for sc in scenarios:
        table.add_row(
            sc.name, *[by[(sc.name, t)].summary() if (sc.name, t) in by else "—" for t in labels]
        )
    console.print(table)
    console.print(f"matrix: {paths['md']}  {paths['html']}  {paths['json']}")
    if interrupted:
        console.print("[yellow]interrupted: the matrix holds the runs that finished[/yellow]")
        return 130
    return 0
