"""`visdom-chaos target build|start|stop|list`."""

from __future__ import annotations

import json
import time
from pathlib import Path

from visdom_chaos.cli import UserError
from visdom_chaos.netguard import RemoteTargetError
from visdom_chaos.targets import (
    BUNDLES,
    VARIANTS,
    VERSIONS,
    TargetError,
    build_target,
    cache_dir,
    detach,
    external_target,
    list_built,
    start_target,
    stop_pid,
)


def register(sub) -> None:
    p = sub.add_parser("target", help="build, start, stop and list Visdom targets")
    tsub = p.add_subparsers(dest="target_command", metavar="ACTION", required=True)

    b = tsub.add_parser("build", help="build a Visdom version in its own venv (idempotent)")
    b.add_argument("version", choices=VERSIONS)
    b.add_argument("--variant", choices=VARIANTS, default="stock")
    b.add_argument(
        "--bundle",
        choices=BUNDLES,
        default="shipped",
        help="shipped: the release's main.js; source: rebuilt from its main.js.map (docs/bundle.md)",
    )
    b.add_argument("--force", action="store_true", help="rebuild even if built")
    b.set_defaults(func=_build)

    s = tsub.add_parser("start", help="start a target on a free loopback port, in the background")
    s.add_argument("version", nargs="?", default="0.2.4", help=f"{'|'.join(VERSIONS)}")
    s.add_argument("--variant", choices=VARIANTS, default="stock")
    s.add_argument(
        "--bundle",
        choices=BUNDLES,
        default="shipped",
        help="shipped: the release's main.js; source: rebuilt from its main.js.map (docs/bundle.md)",
    )
    s.add_argument("--run-dir", type=Path, help="folder for env data, log and pid (default: cache)")
    s.add_argument("--port", type=int, help="fixed port instead of a free one")
    s.add_argument("--polling", action="store_true", help="-use_frontend_client_polling")
    s.add_argument("--external", metavar="URL", help="check a Visdom you run yourself instead")
    s.add_argument("--allow-remote", action="store_true", help="allow a non-loopback --external")
    s.set_defaults(func=_start)

    t = tsub.add_parser("stop", help="stop a target started with `target start`")
    t.add_argument("run_dir", nargs="?", type=Path, help="its run folder (default: all running)")
    t.set_defaults(func=_stop)

    ls = tsub.add_parser("list", help="list built and running targets")
    ls.set_defaults(func=_list)


def _running_dir() -> Path:
    return cache_dir() / "running"


def _build(args) -> int:
    try:
        built = build_target(
            args.version,
            args.variant,
            bundle=args.bundle,
            force=args.force,
            progress=lambda m: print(f"  {m}"),
        )
    except TargetError as exc:
        raise UserError(str(exc)) from exc
    print(f"built {built.name}: {built.python}")
    return 0


def _start(args) -> int:
    if args.external:
        try:
            target = external_target(args.external, allow_remote=args.allow_remote)
        except (TargetError, RemoteTargetError) as exc:
            raise UserError(str(exc)) from exc
        print(f"external Visdom answers at {target.url}")
        return 0
    if args.version not in VERSIONS:
        raise UserError(
            f"unknown Visdom version {args.version!r}; supported: {', '.join(VERSIONS)}"
        )
    run_dir = (
        args.run_dir
        or _running_dir() / f"{args.version}-{args.variant}-{time.strftime('%Y%m%d-%H%M%S')}"
    )
    try:
        target = start_target(
            args.version,
            args.variant,
            run_dir,
            bundle=args.bundle,
            port=args.port,
            polling=args.polling,
        )
    except TargetError as exc:
        raise UserError(str(exc)) from exc
    # Detach: the server keeps running after this command; `target stop` ends it.
    assert target.pid is not None  # start_target starts a process (only external ones have none)
    detach(target.pid)
    target.proc = None
    print(json.dumps(target.describe()))
    print(f"stop it with: visdom-chaos target stop {run_dir}")
    return 0


def _running() -> list[Path]:
    root = _running_dir()
    return sorted(p.parent for p in root.glob("*/target.json")) if root.exists() else []


def _stop(args) -> int:
    dirs = [args.run_dir] if args.run_dir else _running()
    if args.run_dir and not (args.run_dir / "target.json").exists():
        raise UserError(f"no running target recorded in {args.run_dir}")
    for d in dirs:
        info = json.loads((d / "target.json").read_text())
        stop_pid(info["pid"])
        (d / "target.json").unlink(missing_ok=True)
        print(f"stopped {info['version']}-{info['variant']} (pid {info['pid']}, {info['url']})")
    if not dirs:
        print("no running targets")
    return 0


def _list(args) -> int:
    for b in list_built():
        print(
            f"built    {b.name:26} {b.python}"
            + (f"  patches: {len(b.patches)}" if b.patches else "")
        )
    for d in _running():
        info = json.loads((d / "target.json").read_text())
        print(
            f"running  {info['version']}-{info['variant']:9} {info['url']}  pid {info['pid']}  {d}"
        )
    return 0
