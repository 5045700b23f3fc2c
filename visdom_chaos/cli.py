"""`visdom-chaos` command line: one subcommand per module, each registering itself.

A command module exposes `register(subparsers)`; the parser it adds carries its
handler as `func(args) -> int` (the exit code).
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
import threading

COMMAND_MODULES = [
    "visdom_chaos.commands.run",
    "visdom_chaos.commands.target",
    "visdom_chaos.commands.compare",
    "visdom_chaos.security.command",
    "visdom_chaos.commands.patches",
    "visdom_chaos.commands.report",
    "visdom_chaos.commands.tools",
]
# Commands that wrap another tool: the rest of argv is that tool's own, handed over before
# argparse sees it (it would take `--help` and options for itself). name -> module, function.
PASSTHROUGH = {
    "locust": ("visdom_chaos.commands.tools", "run_locust"),
    "proxy": ("visdom_chaos.commands.tools", "run_proxy"),
}


class UserError(Exception):
    """Bad input from the user: printed as one line, exit code 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="visdom-chaos",
        description="Load testing and chaos diagnosis for Visdom's realtime transport.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def restore_interrupt() -> None:
    """Ctrl-C / SIGINT always means "stop and keep what ran", even when a parent started us
    with SIGINT ignored (a background job of a non-interactive shell inherits SIG_IGN)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.default_int_handler)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    restore_interrupt()
    args: list[str] | argparse.Namespace  # a passthrough command parses its own arguments
    if argv and argv[0] in PASSTHROUGH:
        module, name = PASSTHROUGH[argv[0]]
        func, args = getattr(importlib.import_module(module), name), argv[1:]
    else:
        parser = build_parser()
        args = parser.parse_args(argv or ["run"])
        func = getattr(args, "func", None)
        if not func:
            parser.print_help()
            return 2
    try:
        return int(func(args) or 0)
    except UserError as exc:
        print(f"visdom-chaos: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("visdom-chaos: interrupted", file=sys.stderr)
        return 130
    finally:
        from visdom_chaos.targets import stop_all_children

        stop_all_children()  # nothing this command started outlives it
