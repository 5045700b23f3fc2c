"""visdom_chaos.targets.sourcemap: the js/ tree out of a bundle's source map.

Crafted maps for the rules; the released maps (when the stock targets are built) for
the files issue 16 patches."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from visdom_chaos.targets.sourcemap import SourceMapError, layout_sources

P = "webpack://visdom/./js/"


def write_map(path: Path, sources: list, contents: list | None) -> Path:
    data: dict = {"version": 3, "sources": sources, "mappings": ""}
    if contents is not None:
        data["sourcesContent"] = contents
    path.write_text(json.dumps(data))
    return path


def test_writes_the_prefixed_sources_byte_for_byte(tmp_path):
    m = write_map(
        tmp_path / "main.js.map",
        [P + "main.js", P + "api/ApiProvider.js", "webpack://visdom/webpack/bootstrap",
         "webpack://visdom/./node_modules/react/index.js", P + "api/ApiProvider.js?46f3"],
        ["main\r\n", "provider\n", "boot", "react", "loader output"],
    )  # fmt: skip
    dest = tmp_path / "tree" / "js"
    written = layout_sources(m, dest)
    assert sorted(p.relative_to(dest).as_posix() for p in written) == [
        "api/ApiProvider.js",
        "main.js",
    ]
    assert (dest / "main.js").read_bytes() == b"main\r\n"
    assert (dest / "api" / "ApiProvider.js").read_text() == "provider\n"
    assert not (dest / "node_modules").exists() and not (tmp_path / "tree" / "webpack").exists()


def test_other_prefix(tmp_path):
    m = write_map(
        tmp_path / "m.map", [P + "a.js", "webpack://visdom/./node_modules/x/i.js"], ["a", "x"]
    )
    written = layout_sources(m, tmp_path / "nm", prefix="webpack://visdom/./node_modules/")
    assert written == [tmp_path / "nm" / "x" / "i.js"]


def test_a_map_without_sources_content_is_refused(tmp_path):
    m = write_map(tmp_path / "main.js.map", [P + "main.js"], None)
    with pytest.raises(SourceMapError, match="no 'sourcesContent'") as err:
        layout_sources(m, tmp_path / "js")
    assert str(m) in str(err.value)
    assert not (tmp_path / "js").exists()


@pytest.mark.parametrize(
    "name",
    [P + "../../etc/passwd", P + "api/../../outside.js", P + "/etc/passwd", P],
)
def test_paths_escaping_dest_are_refused_and_nothing_is_written(tmp_path, name):
    m = write_map(tmp_path / "main.js.map", [P + "ok.js", name], ["ok", "evil"])
    with pytest.raises(SourceMapError, match="escapes the destination"):
        layout_sources(m, tmp_path / "out" / "js")
    assert not (tmp_path / "out").exists()
    assert not (tmp_path / "outside.js").exists()


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("not json", "not readable JSON"),
        ('{"version": 3}', "no 'sources' list"),
        (json.dumps({"sources": [P + "main.js"], "sourcesContent": []}), "1 sources but 0"),
        (json.dumps({"sources": [P + "main.js"], "sourcesContent": [None]}), "has no content"),
        ('{"sources": ["webpack://other/x.js"], "sourcesContent": ["x"]}', "no source under"),
    ],
)
def test_bad_maps_are_clear_errors(tmp_path, text, match):
    m = tmp_path / "main.js.map"
    m.write_text(text)
    with pytest.raises(SourceMapError, match=match):
        layout_sources(m, tmp_path / "js")


def test_a_missing_map_is_a_clear_error(tmp_path):
    with pytest.raises(SourceMapError, match="does not exist"):
        layout_sources(tmp_path / "nope.map", tmp_path / "js")


@pytest.mark.visdom
def test_the_released_maps_give_the_transport_sources(version, tmp_path):
    from conftest import built_or_skip

    package = Path(built_or_skip(version, "stock").package_dir)
    the_map = package / "static" / "js" / "main.js.map"
    written = layout_sources(the_map, tmp_path / "js")
    names = {p.relative_to(tmp_path / "js").as_posix() for p in written}
    data = json.loads(the_map.read_text())
    expected = {s[len(P) :] for s in data["sources"] if s.startswith(P) and "?" not in s}
    assert names == expected
    transport = "api/ApiProvider.js" if version == "0.3.0" else "main.js"
    assert transport in names and "main.js" in names
    text = (tmp_path / "js" / transport).read_text()
    assert "WebSocket" in text
