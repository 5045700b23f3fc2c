"""python -m visdom_chaos.security --target 0.2.4 [--variant patched]: the probe alone, as a table.

The table lists Visdom's checks and then the toolkit's own (its proxy control API, its
Locust wrapper, its run folders), each row marked with the surface it judges.

Exit code: 0 all ok, 1 something vulnerable or in error, 2 bad input, 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from visdom_chaos.netguard import RemoteTargetError, check_url
from visdom_chaos.security.probe import (
    CHECKS,
    SECURITY_FILE,
    VISDOM_CHECKS,
    run_security_probe,
    surface,
)
from visdom_chaos.targets import VARIANTS, VERSIONS, TargetError, start_target, stop_all_children

STYLE = {"vulnerable": "bold red", "ok": "green", "error": "yellow"}


def add_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument(
        "--target",
        default="0.2.4",
        help=f"{'|'.join(VERSIONS)} (started here) or the URL of a running Visdom",
    )
    ap.add_argument("--variant", choices=VARIANTS, default="stock")
    ap.add_argument(
        "--out",
        type=Path,
        help="folder for security.json and the servers' logs "
        "(default reports/runs/<time>-security-<target>)",
    )
    ap.add_argument(
        "--oversize-mib", type=int, default=50, help="size of the oversized message (default 50)"
    )
    ap.add_argument("--only", help="comma-separated checks: " + ", ".join(CHECKS))
    ap.add_argument(
        "--proxy-api",
        metavar="URL",
        help="a running chaos proxy's control API to probe (loopback; default: a fresh one)",
    )


def register(sub) -> None:
    """`visdom-chaos security …` (registered through visdom_chaos.security.command)."""
    p = sub.add_parser(
        "security", help="security probe of a target (origin, login, sid theft, malformed messages)"
    )
    add_arguments(p)
    p.set_defaults(func=run)


def table(results: dict, label: str) -> Table:
    t = Table(
        "surface", "check", "status", "why", title=f"security probe: {label}", show_lines=True
    )
    for name, r in results.items():
        t.add_row(
            r.get("surface", surface(name)),
            name,
            f"[{STYLE[r['status']]}]{r['status']}[/]",
            escape(r["evidence"].get("why", "")),  # evidence quotes servers: not rich markup
        )
    return t


def main(argv: list[str] | None = None) -> int:
    from visdom_chaos.cli import restore_interrupt

    restore_interrupt()
    ap = argparse.ArgumentParser(
        prog="python -m visdom_chaos.security", description=__doc__.splitlines()[0]
    )
    add_arguments(ap)
    return run(ap.parse_args(argv))


def run(args: argparse.Namespace) -> int:
    console = Console()
    err = Console(stderr=True)
    only = [c.strip() for c in args.only.split(",")] if args.only else None
    if only and set(only) - set(CHECKS):
        err.print(
            f"visdom-chaos security: error: unknown check(s) {sorted(set(only) - set(CHECKS))}"
        )
        return 2
    external = args.target.startswith(("http://", "https://"))
    if not external and args.target not in VERSIONS:
        err.print(
            f"visdom-chaos security: error: unknown target {args.target!r}: use {', '.join(VERSIONS)} or a URL"
        )
        return 2
    if args.oversize_mib <= 0:
        err.print("visdom-chaos security: error: --oversize-mib must be positive")
        return 2
    toolkit_only = only is not None and not set(only) & set(VISDOM_CHECKS)
    label = (
        "the toolkit"
        if toolkit_only
        else args.target
        if external
        else f"{args.target}:{args.variant}"
    )
    out = (
        args.out
        or Path("reports/runs")
        / f"{time.strftime('%Y%m%d-%H%M%S')}-security-{label.replace(':', '-').replace('/', '_').replace(' ', '-')}"
    )
    target = None
    try:
        if args.proxy_api:
            check_url(args.proxy_api)  # loopback only, before anything starts
        if external or toolkit_only:  # the toolkit's checks need no Visdom
            url, pid = check_url(args.target) if external else "http://127.0.0.1:9", None
        else:
            target = start_target(args.target, args.variant, out)
            url, pid = target.url, target.pid
        results = run_security_probe(
            url,
            out,
            args.target if not external else "external",
            args.variant,
            server_pid=pid,
            oversize_mib=args.oversize_mib,
            only=only,
            progress=lambda name: err.print(f"  checking {name}…"),
            proxy_api=args.proxy_api,
        )
    except (RemoteTargetError, TargetError, OSError) as exc:
        err.print(f"visdom-chaos security: error: {exc}")
        return 2
    except KeyboardInterrupt:
        err.print(f"visdom-chaos security: interrupted (partial results in {out / SECURITY_FILE})")
        return 130
    finally:
        if target is not None:
            target.stop()
        stop_all_children()  # e.g. a login twin a Ctrl-C caught mid-start
    console.print(table(results, label))
    console.print(f"written: {out / SECURITY_FILE}")
    return 0 if all(r["status"] == "ok" for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
