"""Differential test: the Python ports against the browser's own JS libraries under node.

tests/fixtures/replica/js/vendor holds fast-json-patch, json-stable-stringify and md5 as
bundled in visdom 0.2.4's main.js (0.3.0 bundles the same fast-json-patch). Random
documents and patches, valid and broken, must give the same throw / no-throw, the same
stable stringify (V8 number and string formatting included) and the same md5.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import struct
import subprocess
from pathlib import Path
from typing import Any

import pytest

from visdom_chaos.wire.replica.jspatch import JSPatchError, apply_patch
from visdom_chaos.wire.replica.jsvalue import js_json_parse, js_number_to_string, js_quote
from visdom_chaos.wire.replica.stablejson import HashError, browser_md5, stable_stringify

JS_DIR = Path()  # the session's replica_js_dir (tests/conftest.py), set below


@pytest.fixture(autouse=True)
def _js_dir(replica_js_dir: Path) -> None:
    global JS_DIR
    JS_DIR = replica_js_dir


NODE = shutil.which("node")

pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed")

FLOATS = [0.1, 1.5e-7, 1e21, 1e16, 2.5, -0.0, 1763932935123.456, 5e-324, 123456789.125, 1e-6, 3.0]
STRINGS = ["", "a", "grün", "tab\there", 'q"uote', "\x01ctl", "😀", "\u2028", "~", "a/b", "0", "-"]


def rand_value(rng: random.Random, depth: int = 0) -> Any:
    roll = rng.random()
    if depth < 3 and roll < 0.25:
        return [rand_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    if depth < 3 and roll < 0.5:
        return {
            rng.choice(STRINGS + ["x", "y", "data"]): rand_value(rng, depth + 1)
            for _ in range(rng.randint(0, 4))
        }
    return rng.choice(
        [
            None,
            True,
            False,
            rng.randint(-5, 5),
            rng.randint(0, 2**60),
            rng.choice(FLOATS),
            rng.choice(STRINGS),
        ]
    )


def paths(node: Any, prefix: str = "") -> list[str]:
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out += paths(v, prefix + "/" + k.replace("~", "~0").replace("/", "~1"))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += paths(v, f"{prefix}/{i}")
    return out


def rand_path(rng: random.Random, doc: Any) -> str:
    base = rng.choice(paths(doc))
    tweak = rng.random()
    if tweak < 0.15:
        return base + "/" + str(rng.randint(0, 9))  # maybe past an array's end
    if tweak < 0.25:
        return base + "/-"
    if tweak < 0.35:
        return base + "/missing"
    if tweak < 0.42:
        return base + "/missing/deeper"
    return base


def rand_patch(rng: random.Random, doc: Any) -> list[Any]:
    ops = []
    for _ in range(rng.randint(1, 4)):
        op = rng.choice(["add", "add", "replace", "remove", "test", "move", "copy", "bogus"])
        entry: dict[str, Any] = {"op": op, "path": rand_path(rng, doc)}
        if op in ("add", "replace", "test"):
            entry["value"] = rand_value(rng, 2)
        if op in ("move", "copy"):
            entry["from"] = rand_path(rng, doc)
        ops.append(entry)
    return ops


def python_side(doc_text: str, patch_text: str) -> dict[str, Any]:
    doc = js_json_parse(doc_text)
    threw = False
    try:
        doc = apply_patch(doc, js_json_parse(patch_text))
    except JSPatchError:
        threw = True  # `doc` stays the original object, mutated in place up to the throw
    try:
        stable = stable_stringify(doc)
    except HashError:
        stable = "throws"
    try:
        digest = browser_md5(doc)
    except HashError:
        digest = "throws"
    return {"threw": threw, "stable": stable, "md5": digest}


def test_ports_agree_with_the_bundled_js_libraries() -> None:
    rng = random.Random(20240524)
    cases = []
    for _ in range(600):
        doc = {
            "id": "w",
            "content": rand_value(rng, 0),
            "data": [rand_value(rng, 1) for _ in range(rng.randint(0, 3))],
        }
        cases.append(
            (json.dumps(doc, allow_nan=False), json.dumps(rand_patch(rng, doc), allow_nan=False))
        )
    stdin = "".join(f'{{"doc": {d}, "patch": {p}}}\n' for d, p in cases)
    env = dict(os.environ, NODE_PATH=str(JS_DIR / "vendor"))
    proc = subprocess.run(
        [NODE, str(JS_DIR / "harness.mjs")],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    results = [
        json.loads(line) for line in proc.stdout.split("\n") if line
    ]  # not splitlines: U+2028
    assert len(results) == len(cases)
    mismatches = []
    threw = 0
    for (doc, patch), js in zip(cases, results, strict=True):
        py = python_side(doc, patch)
        js_view = {"threw": js["threw"] is not None, "stable": js["stable"], "md5": js["md5"]}
        threw += js_view["threw"]
        if py != js_view:
            mismatches.append({"doc": doc, "patch": patch, "js": js_view, "py": py})
    assert mismatches == [], json.dumps(mismatches[:3], indent=1, ensure_ascii=False)
    assert 30 < threw < 570  # the cases exercise both the throwing and the lenient paths


def test_number_and_string_formatting_matches_v8() -> None:
    rng = random.Random(7)
    numbers: list[float] = []
    for _ in range(4000):
        bits = rng.getrandbits(64)
        x = struct.unpack("<d", bits.to_bytes(8, "little"))[0]
        if x == x and abs(x) != float("inf"):
            numbers.append(x)
    numbers += [rng.uniform(-1e6, 1e6) for _ in range(500)] + [
        round(rng.uniform(0, 2e12), 3) for _ in range(500)
    ]
    numbers += [1e21, 1e-7, 9.999999999999999e20, 1e-6, 123e-20, 2**53 + 2.0, 0.1 + 0.2]
    strings = [
        "".join(
            chr(
                rng.choice(
                    [rng.randint(0, 0x7F), rng.randint(0x80, 0xD7FF), rng.randint(0xE000, 0x10FFFF)]
                )
            )
            for _ in range(8)
        )
        for _ in range(300)
    ]
    script = (
        "const d=JSON.parse(require('fs').readFileSync(0,'utf8'));"
        "process.stdout.write(JSON.stringify([d.n.map(x=>JSON.stringify(x)),d.s.map(x=>JSON.stringify(x))]));"
    )
    proc = subprocess.run(
        [NODE, "-e", script],
        input=json.dumps({"n": numbers, "s": strings}),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    js_numbers, js_strings = json.loads(proc.stdout)
    assert [js_number_to_string(js_json_parse(json.dumps(x))) for x in numbers] == js_numbers
    assert [js_quote(x) for x in strings] == js_strings
