"""`visdom-chaos patches list|check|apply|export`: the reference fixes (visdom_chaos.patches) as a command."""

from __future__ import annotations

import argparse
from pathlib import Path

from visdom_chaos.cli import UserError
from visdom_chaos.patches import apply as patch_apply
from visdom_chaos.patches import export as patch_export
from visdom_chaos.targets import load_built


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "patches",
        help="list, check or apply the reference transport fixes",
        description="Reference transport fixes for Visdom (patches/<version>/series).",
    )
    sub = parser.add_subparsers(dest="patches_command", metavar="ACTION")
    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])

    ls = sub.add_parser("list", help="the series of each version, with scenario names")
    ls.add_argument("--version", help="only this Visdom version")
    ls.set_defaults(func=cmd_list)

    check = sub.add_parser(
        "check",
        help="apply the series to a throw-away copy; exit 1 naming the patch that fails",
    )
    check.add_argument("--version", required=True)
    check.add_argument(
        "--into",
        type=Path,
        help="sdist tree or visdom package dir to check against "
        "(default: the stock target's package built by `visdom-chaos target build`)",
    )
    check.set_defaults(func=cmd_check)

    app = sub.add_parser("apply", help="apply the series in place")
    app.add_argument("--version", required=True)
    app.add_argument(
        "--into",
        type=Path,
        required=True,
        help="sdist tree (-p1), site-packages (-p2) or visdom package dir (-p3)",
    )
    app.set_defaults(func=cmd_apply)

    exp = sub.add_parser(
        "export",
        help="the series as `git format-patch` files, for `git am` on Visdom's repository",
    )
    exp.add_argument("--version", required=True)
    exp.add_argument("--into", type=Path, required=True, help="directory for 0001-*.patch ...")
    exp.add_argument(
        "--force", action="store_true", help="write into a non-empty DIR (old exports replaced)"
    )
    exp.add_argument(
        "--author",
        default=patch_export.DEFAULT_AUTHOR,
        help="the commits' author, 'Name <email>' (default: %(default)s)",
    )
    exp.set_defaults(func=cmd_export)


def cmd_list(args: argparse.Namespace) -> int:
    chosen = [args.version] if args.version else patch_apply.versions()
    for version in chosen:
        print(f"Visdom {version}: patches/{version}/series")
        for path in patch_apply.series(version):
            item = patch_apply.info(path)
            print(f"  {item.name}")
            print(f"      scenario: {item.scenario or '-'}; files: {', '.join(item.files)}")
    return 0


def _default_source(version: str) -> Path:
    built = load_built(version, "stock")
    if built is None:
        raise UserError(
            f"no stock {version} target built: run `visdom-chaos target build {version}` "
            "or pass --into DIR (an sdist tree or a visdom package dir)"
        )
    return Path(built.package_dir)


def cmd_check(args: argparse.Namespace) -> int:
    source = args.into or _default_source(args.version)
    try:
        applied = patch_apply.check_series(args.version, source)
    except patch_apply.PatchError as exc:
        print(f"FAIL {args.version}: {exc}")
        return 1
    print(f"ok {args.version}: {len(applied)} patches apply cleanly to {source}")
    for name in applied:
        print(f"  {name}")
    return 0


def cmd_apply(args: argparse.Namespace) -> int:
    try:
        applied = patch_apply.apply_series(args.version, args.into)
    except patch_apply.PatchError as exc:
        print(f"FAIL {args.version}: {exc}")
        return 1
    print(f"applied {len(applied)} patches to {args.into}")
    for name in applied:
        print(f"  {name}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    try:
        written = patch_export.export_series(
            args.version, args.into, force=args.force, author=args.author
        )
    except patch_apply.PatchError as exc:
        raise UserError(str(exc)) from None
    print(f"exported {len(written)} patches of Visdom {args.version} to {args.into}")
    for path in written:
        print(f"  {path.name}")
    print(f"apply on a checkout of the v{args.version} tag: git am {args.into}/*.patch")
    return 0
