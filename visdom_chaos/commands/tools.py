"""`visdom-chaos locustfile | locust | proxy`: Locust and the chaos proxy from an installed copy.

The Locust files ship as the package visdom_chaos.loadtests (loadtests/ in a checkout), so
an installed tool runs Locust as `locust -f $(visdom-chaos locustfile) ...` or simply
`visdom-chaos locust ...`. `visdom-chaos proxy serve|check ...` is
`python -m visdom_chaos.chaos serve|check ...`: the same options, API and exit codes.

`locust` and `proxy` take the wrapped tool's own argv (`--help` included; `locust` gains
`--web-host 127.0.0.1` unless one is given), so
cli.main hands it to them before argparse sees it (PASSTHROUGH); the parsers registered
here only list them in `visdom-chaos --help`.
"""

from __future__ import annotations

import argparse
import os
import sys
from importlib import resources
from pathlib import Path

from visdom_chaos.chaos.__main__ import main as chaos_main


def locustfile() -> Path:
    """The folder of the installed Locust files (Locust imports every .py in it not starting with _)."""
    return Path(str(resources.files("visdom_chaos.loadtests")))


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("locustfile", help="print the path of the Locust files, for `locust -f`")
    p.set_defaults(func=cmd_locustfile)
    for name, text in (
        ("locust", "run Locust with the Locust files: visdom-chaos locust [locust arguments]"),
        (
            "proxy",
            "the chaos proxy: visdom-chaos proxy serve|check [arguments] (--help: its options)",
        ),
    ):
        q = sub.add_parser(name, help=text, add_help=False)
        q.add_argument("args", nargs=argparse.REMAINDER)


def cmd_locustfile(args: argparse.Namespace) -> int:
    print(locustfile())
    return 0


def run_locust(argv: list[str]) -> int:
    """Become `python -m locust -f <locustfile> ARGV`: Locust's own exit code, signals and terminal."""
    cmd = [sys.executable, "-m", "locust", "-f", str(locustfile()), *web_host_default(argv)]
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, cmd)
    return 127  # not reached


def web_host_default(argv: list[str]) -> list[str]:
    """Bind Locust's web UI to loopback unless the user chose (Locust's default is every interface)."""
    if any(a == "--web-host" or a.startswith("--web-host=") for a in argv):
        return argv
    return ["--web-host", "127.0.0.1", *argv]


def run_proxy(argv: list[str]) -> int:
    return chaos_main(argv, prog="visdom-chaos proxy")
