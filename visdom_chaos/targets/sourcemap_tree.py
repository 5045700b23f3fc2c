"""Read a release's `main.js.map` as a source tree: Visdom's own `js/` files to lay out,
and the node_modules files the bundle holds, to check an npm install against.

webpack names each module `webpack://<namespace>/<path>`; `sourcesContent` holds the
text webpack read. Two kinds of entry are not plain files: `foo.less?46f3` (the
style-loader wrapper webpack generated) and a `.less`/`.css` entry itself, which holds
css-loader's output; the original stylesheet is the `sourcesContent` of the CSS source
map css-loader embedded in that output.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

# one error for a map that cannot give its sources, whichever reader found it
from visdom_chaos.targets.sourcemap import SourceMapError

_STYLE = (".less", ".css")


@dataclass
class BundleSources:
    map_path: Path
    namespace: str
    own: dict[str, str] = field(default_factory=dict)  # "js/main.js" -> text
    modules: dict[str, str] = field(default_factory=dict)  # "node_modules/x/y.js" -> text

    def packages(self) -> dict[str, list[str]]:
        """Install folder ("react", "rc-util/node_modules/react-is") -> its files in the map."""
        out: dict[str, list[str]] = {}
        for path in self.modules:
            out.setdefault(package_of(path), []).append(path)
        return out


def package_of(path: str) -> str:
    """`node_modules/a/node_modules/@s/b/x.js` -> `a/node_modules/@s/b` (its install folder)."""
    segs = path.split("/")
    i = max(n for n, s in enumerate(segs) if s == "node_modules")
    width = 2 if segs[i + 1].startswith("@") else 1
    return "/".join(segs[1 : i + 1 + width])


def _embedded_originals(text: str, source: str) -> dict[str, str]:
    """The stylesheets css-loader compiled (the entry and what it @imports), path ->
    text, from the CSS source map embedded in its output."""
    found = re.search(r'\{"version":\s*3', text)
    if found is None:
        return {}
    try:
        embedded, _ = json.JSONDecoder().raw_decode(text, found.start())
        names, texts = embedded.get("sources") or [], embedded.get("sourcesContent") or []
    except (ValueError, AttributeError):
        raise SourceMapError(f"{source}: its embedded CSS source map is unreadable") from None
    out = {}
    for name, body in zip(names, texts, strict=False):
        path = re.sub(r"^webpack://[^/]*/(\./)?", "", str(name))
        if isinstance(body, str) and path:
            out[path] = body
    return out


def read_bundle_sources(map_path: Path) -> BundleSources:
    """Split the map into own files and node_modules files (texts as webpack read them)."""
    try:
        data = json.loads(Path(map_path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SourceMapError(f"cannot read source map {map_path}: {exc}") from exc
    sources, contents = data.get("sources"), data.get("sourcesContent")
    if not isinstance(sources, list) or not sources:
        raise SourceMapError(f"{map_path}: no `sources` list")
    if not isinstance(contents, list) or len(contents) != len(sources):
        raise SourceMapError(
            f"{map_path}: no `sourcesContent` (or not one per source): the original sources "
            "are not in this map, so there is nothing to rebuild from"
        )
    namespaces = {m.group(1) for s in sources if (m := re.match(r"webpack://([^/]*)/", s))}
    if len(namespaces) != 1:
        raise SourceMapError(f"{map_path}: expected one webpack:// namespace, got {namespaces}")
    namespace = namespaces.pop()
    out = BundleSources(Path(map_path), namespace)
    prefix = f"webpack://{namespace}/./"
    for source, text in zip(sources, contents, strict=True):
        if not source.startswith(prefix) or "?" in source:
            continue  # webpack's runtime, or a loader-generated wrapper module
        path = source[len(prefix) :]
        if text is None:
            raise SourceMapError(f"{map_path}: no sourcesContent for {path}")
        if path.endswith(_STYLE):
            # less's own map folds @imported files into misnamed entries, so only the
            # entry's own text is trusted; node_modules stylesheets are checked after
            # the build instead (their compiled CSS against the shipped map's).
            text = _embedded_originals(text, path).get(path)
            if path.startswith("node_modules/"):
                continue
            if text is None:
                raise SourceMapError(f"{map_path}: {path} holds no original stylesheet")
        if path.startswith("js/"):
            out.own[path] = text
        elif path.startswith("node_modules/"):
            out.modules[path] = text
    if "js/main.js" not in out.own:
        raise SourceMapError(f"{map_path}: no js/main.js among its sources")
    return out


def lay_out_own(sources: BundleSources, dest: Path) -> int:
    """Write Visdom's own `js/` tree under `dest`; returns the number of files."""
    root = Path(dest).resolve()
    for rel, text in sources.own.items():
        target = (root / rel).resolve()
        if not target.is_relative_to(root):
            raise SourceMapError(f"{sources.map_path}: source path {rel!r} leaves the tree")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8", newline="")
    return len(sources.own)


@dataclass
class Verification:
    matched: int
    mismatched: dict[str, list[str]]  # install folder -> files whose text differs
    missing: dict[str, list[str]]  # install folder -> files npm did not install

    @property
    def ok(self) -> bool:
        return not self.mismatched and not self.missing

    def summary(self, versions: dict[str, str] | None = None) -> str:
        versions = versions or {}
        lines = []
        for pkg in sorted(set(self.mismatched) | set(self.missing)):
            bad, gone = self.mismatched.get(pkg, []), self.missing.get(pkg, [])
            have = versions.get(pkg, "?")
            lines.append(
                f"{pkg}@{have}: {len(bad)} file(s) differ, {len(gone)} missing "
                f"(e.g. {(bad + gone)[0]})"
            )
        return "; ".join(lines)


def verify_node_modules(sources: BundleSources, root: Path) -> Verification:
    """Compare every node_modules file the map names with the installed file, byte for
    byte as text (no newline translation: a CRLF file must stay CRLF)."""
    matched = 0
    bad: dict[str, list[str]] = {}
    missing: dict[str, list[str]] = {}
    for path, text in sources.modules.items():
        f = Path(root) / path
        pkg = package_of(path)
        try:
            have = f.read_bytes().decode("utf-8", errors="replace")
        except OSError:
            missing.setdefault(pkg, []).append(path)
            continue
        if have == text:
            matched += 1
        else:
            bad.setdefault(pkg, []).append(path)
    return Verification(matched, bad, missing)


@dataclass
class MapComparison:
    """Shipped vs rebuilt map, source by source. Loader-request suffixes (`?46f3`)
    are hashes of the request and webpack version, so names are compared without them."""

    common: int
    only_shipped: list[str]
    only_rebuilt: list[str]
    differing: list[str]

    @property
    def same_sources(self) -> bool:
        return not (self.only_shipped or self.only_rebuilt or self.differing)


def _by_name(map_path: Path) -> dict[str, str]:
    data = json.loads(Path(map_path).read_text(encoding="utf-8"))
    return {
        re.sub(r"\?[0-9a-f]{4}$", "?", s): c or ""
        for s, c in zip(data["sources"], data.get("sourcesContent") or [], strict=False)
    }


def compare_maps(shipped: Path, rebuilt: Path) -> MapComparison:
    a, b = _by_name(shipped), _by_name(rebuilt)
    common = sorted(set(a) & set(b))
    return MapComparison(
        len(common),
        sorted(set(a) - set(b)),
        sorted(set(b) - set(a)),
        [s for s in common if a[s] != b[s]],
    )
