"""Pure-logic pieces of the source build of Visdom's main.js (bundle_build.py,
sourcemap_tree.py), and its clear errors: a map without `sourcesContent`, a package
version npm cannot have (real npm, tiny manifest), a webpack failure (real webpack from
the cached build, when one exists)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from visdom_chaos.targets import bundle_build
from visdom_chaos.targets.bundle_build import BundleError, _manifest, _npm_failure, build_bundle
from visdom_chaos.targets.sourcemap_tree import (
    SourceMapError,
    compare_maps,
    lay_out_own,
    package_of,
    read_bundle_sources,
    verify_node_modules,
)

CSS_OUT = (
    '// css-loader output\n___CSS_LOADER_EXPORT___.push([module.id, `.a{}`, "",'
    + json.dumps(
        {
            "version": 3,
            "sources": ["webpack://./js/x.less"],
            "sourcesContent": ["@c: red;\n.a { color: @c; }\n"],
            "mappings": "",
        }
    )
    + "]);\n"
)


def write_map(path: Path, sources: dict[str, str | None], *, contents: bool = True) -> Path:
    data: dict = {"version": 3, "file": "main.js", "mappings": "", "names": []}
    data["sources"] = list(sources)
    if contents:
        data["sourcesContent"] = list(sources.values())
    path.write_text(json.dumps(data))
    return path


def small_map(tmp_path: Path) -> Path:
    return write_map(
        tmp_path / "main.js.map",
        {
            "webpack://visdom/webpack/bootstrap": "// runtime",
            "webpack://visdom/./js/main.js": "import 'a';\r\nimport './x.less';\n",
            "webpack://visdom/./js/x.less": CSS_OUT,
            "webpack://visdom/./js/x.less?46f3": "// style-loader wrapper",
            "webpack://visdom/./node_modules/a/index.js": "module.exports = 1;\r\n",
            "webpack://visdom/./node_modules/a/node_modules/@s/b/lib.js": "exports.b = 2;\n",
        },
    )


def test_map_splits_into_own_files_and_packages(tmp_path: Path) -> None:
    src = read_bundle_sources(small_map(tmp_path))
    assert src.namespace == "visdom"
    assert set(src.own) == {"js/main.js", "js/x.less"}
    assert src.own["js/x.less"] == "@c: red;\n.a { color: @c; }\n"  # the less, not the CSS
    assert src.packages() == {
        "a": ["node_modules/a/index.js"],
        "a/node_modules/@s/b": ["node_modules/a/node_modules/@s/b/lib.js"],
    }
    out = tmp_path / "tree"
    assert lay_out_own(src, out) == 2
    assert (out / "js" / "main.js").read_bytes() == b"import 'a';\r\nimport './x.less';\n"


def test_package_of_nested_and_scoped() -> None:
    assert package_of("node_modules/react/index.js") == "react"
    assert package_of("node_modules/@babel/runtime/helpers/esm/x.js") == "@babel/runtime"
    assert package_of("node_modules/rc-util/node_modules/react-is/index.js") == (
        "rc-util/node_modules/react-is"
    )


def test_map_without_sources_content_is_refused(tmp_path: Path) -> None:
    path = write_map(tmp_path / "m.map", {"webpack://visdom/./js/main.js": "x"}, contents=False)
    with pytest.raises(SourceMapError, match="no `sourcesContent`"):
        read_bundle_sources(path)
    nulls = write_map(tmp_path / "n.map", {"webpack://visdom/./js/main.js": None})
    with pytest.raises(SourceMapError, match="no sourcesContent for js/main.js"):
        read_bundle_sources(nulls)
    with pytest.raises(BundleError, match="no `sourcesContent`"):
        build_bundle("0.3.0", path, tmp_path / "cache")


def test_map_path_leaving_the_tree_is_refused(tmp_path: Path) -> None:
    path = write_map(
        tmp_path / "m.map",
        {"webpack://visdom/./js/main.js": "x", "webpack://visdom/./js/../../evil.js": "y"},
    )
    with pytest.raises(SourceMapError, match="leaves the tree"):
        lay_out_own(read_bundle_sources(path), tmp_path / "tree")


def test_verification_names_the_package_that_differs(tmp_path: Path) -> None:
    src = read_bundle_sources(small_map(tmp_path))
    root = tmp_path / "work"
    (root / "node_modules" / "a").mkdir(parents=True)
    (root / "node_modules" / "a" / "index.js").write_bytes(b"module.exports = 1;\r\n")
    check = verify_node_modules(src, root)
    assert check.matched == 1 and not check.mismatched
    assert check.missing == {"a/node_modules/@s/b": ["node_modules/a/node_modules/@s/b/lib.js"]}
    # CRLF turned into LF is a different file: no newline translation in the check.
    (root / "node_modules" / "a" / "index.js").write_bytes(b"module.exports = 1;\n")
    check = verify_node_modules(src, root)
    assert check.mismatched == {"a": ["node_modules/a/index.js"]} and not check.ok
    assert "a@1.0.0: 1 file(s) differ" in check.summary({"a": "1.0.0"})


def test_manifest_pins_nested_packages_under_their_parent() -> None:
    pins = {
        "packages": {"rc-util": "5.44.4", "rc-util/node_modules/react-is": "18.3.1"},
        "layout": {"react-is": "16.13.1"},
        "tools": {"webpack": "5.108.4"},
    }
    m = _manifest(pins)
    assert m["name"] == "visdom"  # webpack's source-map namespace
    assert m["dependencies"] == {"rc-util": "5.44.4", "react-is": "16.13.1", "webpack": "5.108.4"}
    assert m["overrides"] == {"rc-util": {".": "$rc-util", "react-is": "18.3.1"}}


def test_npm_errors_name_the_package(tmp_path: Path) -> None:
    err = _npm_failure("npm error notarget No matching version found for react@99.0.0.\n", tmp_path)
    assert "react@99.0.0" in str(err)
    err = _npm_failure(
        "npm error notarget No matching version found for @babel/core@7.17.9 with a date"
        " before 2/4/2023, 12:00:00 AM.\n",
        tmp_path,
    )
    assert "cannot be had: @babel/core@7.17.9 (see" in str(err)
    err = _npm_failure("npm error 404 Not Found - GET https://r/@scope%2fnope - x\n", tmp_path)
    assert "cannot be had" in str(err)
    err = _npm_failure("npm error something else\n", tmp_path)
    assert "npm install failed: npm error something else" in str(err)


def test_compare_maps_ignores_loader_request_hashes(tmp_path: Path) -> None:
    a = write_map(tmp_path / "a.map", {"webpack://v/./js/x.less?46f3": "w", "webpack://v/k": "1"})
    b = write_map(tmp_path / "b.map", {"webpack://v/./js/x.less?28c3": "w", "webpack://v/k": "2"})
    got = compare_maps(a, b)
    assert got.common == 2 and got.differing == ["webpack://v/k"] and not got.same_sources


def test_unknown_version_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="no source build for Visdom 9.9.9"):
        build_bundle("9.9.9", small_map(tmp_path), tmp_path / "cache")


@pytest.mark.skipif(shutil.which("npm") is None, reason="npm not on PATH")
def test_a_version_npm_cannot_have_is_named(tmp_path: Path, monkeypatch) -> None:
    pins = {"packages": {"fast-json-patch": "999.0.0"}, "layout": {}, "tools": {}}
    monkeypatch.setitem(bundle_build.BUNDLE_PINS, "0.3.0", pins)
    with pytest.raises(BundleError, match=r"cannot be had: fast-json-patch@999\.0\.0"):
        build_bundle("0.3.0", small_map(tmp_path), tmp_path / "cache")


def _cached_node_modules() -> Path | None:
    from visdom_chaos.targets import cache_dir

    for stamp in sorted((cache_dir() / "bundle").glob("*/*/bundle.json")):
        if (stamp.parent / "node_modules" / "webpack").is_dir():
            return stamp.parent / "node_modules"
    return None


@pytest.mark.skipif(shutil.which("node") is None, reason="node not on PATH")
def test_webpack_failure_shows_webpacks_message(tmp_path: Path) -> None:
    modules = _cached_node_modules()
    if modules is None:
        pytest.skip("no cached source build (visdom-chaos target build 0.3.0 --bundle source)")
    work = tmp_path / "work"
    (work / "js").mkdir(parents=True)
    (work / "node_modules").symlink_to(modules)
    (work / "js" / "main.js").write_text("import nothing from 'no-such-package-here';\n")
    with pytest.raises(BundleError, match="webpack failed") as info:
        bundle_build._webpack(work, bundle_build.webpack_config(bundle_build.BUNDLE_PINS["0.3.0"]))
    assert "no-such-package-here" in str(info.value)
