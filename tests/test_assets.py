"""Offline UI assets: build.py's URL list, its npm equivalents, errors that name the asset."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from visdom_chaos.targets.asset_manifest import NpmFile, npm_file_for
from visdom_chaos.targets.assets import AssetError, install_assets, read_build_py

# The shape of Visdom's server/build.py, cut down: the parser must evaluate the same
# forms (`"%s..." % b`, dict of URL -> file name, MathJax path list with queries).
SAMPLE_BUILD_PY = """
def download_scripts(proxies=None, install_dir=None):
    b = "https://unpkg.com/"
    bb = "%sbootstrap@3.3.7/dist/" % b
    ext_files = {
        "%sjquery@3.1.1/dist/jquery.min.js" % b: "jquery.min.js",
        "https://cdn.plot.ly/plotly-2.11.1.min.js": "plotly-plotly.min.js",
        "%slayout-bin-packer@1.4.0/dist/layout-bin-packer.js.map" % b: "layout-bin-packer.js.map",
        "%scss/bootstrap.min.css" % bb: "bootstrap.min.css",
        "%sclassnames@2.2.5" % b: "classnames",
        "%sfonts/glyphicons-halflings-regular.svg#glyphicons_halflingsregular"
        % bb: "glyphicons-halflings-regular.svg#glyphicons_halflingsregular",
    }
    for key, val in ext_files.items():
        pass
    cdnjs_url = "https://cdnjs.cloudflare.com/ajax/libs/mathjax/2.7.5/"
    mathjax_path = [
        "config/Safe.js?V=2.7.5",
        "MathJax.js?config=TeX-AMS-MML_HTMLorMML%2CSafe.js&#038;ver=4.1",
    ]
