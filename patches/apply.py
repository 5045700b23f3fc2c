"""Apply or check the patch series of a Visdom version.

A series is `patches/<version>/series`: patch file names in order. Patches are
unified diffs against the release sdist tree (`a/py/visdom/...`), so the strip
level depends on where they are applied:

- an sdist tree (has `py/visdom/`): `patch -p1` in that tree;
- a site-packages dir (has `visdom/server/`): `patch -p2` there;
- a `visdom` package dir itself (has `server/app.py`): `patch -p3` in it.

Changes to the browser sources (`a/js/...`, upstream's `js/` folder) need a tree
that has them: an upstream checkout (`py/visdom/` beside `js/`) gets whole patches;
elsewhere only the `py/visdom/` part is applied here and the `js/` part is applied
where the bundle is rebuilt (`js_root`: a folder holding `js/`, laid out from the
release's source map; see visdom_chaos/targets/bundle_build.py).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

PATCHES_DIR = Path(__file__).resolve().parent
TIMEOUT_S = 60


class PatchError(RuntimeError):
    """A patch of the series does not apply; the message names the patch and file."""


@dataclass(frozen=True)
class PatchInfo:
    name: str
    path: Path
    subject: str
    scenario: str
    files: tuple[str, ...]


def versions() -> list[str]:
    return sorted(p.parent.name for p in PATCHES_DIR.glob("*/series"))


def series(version: str) -> list[Path]:
    listing = PATCHES_DIR / version / "series"
    if not listing.is_file():
        known = ", ".join(versions()) or "none"
        raise PatchError(f"no patch series for Visdom {version!r} (known: {known})")
    names = [ln.strip() for ln in listing.read_text().splitlines()]
    paths = [PATCHES_DIR / version / n for n in names if n and not n.startswith("#")]
    for path in paths:
        if not path.is_file():
            raise PatchError(f"patches/{version}/series names {path.name}, which does not exist")
    return paths


def info(path: Path) -> PatchInfo:
    text = path.read_text()
    header = text.split("\ndiff --git ", 1)[0]
    subject = re.search(r"^Subject: (.*)$", header, re.M)
    scenario = re.search(r"^Scenario: (.*)$", header, re.M)
    files = tuple(dict.fromkeys(re.findall(r"^\+\+\+ b/(\S+)", text, re.M)))
    return PatchInfo(
        path.name,
        path,
        subject.group(1).strip() if subject else path.stem,
        scenario.group(1).strip() if scenario else "",
        files,
    )


_BLOCK = re.compile(r"^diff --git a/(\S+) b/", re.M)


def split_js(text: str) -> tuple[str, str]:
    """A patch as (header + its non-js/ blocks, header + its js/ blocks); a part
    without blocks is ""."""
    starts = [m.start() for m in _BLOCK.finditer(text)]
    if not starts:
        return text, ""
    header = text[: starts[0]]
    rest: list[str] = []
    js: list[str] = []
    for start, end in zip(starts, starts[1:] + [len(text)], strict=True):
        block = text[start:end]
        m = _BLOCK.match(block)
        (js if m and m.group(1).startswith("js/") else rest).append(block)
    return (header + "".join(rest) if rest else ""), (header + "".join(js) if js else "")


def js_patches(version: str) -> list[tuple[str, str]]:
    """(name, js/ part) of every patch of the series that changes the browser sources."""
    parts = [(p.name, split_js(p.read_text())[1]) for p in series(version)]
    return [(name, js) for name, js in parts if js]


def strip_level(target: Path) -> int:
    """How many path components to strip for a patch applied in `target`."""
    if (target / "py" / "visdom" / "server").is_dir():
        return 1
    if (target / "visdom" / "server").is_dir():
        return 2
    if (target / "server" / "app.py").is_file():
        return 3
    raise PatchError(
        f"{target} is neither a Visdom sdist tree (py/visdom/), a site-packages dir "
        "(visdom/) nor a visdom package dir (server/app.py)"
    )


def _run_patch(patch: Path, target: Path, strip: int, dry_run: bool) -> subprocess.CompletedProcess:
    if shutil.which("patch"):
        # --fuzz=0: a patch that only applies by ignoring context lines does not apply
        cmd = [
            "patch",
            f"-p{strip}",
            "--forward",
            "--batch",
            "--fuzz=0",
            "--no-backup-if-mismatch",
            "--reject-file=-",
            "-d",
            str(target),
            "-i",
            str(patch),
        ]
        if dry_run:
            cmd.append("--dry-run")
    else:  # git apply works outside a repository, relative to the cwd
        cmd = ["git", "apply", f"-p{strip}", str(patch)]
        if dry_run:
            cmd.append("--check")
    return subprocess.run(cmd, cwd=target, capture_output=True, text=True, timeout=TIMEOUT_S)


def _failure(name: str, target: Path, output: str) -> PatchError:
    lines = [ln for ln in output.splitlines() if ln.strip()]
    current = "?"
    failing = ""
    for ln in lines:
        m = re.match(r"(?:patching|checking) file (.+)$", ln)
        if m:
            current = m.group(1).strip()
        elif not failing and re.search(r"FAILED|can't find|error|Reversed|does not|No file", ln):
            failing = current
    bad = [ln for ln in lines if re.search(r"FAILED|can't find|error|Reversed|does not", ln)]
    detail = "; ".join(bad[:3]) or (lines[-1] if lines else "no output")
    return PatchError(
        f"patch {name} does not apply to {target} (file {failing or current}): {detail}"
    )


def _apply_one(name: str, text: str, target: Path, strip: int, shown_as: Path) -> None:
    """Dry-run, then apply, one patch text; raises PatchError naming the patch and file."""
    with tempfile.NamedTemporaryFile("w", suffix=".patch", delete=False) as f:
        f.write(text)
    part = Path(f.name)
    try:
        check = _run_patch(part, target, strip, dry_run=True)
        if check.returncode != 0:
            raise _failure(name, shown_as, check.stdout + check.stderr)
        done = _run_patch(part, target, strip, dry_run=False)
        if done.returncode != 0:
            raise _failure(name, shown_as, done.stdout + done.stderr)
    finally:
        part.unlink(missing_ok=True)


def apply_series(
    version: str,
    package_dir: Path,
    *,
    shown_as: Path | None = None,
    js_root: Path | None = None,
) -> list[str]:
    """Apply the whole series in place; returns the applied patch names.

    Every patch is dry-run first, so a failing patch leaves the tree as the
    previous patches left it, and the error names that patch and file. The js/
    parts go to `js_root` when given, to the tree itself when it is an upstream
    checkout (has `js/`), and are otherwise left to the bundle build.
    """
    target = Path(package_dir)
    strip = strip_level(target)
    whole = strip == 1 and (target / "js").is_dir() and js_root is None
    applied: list[str] = []
    for patch in series(version):
        text = patch.read_text()
        rest, js = (text, "") if whole else split_js(text)
        if rest:
            _apply_one(patch.name, rest, target, strip, shown_as or target)
        if js and js_root is not None:
            _apply_one(patch.name, js, Path(js_root), 1, Path(js_root))
        applied.append(patch.name)
    return applied


def apply_texts(patches: list[tuple[str, str]], js_root: Path) -> list[str]:
    """Apply (name, js/ diff) pairs in order to `js_root`, a folder holding `js/`."""
    root = Path(js_root)
    if not (root / "js").is_dir():
        raise PatchError(f"{root} holds no js/ folder to apply the browser changes to")
    for name, js in patches:
        _apply_one(name, js, root, 1, root)
    return [name for name, _ in patches]


def apply_js(version: str, js_root: Path) -> list[str]:
    """Apply the js/ parts of the series to `js_root` (a folder holding `js/`, e.g. laid
    out from the release's source map); returns the names of the patches that had one."""
    return apply_texts(js_patches(version), js_root)


def check_series(version: str, source: Path) -> list[str]:
    """Apply the series to a throw-away copy of `source`; raises PatchError."""
    source = Path(source)
    strip_level(source)
    with tempfile.TemporaryDirectory(prefix=f"visdom-patches-{version}-") as tmp:
        copy = Path(tmp) / "tree"
        shutil.copytree(source, copy, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        return apply_series(version, copy, shown_as=source)
