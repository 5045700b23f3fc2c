"""Rebuild a release's browser bundle (`static/js/main.js`) from its own source map.

Steps, all under `<cache>/bundle/<version>/<key>/` (never in the checkout):
1. lay out Visdom's `js/` tree from the map's `sourcesContent` (sourcemap_tree.py);
2. `npm install` the exact versions the bundle holds (bundle_pins.py) plus webpack,
   babel and the loaders;
3. verify each node_modules file the map names against the installed file: a
   mismatch means a wrong version and stops the build, naming the package;
4. run webpack with our config, matching the shipped one (production, source map,
   babel preset-env + preset-react + class properties, style/css/less loaders).
`key` digests the map and every input here, so a second build is a cache hit.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from visdom_chaos.targets.bundle_pins import BUNDLE_PINS
from visdom_chaos.targets.locks import folder_lock
from visdom_chaos.targets.sourcemap_tree import (
    SourceMapError,
    compare_maps,
    lay_out_own,
    read_bundle_sources,
    verify_node_modules,
)

NPM_TIMEOUT_S = 900
# Bump when the layout or verification logic changes: part of the cache key.
RECIPE = "1"
WEBPACK_TIMEOUT_S = 900

# Ours, shaped like upstream's webpack.common.js + webpack.prod.js. Rule order matters
# (a loader with options is named by its rule index in module requests and ids): 0.3.0's
# map reads `less-loader/dist/cjs/index.js??ruleSet[1].rules[3].use[2]`, so there the
# less rule is rules[3], after an inline-asset rule, and less-loader has an options
# object; 0.2.4 had only the js and css rules. `fullySpecified: false` lets
# react-grid-layout's .mjs import `react/jsx-runtime` (react 17 has no `exports` map).
# The `fetch` fallback is upstream's: js/ imports 'fetch'.
_CONFIG_HEAD = """\
const path = require('path');
module.exports = {
  mode: 'production',
  devtool: 'source-map',
  context: __dirname,
  entry: ['./js/main.js'],
  output: { path: path.join(__dirname, 'dist'), filename: 'main.js' },
  resolve: { fallback: { net: false, dns: false, fetch: require.resolve('whatwg-fetch') } },
  module: {
    rules: [
      { test: /\\.js$/, exclude: /node_modules/, loader: 'babel-loader',
        options: { babelrc: false, configFile: false, sourceType: 'unambiguous',
          presets: ['@babel/preset-env', '@babel/preset-react'],
          plugins: ['@babel/plugin-proposal-class-properties'] } },
      { test: /\\.css$/, use: ['style-loader', 'css-loader'] },
"""
_LESS_RULES = """\
      { test: /\\.(png|gif|jpe?g|svg)$/, type: 'asset/inline' },
      { test: /\\.less$/, use: ['style-loader', 'css-loader', { loader: 'less-loader', options: {} }] },
"""
_CONFIG_TAIL = """\
      { test: /\\.m?js$/, resolve: { fullySpecified: false } },
    ],
  },
  performance: { hints: false },
};
"""


def webpack_config(pins: dict[str, dict[str, str]]) -> str:
    less = "less-loader" in pins.get("tools", {})
    return _CONFIG_HEAD + (_LESS_RULES if less else "") + _CONFIG_TAIL


# webpack's Node API instead of webpack-cli: one package fewer, and its errors verbatim.
BUILD_JS = """\
const webpack = require('webpack');
webpack(require('./webpack.config.js'), (err, stats) => {
  if (err) { console.error(err.stack || String(err)); process.exit(2); }
  if (stats.hasErrors()) {
    console.error(stats.toString({ all: false, errors: true, moduleTrace: true }));
    process.exit(1);
  }
  process.exit(0);
});
"""


class BundleError(RuntimeError):
    """A bundle that cannot be rebuilt; the message names the package, file or step."""


@dataclass
class BuiltBundle:
    version: str
    key: str
    main_js: str
    main_map: str
    own_files: int
    verified_files: int
    packages: int
    seconds: float
    # the rebuilt map against the shipped one (sourcemap_tree.compare_maps)
    common_sources: int = 0
    differing_sources: list[str] = field(default_factory=list)
    only_shipped: list[str] = field(default_factory=list)
    only_rebuilt: list[str] = field(default_factory=list)
    cached: bool = False
    base_key: str = ""  # a patched build: the key of the stock rebuild it extends


def _manifest(pins: dict[str, dict[str, str]]) -> dict:
    deps: dict[str, str] = {}
    overrides: dict[str, dict[str, str]] = {}
    for folder, version in pins["packages"].items():
        parent, sep, child = folder.partition("/node_modules/")
        if sep:  # one npm nests: pin it under its parent; "." keeps the parent's own pin
            overrides.setdefault(parent, {".": f"${parent}"})[child] = version
        else:
            deps[folder] = version
    deps.update(pins.get("layout", {}))
    deps.update(pins["tools"])
    # The name sets webpack's source-map namespace: webpack://visdom/ as shipped.
    return {"name": "visdom", "private": True, "dependencies": deps, "overrides": overrides}


def bundle_key(version: str, map_path: Path) -> str:
    # every load_built of a rebuilt target asks: read the (6 MB) map once per state of it
    st = Path(map_path).stat()
    pins = json.dumps(BUNDLE_PINS.get(version, {}), sort_keys=True)
    return _bundle_key(str(map_path), st.st_size, st.st_mtime_ns, pins)


@functools.lru_cache(maxsize=8)
def _bundle_key(map_path: str, size: int, mtime_ns: int, pins: str) -> str:
    h = hashlib.sha256()
    h.update(Path(map_path).read_bytes())
    h.update(pins.encode())
    h.update((RECIPE + webpack_config(json.loads(pins)) + BUILD_JS).encode())
    return h.hexdigest()[:16]


_NPM_MISSING = (
    re.compile(r"No matching version found for (\S+?)\.?(?:\s|$)", re.M),
    re.compile(r"notarget.*?\b(\S+@\S+?)\.?$", re.M),
    re.compile(r"404 Not Found - GET \S+/((?:@[^/\s]+/)?[^/\s]+)", re.M),
    re.compile(r"'((?:@[^/\s]+/)?[^@\s']+@[^\s']+)' is not in this registry", re.M),
)


def _npm_failure(stderr: str, log: Path) -> BundleError:
    for pattern in _NPM_MISSING:
        if m := pattern.search(stderr):
            return BundleError(f"npm package version cannot be had: {m.group(1)} (see {log})")
    tail = (stderr.strip().splitlines() or ["?"])[-1]
    return BundleError(f"npm install failed: {tail} (see {log})")


def _npm_install(work: Path, manifest: dict, before: str | None = None) -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise BundleError("npm not found on PATH: it is needed to rebuild the browser bundle")
    (work / "package.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    # --ignore-scripts: nothing needs to run at install; --legacy-peer-deps: react 17
    # under newer rc-* peers must not abort the install (as upstream's yarn allowed).
    cmd = [npm, "install", "--no-audit", "--no-fund", "--ignore-scripts", "--legacy-peer-deps"]
    if before:  # what the pins leave open (babel's helpers…) resolves as on the build day
        cmd.append(f"--before={before}")
    log = work / "npm-install.log"
    try:
        proc = subprocess.run(cmd, cwd=work, capture_output=True, text=True, timeout=NPM_TIMEOUT_S)
    except subprocess.TimeoutExpired as exc:
        raise BundleError(f"npm install timed out after {NPM_TIMEOUT_S} s in {work}") from exc
    log.write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        raise _npm_failure(proc.stderr, log)


def _installed_versions(work: Path, folders: list[str]) -> dict[str, str]:
    out = {}
    for folder in folders:
        try:
            meta = json.loads((work / "node_modules" / folder / "package.json").read_text())
            out[folder] = str(meta.get("version", "?"))
        except (OSError, ValueError):
            out[folder] = "absent"
    return out


def _webpack(work: Path, config: str) -> tuple[Path, Path]:
    """Run webpack in `work`; returns its dist/main.js and dist/main.js.map."""
    node = shutil.which("node")
    if node is None:
        raise BundleError("node not found on PATH: it is needed to run webpack")
    (work / "webpack.config.js").write_text(config)
    (work / "build.js").write_text(BUILD_JS)
    shutil.rmtree(work / "dist", ignore_errors=True)
    try:
        proc = subprocess.run(
            [node, "build.js"],
            cwd=work,
            capture_output=True,
            text=True,
            timeout=WEBPACK_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired as exc:
        raise BundleError(f"webpack timed out after {WEBPACK_TIMEOUT_S} s in {work}") from exc
    (work / "webpack.log").write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        message = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[:40])
        raise BundleError(f"webpack failed in {work}:\n{message}")
    main_js, main_map = work / "dist" / "main.js", work / "dist" / "main.js.map"
    if not (main_js.is_file() and main_map.is_file()):
        raise BundleError(f"webpack reported success but wrote no dist/main.js in {work}")
    return main_js, main_map


def _stamp(work: Path) -> Path:
    return work / "bundle.json"


def _load_cached(work: Path) -> BuiltBundle | None:
    try:
        built = BuiltBundle(**json.loads(_stamp(work).read_text()))
    except (OSError, ValueError, TypeError):
        return None
    if not (Path(built.main_js).is_file() and Path(built.main_map).is_file()):
        return None
    built.cached = True
    return built


def build_bundle(
    version: str,
    map_path: Path,
    cache_dir: Path,
    *,
    progress: Callable[[str], None] | None = None,
) -> BuiltBundle:
    """Rebuild `main.js` + `main.js.map` of Visdom `version` from `map_path` (its shipped
    map); returns where they are. Raises BundleError naming what is wrong."""
    progress = progress or (lambda msg: None)
    pins = BUNDLE_PINS.get(version)
    if pins is None:
        raise BundleError(
            f"no source build for Visdom {version}: its npm versions are not known "
            f"(known: {', '.join(sorted(BUNDLE_PINS))}; see patches/README.md)"
        )
    try:
        sources = read_bundle_sources(Path(map_path))
    except SourceMapError as exc:
        raise BundleError(str(exc)) from exc
    key = bundle_key(version, Path(map_path))
    work = Path(cache_dir) / "bundle" / version / key
    with folder_lock(work):
        if (cached := _load_cached(work)) is not None:
            return cached
        started = time.monotonic()
        manifest = _manifest(pins)
        progress(f"npm install {len(manifest['dependencies'])} packages into {work}")
        _npm_install(work, manifest, pins.get("npm", {}).get("before"))
        packages = sources.packages()
        check = verify_node_modules(sources, work)
        if not check.ok:
            bad = sorted(set(check.mismatched) | set(check.missing))
            raise BundleError(
                "installed npm packages differ from the bundle's sources: "
                + check.summary(_installed_versions(work, bad))
            )
        progress(f"verified {check.matched} node_modules files of {len(packages)} packages")
        shutil.rmtree(work / "js", ignore_errors=True)
        own = lay_out_own(sources, work)
        progress(f"webpack: {own} files of js/ from the map")
        main_js, main_map = _webpack(work, webpack_config(pins))
        same = compare_maps(Path(map_path), main_map)
        built = BuiltBundle(
            version,
            key,
            str(main_js),
            str(main_map),
            own,
            check.matched,
            len(packages),
            round(time.monotonic() - started, 1),
            same.common,
            same.differing,
            same.only_shipped,
            same.only_rebuilt,
        )
        _stamp(work).write_text(json.dumps(asdict(built), indent=2))
        return built


def build_patched_bundle(
    version: str,
    map_path: Path,
    cache_dir: Path,
    patches: list[tuple[str, str]],
    *,
    progress: Callable[[str], None] | None = None,
) -> BuiltBundle:
    """The release's bundle rebuilt with `patches` ((name, js/ diff) pairs, in order)
    applied to its sources: the stock rebuild's node_modules and verification, then
    the patched `js/` tree under `<work>/patched/<key>/`, keyed by the patches too.
    Raises BundleError naming the patch and file that does not apply."""
    from visdom_chaos.patches.apply import PatchError, apply_texts

    progress = progress or (lambda msg: None)
    base = build_bundle(version, map_path, cache_dir, progress=progress)
    work = Path(cache_dir) / "bundle" / version / base.key
    h = hashlib.sha256(base.key.encode())
    for name, text in patches:
        h.update(name.encode() + b"\0" + text.encode())
    key = h.hexdigest()[:16]
    patched = work / "patched" / key
    with folder_lock(patched):
        if (cached := _load_cached(patched)) is not None:
            return cached
        started = time.monotonic()
        shutil.rmtree(patched / "js", ignore_errors=True)
        shutil.copytree(work / "js", patched / "js")
        link = patched / "node_modules"  # the verified install, shared
        if not link.exists():
            link.symlink_to(work / "node_modules", target_is_directory=True)
        try:
            applied = apply_texts(patches, patched)
        except PatchError as exc:
            raise BundleError(f"browser sources of {version}: {exc}") from exc
        progress(f"webpack: the {version} sources with {', '.join(applied)}")
        main_js, main_map = _webpack(patched, webpack_config(BUNDLE_PINS.get(version, {})))
        built = BuiltBundle(
            version,
            key,
            str(main_js),
            str(main_map),
            base.own_files,
            base.verified_files,
            base.packages,
            round(time.monotonic() - started, 1),
            base_key=base.key,
        )
        _stamp(patched).write_text(json.dumps(asdict(built), indent=2))
        return built
