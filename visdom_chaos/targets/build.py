"""Build Visdom targets offline, each in its own virtual environment under the cache.

Layout under $VISDOM_CHAOS_CACHE/targets/:
  <version>-stock/venv/          the release installed from PyPI, with browser assets
  <version>-patched/overlay/     a copy of the stock `visdom` package with patches/ applied,
                                 put first on PYTHONPATH of the stock venv's interpreter
  <version>-<variant>-srcbundle/overlay/
                                 that target's package with static/js/main.js(.map) rebuilt
                                 from the release's own source map (bundle_build.py)
  <name>/built.json              stamp: what was built, so `build` is idempotent
"""

from __future__ import annotations

import glob
import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

import visdom_chaos
from visdom_chaos.patches.apply import PATCHES_DIR, PatchError, apply_series, js_patches
from visdom_chaos.targets.locks import folder_lock

VERSIONS = ("0.2.4", "0.3.0")
VARIANTS = ("stock", "patched")
# Which browser bundle a target serves: the release's shipped main.js, or one rebuilt
# from the sources in its main.js.map.
BUNDLES = ("shipped", "source")

# Per version: the interpreter it needs and the pip steps that work offline.
# 0.2.4's sdist imports pkg_resources in setup.py: setuptools<70 + wheel, no isolation.
# Both pin tornado<6.6: under 6.6 the index page answers 403 (static_url("../user/style.css")).
_RECIPES: dict[str, dict] = {
    "0.2.4": {
        "python": "3.11",
        "steps": [
            ["setuptools<70", "wheel"],
            ["--no-build-isolation", "visdom==0.2.4", "tornado<6.6"],
        ],
    },
    "0.3.0": {
        "python": "3.12",
        "steps": [["visdom==0.3.0", "tornado<6.6"]],
    },
}


class TargetError(RuntimeError):
    """A target that cannot be built or started; the message says why in one line."""


@dataclass
class BuiltTarget:
    version: str
    variant: str
    root: str
    python: str
    package_dir: str
    overlay: str | None = None
    patches: list[str] = field(default_factory=list)
    assets: list[str] = field(default_factory=list)
    digest: str = ""
    bundle: str = "shipped"
    bundle_key: str = ""  # bundle_build.bundle_key of the rebuilt main.js

    @property
    def name(self) -> str:
        return Path(self.root).name  # a patched series with js/ serves "source" in <v>-patched

    def env(self) -> dict[str, str]:
        """Environment for the server process (the overlay shadows the stock package)."""
        env = dict(os.environ)
        env.pop("PYTHONPATH", None)
        if self.overlay:
            env["PYTHONPATH"] = self.overlay
        env["PYTHONUNBUFFERED"] = "1"
        return env


def checkout_root() -> Path | None:
    """The source checkout this package runs from (an editable install, or the checkout's
    root on sys.path), or None for an installed copy."""
    root = Path(visdom_chaos.__file__).resolve().parent.parent
    if (root / "pyproject.toml").is_file() and (root / "Makefile").is_file():
        return root
    return None


def cache_dir() -> Path:
    """$VISDOM_CHAOS_CACHE; else the checkout's .cache/ (where `make setup` builds); else,
    for an installed copy, the user's cache folder: $XDG_CACHE_HOME/visdom-chaos or
    ~/.cache/visdom-chaos."""
    if root := os.environ.get("VISDOM_CHAOS_CACHE"):
        return Path(root)
    if (checkout := checkout_root()) is not None:
        return checkout / ".cache"
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(xdg) if os.path.isabs(xdg) else Path(os.path.expanduser("~")) / ".cache"
    return base / "visdom-chaos"


def targets_dir() -> Path:
    return cache_dir() / "targets"


def _runs(python: str) -> bool:
    try:
        subprocess.run([python, "-c", "import venv"], capture_output=True, timeout=30, check=True)
        return True
    except (OSError, subprocess.SubprocessError):
        return False


def find_python(minor: str) -> str | None:
    """An interpreter for Python `minor` (e.g. "3.12"): env override, PATH, then pyenv."""
    override = os.environ.get(f"VISDOM_CHAOS_PYTHON{minor.replace('.', '')}")
    candidates = [override] if override else []
    if sys.version_info[:2] == tuple(int(p) for p in minor.split(".")):
        candidates.append(sys.executable)
    if path := shutil.which(f"python{minor}"):
        candidates.append(path)
    pyenv_root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    if shutil.which("pyenv"):
        try:
            pyenv_root = (
                subprocess.run(
                    ["pyenv", "root"], capture_output=True, text=True, timeout=10
                ).stdout.strip()
                or pyenv_root
            )
        except (OSError, subprocess.SubprocessError):
            pass
    candidates += sorted(glob.glob(f"{pyenv_root}/versions/{minor}*/bin/python3"), reverse=True)
    for c in candidates:
        if c and _runs(c):
            return c
    return None


def _target_name(version: str, variant: str, bundle: str = "shipped") -> str:
    return f"{version}-{variant}" + ("-srcbundle" if bundle == "source" else "")


