"""The browser libraries for the node differential tests, taken at test time from the built
0.2.4 target (its static/js/main.js.map carries their sources) instead of living in the
repository: fast-json-patch, json-stable-stringify, md5 (+ crypt, charenc, is-buffer),
visdom's own main.js/settings.js, and layout-bin-packer from the target's npm assets."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

HERE = Path(__file__).parent / "fixtures" / "replica" / "js"  # our harness and oracle
MAIN = {  # package -> its entry file, for the package.json that lets node resolve bare requires
    "charenc": "charenc.js",
    "crypt": "crypt.js",
    "is-buffer": "index.js",
    "json-stable-stringify": "index.js",
    "md5": "md5.js",
}


def build_js_dir(dest: Path) -> Path:
    from visdom_chaos.targets import build_target, cache_dir

    built = build_target("0.2.4")
    static = Path(built.package_dir) / "static" / "js"
    bundle = json.loads((static / "main.js.map").read_text())
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("harness.mjs", "oracle024.mjs"):
        shutil.copy(HERE / name, dest / name)
    for source, text in zip(bundle["sources"], bundle["sourcesContent"], strict=True):
        rel = source.removeprefix("webpack://visdom/./")
        if rel.startswith("node_modules/"):
            out = dest / "vendor" / rel.removeprefix("node_modules/")
        elif rel in ("js/main.js", "js/settings.js"):
            out = dest / "visdom-0.2.4" / rel.removeprefix("js/")
        else:
            continue
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text or "")
    for package, main in MAIN.items():
        (dest / "vendor" / package / "package.json").write_text(
            json.dumps({"name": package, "main": main})
        )
    packer = (
        cache_dir()
        / "npm"
        / "0.2.4"
        / "node_modules"
        / "layout-bin-packer"
        / "dist"
        / "layout-bin-packer.js"
    )
    (dest / "vendor" / "layout-bin-packer").mkdir(parents=True, exist_ok=True)
    shutil.copy(packer, dest / "vendor" / "layout-bin-packer" / "layout_bin_packer.js")
    return dest
