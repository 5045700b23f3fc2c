"""Offline Visdom UI assets: the files a version's `server/build.py` downloads, from npm.

Visdom fetches its browser dependencies (jquery, bootstrap, react, plotly, d3,
MathJax…) from CDNs on first start, which fails offline. Here we read the list of
URLs out of the installed release's own build.py (so each version gets exactly the
files and versions it names), map every URL to a file of an npm package of that
exact version (asset_manifest.py), `npm install` those packages once into
`<cache>/npm/<version>/`, and copy each file to the path build.py would have
written it to under `<visdom package>/static/`.
"""

from __future__ import annotations

import ast
import contextlib
import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from visdom_chaos.targets.asset_manifest import NpmFile, npm_file_for
from visdom_chaos.targets.locks import folder_lock

NPM_TIMEOUT_S = 900


class AssetError(RuntimeError):
    """An asset that cannot be had; the message names it: `missing asset: <name> (<url>)`."""


@dataclass(frozen=True)
class Asset:
    name: str  # the file name build.py gives it
    url: str  # where build.py downloads it from
    dest: str  # path relative to the package's static/ folder
    npm: NpmFile | None  # the npm file standing in for the URL


# --- reading build.py -------------------------------------------------------------


def _eval(node: ast.AST, names: dict[str, object]) -> object:
    """Evaluate the few literal forms build.py uses: strings, `"%s..." % x`, dicts, lists."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        if node.id not in names:
            raise ValueError(node.id)
        return names[node.id]
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):
        left = _eval(node.left, names)
        right = node.right
        args = (
            tuple(_eval(e, names) for e in right.elts)
            if isinstance(right, ast.Tuple)
            else _eval(right, names)
        )
        if not isinstance(left, str):
            raise ValueError("format of a non-string")
        return left % args
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _eval(node.left, names) + _eval(node.right, names)  # type: ignore[operator]
    if isinstance(node, ast.List | ast.Tuple):
        return [_eval(e, names) for e in node.elts]
    if isinstance(node, ast.Dict):
        return {
            _eval(k, names): _eval(v, names)
            for k, v in zip(node.keys, node.values, strict=True)
            if k
        }
    raise ValueError(ast.dump(node)[:60])


def _sub_dir(name: str) -> str:
    # build.py's own rule for where a downloaded file goes.
    if name.endswith(".js") or name.endswith(".js.map"):
        return "js"
    if name.endswith(".css"):
        return "css"
    return "fonts"


def read_build_py(build_py: Path) -> list[Asset]:
    """Every file build.py's `download_scripts` fetches, with where it writes it."""
    try:
        tree = ast.parse(build_py.read_text(encoding="utf-8"), filename=str(build_py))
    except (OSError, SyntaxError) as exc:
        raise AssetError(f"cannot read {build_py}: {exc}") from exc
    func = next(
        (
            n
            for n in ast.walk(tree)
            if isinstance(n, ast.FunctionDef) and n.name == "download_scripts"
        ),
        None,
    )
    if func is None:
        raise AssetError(f"{build_py}: no download_scripts() to read the asset list from")
    names: dict[str, object] = {}
    for stmt in func.body:  # straight-line assignments only; loops and ifs do the downloading
        if (
            isinstance(stmt, ast.Assign)
            and len(stmt.targets) == 1
            and isinstance(stmt.targets[0], ast.Name)
        ):
            with contextlib.suppress(ValueError, TypeError):
                names[stmt.targets[0].id] = _eval(stmt.value, names)
    ext_files = names.get("ext_files")
    if not isinstance(ext_files, dict) or not ext_files:
        raise AssetError(f"{build_py}: no ext_files asset list found")
    assets = [
        Asset(str(name), str(url), f"{_sub_dir(str(name))}/{name}", npm_file_for(str(url)))
        for url, name in ext_files.items()
    ]
    cdnjs_url, mathjax_path = names.get("cdnjs_url"), names.get("mathjax_path")
    if isinstance(cdnjs_url, str) and isinstance(mathjax_path, list):
        # build.py: static/js/<last 3 URL parts, i.e. mathjax/<ver>/>/<path without query>
        mathjax_dir = "/".join(p for p in cdnjs_url.split("/")[-3:] if p)
        for path in mathjax_path:
            parts = str(path).split("/")
            filename = parts[-1].split("?")[0]
            dest = "/".join(["js", mathjax_dir, *parts[:-1], filename])
            url = cdnjs_url + str(path)
            assets.append(Asset(filename, url, dest, npm_file_for(url)))
    return assets


# --- npm ------------------------------------------------------------------------


def _package_specs(assets: list[Asset]) -> dict[str, str]:
    specs: dict[str, str] = {}
    for a in assets:
        if a.npm is None:
            raise AssetError(f"missing asset: {a.name} ({a.url}): no npm package is known for it")
        have = specs.setdefault(a.npm.package, a.npm.version)
        if have != a.npm.version:
            raise AssetError(
                f"missing asset: {a.name} ({a.url}): needs {a.npm.package}@{a.npm.version} "
                f"but {a.npm.package}@{have} is also needed"
            )
    return specs