def _stamp_path(version: str, variant: str, bundle: str = "shipped") -> Path:
    return targets_dir() / _target_name(version, variant, bundle) / "built.json"


def shipped_map(version: str) -> Path | None:
    """The release's own static/js/main.js.map (in its stock target), if built."""
    stock = load_built(version, "stock")
    return Path(stock.package_dir) / "static" / "js" / "main.js.map" if stock else None


def series_digest(version: str) -> str:
    """Digest of patches/<version>/ so a changed series rebuilds the patched target."""
    folder = PATCHES_DIR / version
    h = hashlib.sha256()
    for f in sorted(folder.glob("*")) if folder.is_dir() else []:
        h.update(f.name.encode() + b"\0" + f.read_bytes())
    return h.hexdigest()[:16]


def load_built(version: str, variant: str = "stock", bundle: str = "shipped") -> BuiltTarget | None:
    stamp = _stamp_path(version, variant, bundle)
    if not stamp.exists():
        return None
    try:
        built = BuiltTarget(**json.loads(stamp.read_text()))
    except (ValueError, TypeError):
        return None
    if variant == "patched" and built.digest != series_digest(version):
        return None
    if not built.assets and importlib.util.find_spec("visdom_chaos.targets.assets") is not None:
        return None  # built before the offline UI assets existed: build again
    if bundle == "source" and load_built(version, variant) is None:
        return None  # the target it copies is gone or stale
    if variant == "patched" and (built.bundle == "source") != bool(js_patches(version)):
        return None  # the series now changes the browser sources, or no longer does
    if built.bundle == "source" and not _rebuild_current(built):
        return None
    return built if Path(built.python).exists() else None


def _rebuild_current(built: BuiltTarget) -> bool:
    """A target serving a rebuilt main.js is stale when the stock rebuild's inputs changed
    (pins, config, map); a patched series' own js/ part is in `digest`."""
    from visdom_chaos.targets.bundle_build import bundle_key

    map_path = shipped_map(built.version)
    if map_path is None or not map_path.is_file():
        return False
    return built.bundle_key == bundle_key(built.version, map_path)


def _serve_bundle(main_js: str, main_map: str, package_dir: Path) -> None:
    """Put a rebuilt main.js and its map in place of the package's own."""
    static_js = Path(package_dir) / "static" / "js"
    shutil.copyfile(main_js, static_js / "main.js")
    shutil.copyfile(main_map, static_js / "main.js.map")


def _pip(python: str, args: list[str], log: Path) -> None:
    cmd = [python, "-m", "pip", "install", "--disable-pip-version-check", "-q", *args]
    with open(log, "a") as out:
        out.write(f"$ {' '.join(cmd)}\n")
        out.flush()
        proc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, timeout=1800)
    if proc.returncode != 0:
        raise TargetError(f"pip install {' '.join(args)} failed (see {log})")


