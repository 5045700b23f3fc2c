"""Which npm package file stands in for each URL a Visdom `server/build.py` downloads.

The list of URLs itself is read from the installed version's own build.py (see
`assets.read_build_py`), so the files and versions are exactly the ones that
release names. This module only knows how to turn such a URL into
`(npm package, version, path inside the package)`:

- unpkg `https://unpkg.com/<pkg>@<ver>/<path>` is a file of the npm tarball as is;
  a bare `<pkg>@<ver>` is the package's `main` file (unpkg's resolution).
- cdnjs MathJax `.../ajax/libs/mathjax/<ver>/<path>?query` is `mathjax@<ver>/<path>`.
- Not on npm under those names, resolved by hand:
  `cdn.plot.ly/plotly-<ver>.min.js` is the same build as `plotly.js-dist-min@<ver>/plotly.min.js`;
  `d3js.org/d3.v3.min.js` serves the last 3.x release, `d3@3.5.17/d3.min.js`;
  `d3js.org/d3-selection-multi.v1.js` serves `d3-selection-multi@1.0.1/build/d3-selection-multi.js`.
"""

from __future__ import annotations

import re
from typing import NamedTuple
from urllib.parse import urlsplit


class NpmFile(NamedTuple):
    package: str
    version: str
    path: str  # inside the package; "" means the package's `main` file


# d3js.org serves floating major versions; these are the releases they resolve to.
_D3JS_ORG = {
    "/d3.v3.min.js": NpmFile("d3", "3.5.17", "d3.min.js"),
    "/d3.v3.js": NpmFile("d3", "3.5.17", "d3.js"),
    "/d3-selection-multi.v1.js": NpmFile(
        "d3-selection-multi", "1.0.1", "build/d3-selection-multi.js"
    ),
    "/d3-selection-multi.v1.min.js": NpmFile(
        "d3-selection-multi", "1.0.1", "build/d3-selection-multi.min.js"
    ),
}

# <pkg>@<ver>[/<path>], pkg possibly scoped (@scope/name).
_UNPKG_RE = re.compile(r"^/((?:@[^/@]+/)?[^/@]+)@([^/]+)(?:/(.*))?$")
_PLOTLY_RE = re.compile(r"^/plotly-(\d+\.\d+\.\d+)\.min\.js$")
_MATHJAX_RE = re.compile(r"^/ajax/libs/mathjax/([^/]+)/(.+)$")


def npm_file_for(url: str) -> NpmFile | None:
    """The npm file equivalent to `url`, or None when there is no known equivalent."""
    parts = urlsplit(url)
    host, path = parts.netloc.lower(), parts.path  # query and fragment never reach the CDN file
    if host == "unpkg.com":
        m = _UNPKG_RE.match(path)
        return NpmFile(m.group(1), m.group(2), m.group(3) or "") if m else None
    if host == "cdn.plot.ly":
        m = _PLOTLY_RE.match(path)
        return NpmFile("plotly.js-dist-min", m.group(1), "plotly.min.js") if m else None
    if host == "d3js.org":
        return _D3JS_ORG.get(path)
    if host == "cdnjs.cloudflare.com":
        m = _MATHJAX_RE.match(path)
        return NpmFile("mathjax", m.group(1), m.group(2)) if m else None
    return None
