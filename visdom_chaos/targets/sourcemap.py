"""Lay out the sources a webpack bundle was built from, out of its source map.

Both Visdom releases ship `static/js/main.js.map` with `sourcesContent`, so the
upstream `js/` tree (`webpack://visdom/./js/...`) can be recovered offline: for
an upstream-shaped checkout to `git am` a patch series on, or for a rebuild.

Only entries under `prefix` are written, each to `dest / <the rest of its name>`.
Webpack's `?hash` duplicates (the same file through another loader) are skipped.
A non-JS module (`toast.less` in 0.3.0) holds what its loader made of it, not the
original file: that is all the map keeps.
"""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath

DEFAULT_PREFIX = "webpack://visdom/./js/"


class SourceMapError(ValueError):
    """The map cannot give the sources; the message names the map and what is wrong."""


def _read_map(map_path: Path) -> tuple[list[str], list[str | None]]:
    try:
        data = json.loads(map_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SourceMapError(f"source map {map_path} does not exist") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SourceMapError(f"source map {map_path} is not readable JSON: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("sources"), list):
        raise SourceMapError(f"source map {map_path} has no 'sources' list")
    contents = data.get("sourcesContent")
    if not isinstance(contents, list):
        raise SourceMapError(
            f"source map {map_path} has no 'sourcesContent': it names the sources "
            "but does not carry them, so they cannot be laid out"
        )
    if len(contents) != len(data["sources"]):
        raise SourceMapError(
            f"source map {map_path}: {len(data['sources'])} sources but "
            f"{len(contents)} sourcesContent entries"
        )
    return data["sources"], contents


def _relative(name: str, prefix: str, map_path: Path) -> PurePosixPath:
    rel = PurePosixPath(name[len(prefix) :])
    # a crafted map must not write outside dest ("../", an absolute path)
    if rel.is_absolute() or ".." in rel.parts or not rel.parts:
        raise SourceMapError(f"source map {map_path}: {name!r} escapes the destination")
    return rel


def layout_sources(map_path: Path, dest: Path, prefix: str = DEFAULT_PREFIX) -> list[Path]:
    """Write every source of `map_path` named `prefix...` under `dest`; returns the files.

    Raises SourceMapError for a map without `sourcesContent`, with no source under
    `prefix`, with a source under `prefix` but no content, or naming a path that
    escapes `dest`. Nothing is written unless the whole map is usable.
    """
    map_path, dest = Path(map_path), Path(dest)
    sources, contents = _read_map(map_path)
    chosen: dict[PurePosixPath, str] = {}
    for name, content in zip(sources, contents, strict=True):
        if not isinstance(name, str) or not name.startswith(prefix) or "?" in name:
            continue
        rel = _relative(name, prefix, map_path)
        if not isinstance(content, str):
            raise SourceMapError(f"source map {map_path}: {name!r} has no content")
        chosen[rel] = content
    if not chosen:
        raise SourceMapError(f"source map {map_path} holds no source under {prefix!r}")
    written = []
    for rel, content in chosen.items():
        path = dest.joinpath(*rel.parts)
        path.parent.mkdir(parents=True, exist_ok=True)
        # newline="": keep the file's own line endings, byte for byte
        with path.open("w", encoding="utf-8", newline="") as fh:
            fh.write(content)
        written.append(path)
    return written