def _site_package_dir(python: str) -> Path:
    out = subprocess.run(
        [python, "-c", "import visdom, os; print(os.path.dirname(visdom.__file__))"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": ""},
    )
    if out.returncode != 0:
        raise TargetError(f"visdom is not importable with {python}: {out.stderr.strip()[-200:]}")
    return Path(out.stdout.strip())


def _install_assets(version: str, package_dir: Path) -> list[str]:
    # Offline UI assets come from npm (issue 8); the sockets work without them.
    if importlib.util.find_spec("visdom_chaos.targets.assets") is None:
        return []
    from visdom_chaos.targets import assets

    return list(assets.install_assets(version, package_dir, cache_dir()))


def _build_stock(version: str, progress) -> BuiltTarget:
    recipe = _RECIPES[version]
    python = find_python(recipe["python"])
    if python is None:
        raise TargetError(
            f"target {version} unavailable: it needs Python {recipe['python']} and none was found "
            f"(tried python{recipe['python']} on PATH and pyenv; set "
            f"VISDOM_CHAOS_PYTHON{recipe['python'].replace('.', '')} to one)"
        )
    root = targets_dir() / f"{version}-stock"
    venv = root / "venv"
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    log = root / "build.log"
    progress(f"creating venv for visdom {version} with {python}")
    proc = subprocess.run(
        [python, "-m", "venv", str(venv)], capture_output=True, text=True, timeout=300
    )
    if proc.returncode != 0:
        raise TargetError(f"cannot create a venv with {python}: {proc.stderr.strip()[-200:]}")
    vpy = str(venv / "bin" / "python")
    for step in recipe["steps"]:
        progress(f"pip install {' '.join(step)}")
        _pip(vpy, step, log)
    package_dir = _site_package_dir(vpy)
    progress("installing browser assets")
    assets = _install_assets(version, package_dir)
    return BuiltTarget(version, "stock", str(root), vpy, str(package_dir), assets=assets)


def _build_patched(version: str, stock: BuiltTarget, progress) -> BuiltTarget:
    root = targets_dir() / f"{version}-patched"
    if root.exists():
        shutil.rmtree(root)
    overlay = root / "overlay"
    package_dir = overlay / "visdom"
    progress(f"copying visdom {version} and applying patches/{version}/series")
    shutil.copytree(stock.package_dir, package_dir, ignore=shutil.ignore_patterns("__pycache__"))
    try:
        applied = apply_series(version, package_dir)
    except PatchError as exc:
        shutil.rmtree(root, ignore_errors=True)
        raise TargetError(f"patched target {version}: {exc}") from exc
    bundle, key = "shipped", ""
    if js := js_patches(version):
        # the series changes the browser sources: serve the bundle rebuilt with them
        key = _install_patched_bundle(version, js, package_dir, root, progress)
        bundle = "source"
    return BuiltTarget(
        version,
        "patched",
        str(root),
        stock.python,
        str(package_dir),
        overlay=str(overlay),
        patches=list(applied),
        assets=stock.assets,
        digest=series_digest(version),
        bundle=bundle,
        bundle_key=key,
    )


def _install_patched_bundle(
    version: str, js: list[tuple[str, str]], package_dir: Path, root: Path, progress
) -> str:
    """Rebuild main.js with the series' js/ part and put it in the patched package;
    returns the key of the stock rebuild it extends."""
    from visdom_chaos.targets.bundle_build import BundleError, build_patched_bundle

    map_path = shipped_map(version)
    if map_path is None or not map_path.is_file():
        shutil.rmtree(root, ignore_errors=True)
        raise TargetError(f"patched target {version}: the stock target has no main.js.map")
    try:
        bundle = build_patched_bundle(version, map_path, cache_dir(), js, progress=progress)
    except BundleError as exc:
        shutil.rmtree(root, ignore_errors=True)
        raise TargetError(f"patched target {version}: {exc}") from exc
    _serve_bundle(bundle.main_js, bundle.main_map, package_dir)
    return bundle.base_key


def _build_source_bundle(base: BuiltTarget, progress) -> BuiltTarget:
    from visdom_chaos.targets.bundle_build import BundleError, build_bundle

    map_path = shipped_map(base.version)
    if map_path is None:
        raise TargetError(f"target {base.version}-stock is not built: no main.js.map to read")
    try:
        bundle = build_bundle(base.version, map_path, cache_dir(), progress=progress)
    except BundleError as exc:
        raise TargetError(f"source bundle for {base.version}: {exc}") from exc
    root = targets_dir() / _target_name(base.version, base.variant, "source")
    if root.exists():
        shutil.rmtree(root)
    package_dir = root / "overlay" / "visdom"
    progress(f"copying {base.name} and serving the rebuilt main.js (bundle {bundle.key})")
    shutil.copytree(base.package_dir, package_dir, ignore=shutil.ignore_patterns("__pycache__"))
    _serve_bundle(bundle.main_js, bundle.main_map, package_dir)
    return BuiltTarget(
        base.version,
        base.variant,
        str(root),
        base.python,
        str(package_dir),
        overlay=str(root / "overlay"),
        patches=base.patches,
        assets=base.assets,
        digest=base.digest,
        bundle="source",
        bundle_key=bundle.key,
    )


def build_target(
    version: str,
    variant: str = "stock",
    *,
    bundle: str = "shipped",
    force: bool = False,
    progress=None,
) -> BuiltTarget:
    """Build (or reuse) a target; idempotent unless `force`. `bundle="source"`: the same
    target serving a main.js rebuilt from the release's source map."""
    progress = progress or (lambda msg: None)
    if version not in VERSIONS:
        raise TargetError(f"unknown Visdom version {version!r}; supported: {', '.join(VERSIONS)}")
    if variant not in VARIANTS:
        raise TargetError(f"unknown variant {variant!r}; supported: {', '.join(VARIANTS)}")
    if bundle not in BUNDLES:
        raise TargetError(f"unknown bundle {bundle!r}; supported: {', '.join(BUNDLES)}")
    if not force and (built := load_built(version, variant, bundle)) is not None:
        return built
    # one build at a time across processes (parallel tests, a run beside a build)
    with folder_lock(targets_dir()):
        return _build_locked(version, variant, force, progress, bundle)


def _build_locked(
    version: str, variant: str, force: bool, progress, bundle: str = "shipped"
) -> BuiltTarget:
    if not force and (built := load_built(version, variant, bundle)) is not None:
        return built  # another process built it while we waited
    if bundle == "source":
        base = load_built(version, variant) or _build_locked(version, variant, False, progress)
        if base.bundle == "source":
            return base  # a patched series that changes js/: its bundle is rebuilt already
        built = _build_source_bundle(base, progress)
        _stamp_path(version, variant, bundle).write_text(json.dumps(asdict(built), indent=2))
        return built
    if variant == "stock":
        built = _build_stock(version, progress)
    else:
        stock = load_built(version, "stock") or _build_locked(version, "stock", False, progress)
        built = _build_patched(version, stock, progress)
    _stamp_path(version, variant).write_text(json.dumps(asdict(built), indent=2))
    return built


def list_built() -> list[BuiltTarget]:
    return [
        b
        for v in VERSIONS
        for var in VARIANTS
        for bundle in BUNDLES
        if (b := load_built(v, var, bundle)) is not None
    ]
