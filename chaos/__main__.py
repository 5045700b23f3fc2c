"""python -m visdom_chaos.chaos serve | check — the chaos proxy on its own (installed: visdom-chaos proxy)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from pathlib import Path

from visdom_chaos.journal import atomic_write

from . import loop as event_loop
from .apiguard import TOKEN_ENV
from .config import load_proxies
from .schedule import ScheduleRunner, load_schedule
from .server import ChaosServer
from .spec import ChaosError

DEFAULT_API = "127.0.0.1:8474"


def write_ready(path: str, data: dict[str, object]) -> None:
    """Atomic: a parent polling the file never reads half of it."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(target, json.dumps(data))


def cmd_serve(args: argparse.Namespace) -> int:
    # A parent may start us with SIGINT/SIGTERM blocked (a signal mask survives exec):
    # unblock them, or a stop request is ignored until the parent resorts to SIGKILL.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})
    proxies = load_proxies(args.config) if args.config else []
    steps = load_schedule(args.schedule, horizon=args.horizon) if args.schedule else []
    server = ChaosServer(
        args.api,
        journal=args.journal,
        allow_remote=args.allow_remote,
        proxies=proxies,
        api_token=args.api_token,
        api_hosts=tuple(args.api_host or ()),
    )
    runner: ScheduleRunner | None = None

    loop = event_loop.loop_name()

    def ready(srv: ChaosServer) -> None:
        nonlocal runner
        for sig in (signal.SIGTERM, signal.SIGINT):
            asyncio.get_running_loop().add_signal_handler(sig, srv.shutdown)
        listens = {name: p["listen"] for name, p in srv.registry.snapshot().items()}
        if args.ready_file:
            ready = {"api": srv.api, "proxies": listens, "pid": os.getpid(), "loop": loop}
            write_ready(args.ready_file, ready)
        if not args.quiet:
            print(f"chaos: API on http://{srv.api} ({loop} loop)", file=sys.stderr, flush=True)
            for name, listen in listens.items():
                print(
                    f"chaos: proxy {name} {listen} -> {srv.registry.get(name).upstream}",
                    file=sys.stderr,
                    flush=True,
                )
        if steps:
            runner = ScheduleRunner(srv, steps, srv.log).start()

    try:
        event_loop.run(server.serve(ready))
    finally:
        if runner is not None:
            runner.stop()
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    for step in load_schedule(args.schedule, horizon=args.horizon):
        print(step.describe())
    return 0


def main(argv: list[str] | None = None, prog: str = "python -m visdom_chaos.chaos") -> int:
    ap = argparse.ArgumentParser(
        prog=prog,
        description="TCP/HTTP/WebSocket fault-injection proxy with a Toxiproxy-compatible API",
    )
    sub = ap.add_subparsers(dest="cmd", required=True)
    sp = sub.add_parser("serve", help="run the control API (and the proxies of --config)")
    sp.add_argument(
        "--api",
        default=DEFAULT_API,
        help=f"HOST:PORT of the control API (default {DEFAULT_API}; port 0 = any free port)",
    )
    sp.add_argument(
        "--config", help="proxies to create at start: Toxiproxy JSON list, or TOML with [[proxies]]"
    )
    sp.add_argument(
        "--schedule", help="TOML file whose [[faults]] are applied on a timeline from start"
    )
    sp.add_argument(
        "--horizon",
        type=float,
        help="seconds: bounds repeating schedule entries without count/until",
    )
    sp.add_argument("--journal", help="fault journal (JSON Lines) to append to")
    sp.add_argument(
        "--ready-file", help='write {"api": "HOST:PORT", ...} here once listening (atomic)'
    )
    sp.add_argument(
        "--allow-remote",
        action="store_true",
        help="permit non-loopback listen and upstream addresses",
    )
    sp.add_argument(
        "--api-token",
        help=f"require 'Authorization: Bearer TOKEN' on every API request (default "
        f"${TOKEN_ENV}; prefer the variable: arguments show in ps)",
    )
    sp.add_argument(
        "--api-host",
        action="append",
        metavar="NAME",
        help="another Host name the API answers to (repeatable; loopback names always are)",
    )
    sp.add_argument("--quiet", action="store_true")
    sp.set_defaults(fn=cmd_serve)
    cp = sub.add_parser("check", help="validate a schedule file and print its expanded timeline")
    cp.add_argument("schedule")
    cp.add_argument("--horizon", type=float)
    cp.set_defaults(fn=cmd_check)
    args = ap.parse_args(argv)
    try:
        return args.fn(args)
    except ChaosError as e:
        print(f"chaos: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
