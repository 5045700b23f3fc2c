"""patches/: every series applies to a fresh copy of its release, in each layout,
and `check` fails loudly naming the patch and file that no longer apply."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import pytest

from visdom_chaos.commands import patches as commands
from visdom_chaos.patches import apply as patch_apply


def stock_package(version: str) -> Path:
    from conftest import built_or_skip

    return Path(built_or_skip(version, "stock").package_dir)


def run_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    commands.register(parser.add_subparsers())
    args = parser.parse_args(argv)
    return args.func(args)


def test_every_version_has_a_series_with_headers():
    assert set(patch_apply.versions()) >= {"0.2.4", "0.3.0"}
    for version in patch_apply.versions():
        for path in patch_apply.series(version):
            item = patch_apply.info(path)
            header = path.read_text().split("\ndiff --git ", 1)[0]
            assert "Finding:" in header and "Expected after:" in header, path.name
            assert item.scenario, f"{path.name} names no scenario"
            # the upstream layout: the package under py/visdom/, browser sources under js/
            assert item.files and all(f.startswith(("py/visdom/", "js/")) for f in item.files)


def test_check_passes_on_a_fresh_package_copy(version, capsys):
    package = stock_package(version)
    assert run_cli(["patches", "check", "--version", version, "--into", str(package)]) == 0
    out = capsys.readouterr().out
    assert f"ok {version}" in out
    # check works on a throw-away copy: the stock package is untouched
    assert not (package / "server" / "session.py").exists()


def test_apply_in_sdist_and_site_packages_layouts(version, tmp_path):
    package = stock_package(version)
    sdist = tmp_path / "sdist"
    shutil.copytree(package, sdist / "py" / "visdom", ignore=shutil.ignore_patterns("__pycache__"))
    site = tmp_path / "site"
    shutil.copytree(package, site / "visdom", ignore=shutil.ignore_patterns("__pycache__"))
    assert patch_apply.strip_level(sdist) == 1 and patch_apply.strip_level(site) == 2
    expected = [p.name for p in patch_apply.series(version)]
    assert patch_apply.apply_series(version, sdist) == expected
    assert patch_apply.apply_series(version, site) == expected
    for root in (sdist / "py" / "visdom", site / "visdom"):
        assert (root / "server" / "session.py").is_file()
        assert "def publish" in (root / "server" / "session.py").read_text()


def test_check_fails_naming_the_patch_and_file(version, tmp_path, capsys):
    package = stock_package(version)
    broken = tmp_path / "visdom"
    shutil.copytree(package, broken, ignore=shutil.ignore_patterns("__pycache__"))
    # an upstream edit where the socket handlers were patched
    handlers = broken / "server" / "handlers" / "socket_handlers.py"
    handlers.write_text(
        handlers.read_text().replace("def on_close(self):", "def on_close(self):  # edited")
    )
    first = next(
        p.name
        for p in patch_apply.series(version)
        if "py/visdom/server/handlers/socket_handlers.py" in patch_apply.info(p).files
    )
    assert run_cli(["patches", "check", "--version", version, "--into", str(broken)]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "socket_handlers.py" in out
    with pytest.raises(patch_apply.PatchError) as err:
        patch_apply.check_series(version, broken)
    assert first in str(err.value) or "socket_handlers.py" in str(err.value)


def test_unknown_version_and_layout_are_clear_errors(tmp_path):
    with pytest.raises(patch_apply.PatchError, match="no patch series for Visdom '9.9'"):
        patch_apply.series("9.9")
    with pytest.raises(patch_apply.PatchError, match="neither a Visdom sdist tree"):
        patch_apply.apply_series("0.2.4", tmp_path)


def test_js_parts_go_to_the_sources_and_a_stale_one_names_patch_and_file(tmp_path):
    # 0.3.0's browser changes (js/...) are applied to the sources laid out from the
    # release's map, not to the package; an upstream change they no longer fit is
    # refused naming the patch and the file, before the bundle build runs webpack
    from visdom_chaos.targets.sourcemap import layout_sources

    js = patch_apply.js_patches("0.3.0")
    assert [name for name, _ in js][:1] == ["0006-browser-resume-in-source.patch"]
    assert all("\ndiff --git a/py/" not in text for _, text in js)  # js/ blocks only
    site = tmp_path / "site"
    shutil.copytree(stock_package("0.3.0"), site / "visdom")
    patch_apply.apply_series("0.3.0", site)  # the package part only
    assert not (site / "visdom" / "static" / "js" / "visdom-resume.js").exists()
    mapped = stock_package("0.3.0") / "static" / "js" / "main.js.map"
    tree = tmp_path / "tree"
    layout_sources(mapped, tree / "js")
    assert patch_apply.apply_js("0.3.0", tree)[0] == "0006-browser-resume-in-source.patch"
    assert "class Delivery" in (tree / "js" / "api" / "Delivery.js").read_text()
    stale = tmp_path / "stale"
    layout_sources(mapped, stale / "js")
    legacy = stale / "js" / "api" / "Legacy.js"
    legacy.write_text(legacy.read_text().replace("window.setInterval", "window.setTimeout"))
    with pytest.raises(patch_apply.PatchError, match=r"0006-browser-resume-in-source.*Legacy\.js"):
        patch_apply.apply_js("0.3.0", stale)
    with pytest.raises(patch_apply.PatchError, match="holds no js/"):
        patch_apply.apply_js("0.3.0", tmp_path / "empty")