"""


def fake_visdom(tmp_path: Path, build_py: str) -> Path:
    pkg = tmp_path / "visdom"
    (pkg / "server").mkdir(parents=True)
    (pkg / "server" / "build.py").write_text(build_py)
    (pkg / "VERSION").write_text("0.0.test\n")
    return pkg


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "https://unpkg.com/react@16.2.0/umd/react.production.min.js",
            NpmFile("react", "16.2.0", "umd/react.production.min.js"),
        ),
        ("https://unpkg.com/classnames@2.2.5", NpmFile("classnames", "2.2.5", "")),
        (
            "https://unpkg.com/bootstrap@3.3.7/dist/fonts/glyphicons-halflings-regular.svg#glyphicons_halflingsregular",
            NpmFile("bootstrap", "3.3.7", "dist/fonts/glyphicons-halflings-regular.svg"),
        ),
        (
            "https://cdn.plot.ly/plotly-2.11.1.min.js",
            NpmFile("plotly.js-dist-min", "2.11.1", "plotly.min.js"),
        ),
        ("http://d3js.org/d3.v3.min.js", NpmFile("d3", "3.5.17", "d3.min.js")),
        (
            "https://d3js.org/d3-selection-multi.v1.js",
            NpmFile("d3-selection-multi", "1.0.1", "build/d3-selection-multi.js"),
        ),
        (
            "https://cdnjs.cloudflare.com/ajax/libs/mathjax/3.2.2/es5/tex-mml-svg.js",
            NpmFile("mathjax", "3.2.2", "es5/tex-mml-svg.js"),
        ),
        (
            "https://cdnjs.cloudflare.com/ajax/libs/mathjax/2.7.5/MathJax.js?config=TeX&#038;ver=4.1",
            NpmFile("mathjax", "2.7.5", "MathJax.js"),
        ),
        ("https://example.org/lib.js", None),
        ("https://cdn.plot.ly/plotly-latest.min.js", None),  # floating: no exact version to install
    ],
)
def test_url_maps_to_npm_file(url: str, expected: NpmFile | None) -> None:
    assert npm_file_for(url) == expected


def test_read_build_py_places_files_where_build_py_would(tmp_path: Path) -> None:
    pkg = fake_visdom(tmp_path, SAMPLE_BUILD_PY)
    dests = {a.dest: a.npm for a in read_build_py(pkg / "server" / "build.py")}
    assert dests == {
        "js/jquery.min.js": NpmFile("jquery", "3.1.1", "dist/jquery.min.js"),
        "js/plotly-plotly.min.js": NpmFile("plotly.js-dist-min", "2.11.1", "plotly.min.js"),
        "js/layout-bin-packer.js.map": NpmFile(
            "layout-bin-packer", "1.4.0", "dist/layout-bin-packer.js.map"
        ),
        "css/bootstrap.min.css": NpmFile("bootstrap", "3.3.7", "dist/css/bootstrap.min.css"),
        "fonts/classnames": NpmFile("classnames", "2.2.5", ""),
        "fonts/glyphicons-halflings-regular.svg#glyphicons_halflingsregular": NpmFile(
            "bootstrap", "3.3.7", "dist/fonts/glyphicons-halflings-regular.svg"
        ),
        "js/mathjax/2.7.5/config/Safe.js": NpmFile("mathjax", "2.7.5", "config/Safe.js"),
        "js/mathjax/2.7.5/MathJax.js": NpmFile("mathjax", "2.7.5", "MathJax.js"),
    }


def test_build_py_without_asset_list_is_a_clear_error(tmp_path: Path) -> None:
    pkg = fake_visdom(tmp_path, "def download_scripts():\n    pass\n")
    with pytest.raises(AssetError, match="no ext_files asset list"):
        install_assets("0.0.test", pkg, tmp_path / "cache")


def test_bad_version_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(AssetError, match="bad version"):
        install_assets("../x", fake_visdom(tmp_path, SAMPLE_BUILD_PY), tmp_path / "cache")


def test_asset_not_on_npm_is_named(tmp_path: Path) -> None:
    build_py = SAMPLE_BUILD_PY.replace(
        '"https://cdn.plot.ly/plotly-2.11.1.min.js"', '"https://example.org/vendor/widget.js"'
    )
    pkg = fake_visdom(tmp_path, build_py)
    with pytest.raises(
        AssetError,
        match=r"^missing asset: plotly-plotly\.min\.js \(https://example\.org/vendor/widget\.js\)",
    ):
        install_assets("0.0.test", pkg, tmp_path / "cache")
    assert not (tmp_path / "cache" / "npm").exists(), "npm must not run when an asset has no source"


@pytest.mark.slow
def test_unpublished_version_and_missing_file_are_named(tmp_path: Path) -> None:
    """Real npm registry: a version that does not exist, and a path the tarball lacks."""
    one = "def download_scripts():\n    ext_files = {%s: %s}\n"
    pkg = fake_visdom(
        tmp_path / "a", one % ('"https://unpkg.com/sjcl@0.0.999/sjcl.js"', '"sjcl.js"')
    )
    with pytest.raises(
        AssetError, match=r"^missing asset: sjcl\.js \(https://unpkg\.com/sjcl@0\.0\.999/sjcl\.js\)"
    ):
        install_assets("0.0.test", pkg, tmp_path / "cache-a")
    pkg = fake_visdom(
        tmp_path / "b", one % ('"https://unpkg.com/sjcl@1.0.7/no/such.js"', '"such.js"')
    )
    with pytest.raises(
        AssetError,
        match=r"^missing asset: such\.js \(https://unpkg\.com/sjcl@1\.0\.7/no/such\.js\)",
    ):
        install_assets("0.0.test", pkg, tmp_path / "cache-b")


@pytest.mark.visdom
@pytest.mark.parametrize("version", ["0.2.4", "0.3.0"])
def test_real_release_assets_are_exact_and_install_is_idempotent(version: str) -> None:
    targets = pytest.importorskip("visdom_chaos.targets")
    built = targets.load_built(version, "stock")
    if built is None:
        pytest.skip(f"target {version} not built (make targets)")
    pkg = Path(built.package_dir)
    paths = install_assets(version, pkg, targets.cache_dir())
    log = targets.cache_dir() / "npm" / version / "npm-install.log"
    before = log.stat().st_mtime if log.exists() else None
    t0 = time.monotonic()
    again = install_assets(version, pkg, targets.cache_dir())
    assert again == paths and time.monotonic() - t0 < 10
    assert (log.stat().st_mtime if log.exists() else None) == before, (
        "npm ran again on a complete cache"
    )

    assert len(paths) == {"0.2.4": 29, "0.3.0": 22}[version]
    for rel in paths:
        assert (pkg / rel).stat().st_size > 0, rel
    static = pkg / "static"
    heads = {
        "js/plotly-plotly.min.js": b"plotly.js v2.11.1",
        "js/react-react.min.js": b"React v16.2.0",
        "js/jquery.min.js": b"jQuery v3.1.1",
        "css/bootstrap.min.css": b"Bootstrap v3.3.7",
        "js/d3.v3.min.js": b'version:"3.5.17"',
    }
    for rel, marker in heads.items():
        assert marker in (static / rel).read_bytes(), rel
    assert (static / "version.built").read_text() == version