def _installed_version(prefix: Path, package: str) -> str | None:
    try:
        meta = json.loads((prefix / "node_modules" / package / "package.json").read_text())
    except (OSError, ValueError):
        return None
    return meta.get("version") if isinstance(meta, dict) else None


def _source(prefix: Path, npm: NpmFile) -> Path:
    root = prefix / "node_modules" / npm.package
    if npm.path:
        p = root / npm.path
        return p if p.exists() or p.suffix else p.with_name(p.name + ".js")
    # A bare `<pkg>@<ver>` URL: unpkg serves the `unpkg` field, else `main`, else index.js.
    try:
        meta = json.loads((root / "package.json").read_text())
    except (OSError, ValueError):
        meta = {}
    main = meta.get("unpkg") or meta.get("main") or "index.js"
    p = root / str(main).lstrip("./")
    return p if p.exists() or p.suffix else p.with_name(p.name + ".js")


def _complete(prefix: Path, assets: list[Asset], specs: dict[str, str]) -> bool:
    return all(_installed_version(prefix, p) == v for p, v in specs.items()) and all(
        a.npm is not None and _source(prefix, a.npm).is_file() for a in assets
    )


def _npm_install(prefix: Path, specs: dict[str, str], assets: list[Asset]) -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise AssetError("npm not found on PATH: it is needed once to fetch the Visdom UI assets")
    manifest = {"name": "visdom-chaos-ui-assets", "private": True, "dependencies": specs}
    (prefix / "package.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    # --ignore-scripts: only files are needed, nothing runs; --legacy-peer-deps: the old
    # react@16.2 next to newer react-grid-layout peers must not abort the install.
    cmd = [
        npm,
        "install",
        "--no-audit",
        "--no-fund",
        "--ignore-scripts",
        "--legacy-peer-deps",
        "--prefix",
        str(prefix),
    ]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=NPM_TIMEOUT_S)
    except subprocess.TimeoutExpired as exc:
        raise AssetError(f"npm install timed out after {NPM_TIMEOUT_S} s in {prefix}") from exc
    (prefix / "npm-install.log").write_text(proc.stdout + proc.stderr)
    if proc.returncode == 0:
        return
    # Name the asset whose package could not be had, not just npm's error.
    for a in assets:
        if a.npm is not None and (
            a.npm.package + "@" in proc.stderr or f"/{a.npm.package}" in proc.stderr
        ):
            raise AssetError(
                f"missing asset: {a.name} ({a.url}): npm install {a.npm.package}@{a.npm.version} "
                f"failed (see {prefix / 'npm-install.log'})"
            )
    tail = (proc.stderr.strip().splitlines() or ["?"])[-1]
    raise AssetError(f"npm install failed in {prefix}: {tail}")


# --- entry point --------------------------------------------------------------------


def install_assets(version: str, visdom_pkg_dir: Path, cache_dir: Path) -> list[str]:
    """Install the UI assets of Visdom `version` into `visdom_pkg_dir/static/`.

    Returns the copied paths relative to `visdom_pkg_dir` (e.g. `static/js/jquery.min.js`).
    Idempotent: npm runs only when `<cache_dir>/npm/<version>/` lacks a needed file.
    Raises AssetError("missing asset: <name> (<url>)…") when one cannot be had.
    """
    visdom_pkg_dir, cache_dir = Path(visdom_pkg_dir), Path(cache_dir)
    if not version or "/" in version or version.startswith("."):
        raise AssetError(f"bad version {version!r}: expected something like 0.2.4")
    assets = read_build_py(visdom_pkg_dir / "server" / "build.py")
    specs = _package_specs(assets)
    prefix = cache_dir / "npm" / version
    with folder_lock(prefix):
        if not _complete(prefix, assets, specs):
            _npm_install(prefix, specs, assets)
        copied: list[str] = []
        static = visdom_pkg_dir / "static"
        for a in assets:
            assert a.npm is not None  # checked by _package_specs
            got = _installed_version(prefix, a.npm.package)
            src = _source(prefix, a.npm)
            if got != a.npm.version or not src.is_file():
                raise AssetError(
                    f"missing asset: {a.name} ({a.url}): not in {a.npm.package}@{got or 'absent'} "
                    f"at {a.npm.path or '<main>'}"
                )
            dst = static / a.dest
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)
            copied.append(f"static/{a.dest}")
    # build.py's stamp: a later download_scripts() sees a built install and keeps our files.
    version_file = visdom_pkg_dir / "VERSION"
    if version_file.is_file():
        (static / "version.built").write_text(version_file.read_text().strip())
    return copied


def main(argv: list[str] | None = None) -> int:
    """`python -m visdom_chaos.targets.assets VERSION VISDOM_PKG_DIR CACHE_DIR` (by hand)."""
    import sys

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 3:
        print(
            "usage: python -m visdom_chaos.targets.assets VERSION VISDOM_PKG_DIR CACHE_DIR",
            file=sys.stderr,
        )
        return 2
    try:
        paths = install_assets(args[0], Path(args[1]), Path(args[2]))
    except AssetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{len(paths)} assets installed under {args[1]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
