"""What rendering a plot pane writes back into the pane object, in Visdom 0.2.4's page.

0.2.4's App keeps two copies of every window: `state.panes[win]` (what React renders) and
`consistent_pane_copy[win]` (what the next patch's md5 is checked against). Rendering is
not read-only: PlotPane's effect (panes/PlotPane.js) and Plotly.newPlot (2.11.1, the
bundle build.py names) both change the *content object of the pane*, in place:

- PlotPane's effect, before plotting: every trace gets `visible` copied by name from the
  content it rendered last (undefined when never set); `xaxis`/`yaxis` are taken from the
  last content when the user had zoomed (`autorange === false`) and the new one sets no
  range; every `scatter` trace with mode `lines` gets `opacity = 1.0` (smoothing off).
- Plotly's `cleanData`: scatter-like `textposition` normalised ("right" -> "middle
  right"), empty `line` / `marker.line` / `marker` containers deleted, `title` strings
  turned into `{text}`, old colorscale names and `scl`/`reversescl` renamed.
- Plotly's `cleanLayout`: `title` (layout and axes) strings into `{text}`, `xaxis1` into
  `xaxis`, `autorange: "tozero"` into `rangemode`, far-off legend positions clamped.
- Plotly's autotype / autorange write the result into the user's axis objects: a
  cartesian plot's `xaxis` and `yaxis` (created when missing) get `type` (not for
  heatmap-like traces) and, unless a range was given, `autorange: true` and `range`.

The next batch copies the rendered (changed) pane into `consistent_pane_copy`
(`processPane`, existing pane), so the patch after it fails the md5 check and the tab
re-requests the whole env: a reload every other plot update, with a perfect network.

Exact for what decides the hash — which keys exist and every value but one. `range` is
Plotly's autorange result, which depends on the plot's pixel size (marker padding) and
Plotly's padding rules; here it is the data's extent with 5 % padding. A server window
never carries Plotly's value, so the copy is dirty either way; no view reads it.
Checked against real Chromium on the real UI: tests/test_plot_render.py.
Not modelled (no Visdom window here sends them): 3-D scenes, polar and ternary axes,
`anchor` / `overlaying` id cleaning, transforms, colour-string cleaning.
"""

from __future__ import annotations

import math
import re
from typing import Any

from .jsvalue import UNDEFINED, is_number, js_to_string

# Registry.traceIs(trace, 'pie-like' / 'bar-like'): cleanData leaves their textposition alone
PIE_LIKE = frozenset({"pie", "sunburst", "treemap", "funnelarea", "icicle"})
BAR_LIKE = frozenset({"bar", "histogram", "waterfall", "funnel"})
# traces drawn on 2-D cartesian axes (get xaxis/yaxis write-backs); a missing type is scatter
CARTESIAN = frozenset(
    {
        "scatter",
        "scattergl",
        "bar",
        "histogram",
        "box",
        "violin",
        "heatmap",
        "heatmapgl",
        "contour",
        "histogram2d",
        "histogram2dcontour",
        "waterfall",
        "funnel",
        "ohlc",
        "candlestick",
        "image",
        "splom",
    }
)
# axis type comes from the trace, not autotype: Plotly leaves the input's `type` unset
NO_AUTOTYPE = frozenset({"heatmap", "heatmapgl", "contour", "image"})
CARTESIAN_AXIS = re.compile(r"^[xy]axis([2-9]|[1-9][0-9]+)?$")
AUTORANGE_PAD = 0.05  # fraction of the data span added on each side (approximation)


class RenderError(Exception):
    """What the real effect would throw (an uncaught error in a React effect)."""


def render_plot(content: Any, previous: Any) -> None:
    """Apply PlotPane's effect and Plotly.newPlot's write-backs to `content`, in place.

    `previous` is the content object this pane rendered last (usePrevious), or None.
    """
    if not isinstance(content, dict):
        raise RenderError("content is not an object")
    data = content.get("data")
    layout = content.get("layout")
    if not isinstance(data, list):
        raise RenderError("content.data is not an array")
    if isinstance(previous, dict):
        _keep_visibility(data, previous.get("data"))
        if not isinstance(previous.get("layout"), dict) or not isinstance(layout, dict):
            raise RenderError("Cannot read properties of undefined (reading 'xaxis')")
        _keep_zoom(layout, previous["layout"])
    for trace in data:
        if (
            isinstance(trace, dict)
            and trace.get("type") == "scatter"
            and trace.get("mode") == "lines"
        ):
            trace["opacity"] = 1.0
    traces = [t for t in data if isinstance(t, dict)]
    for trace in traces:
        clean_trace(trace)
    if isinstance(layout, dict):
        clean_layout(layout)
        write_axes(layout, traces)


def _keep_visibility(data: list[Any], previous_data: Any) -> None:
    by_name: dict[str, Any] = {}
    if isinstance(previous_data, list):
        for trace in previous_data:
            if isinstance(trace, dict):
                by_name[js_to_string(trace.get("name", UNDEFINED))] = trace.get(
                    "visible", UNDEFINED
                )
    for trace in data:
        if isinstance(trace, dict):
            trace["visible"] = by_name.get(js_to_string(trace.get("name", UNDEFINED)), UNDEFINED)


def _keep_zoom(layout: dict[str, Any], old: dict[str, Any]) -> None:
    for axis in ("xaxis", "yaxis"):
        old_ax, new_ax = old.get(axis, UNDEFINED), layout.get(axis, UNDEFINED)
        new_range_set = isinstance(new_ax, dict) and new_ax.get("autorange", UNDEFINED) is False
        if (
            isinstance(old_ax, dict)
            and old_ax.get("autorange", UNDEFINED) is False
            and not new_range_set
        ):
            layout[axis] = old_ax


def _clean_title(container: Any) -> None:
    # Plotly helpers cleanTitle: `title: "x"` -> `title: {text: "x"}`, titlefont -> title.font …
    if not isinstance(container, dict):
        return
    title = container.get("title", UNDEFINED)
    if isinstance(title, str) or is_number(title):
        container["title"] = {"text": title}
    for old, new in (
        ("titlefont", "font"),
        ("titleposition", "position"),
        ("titleside", "side"),
        ("titleoffset", "offset"),
    ):
        value = container.get(old, UNDEFINED)
        inner = container.get("title")
        if value and not (isinstance(inner, dict) and inner.get(new)):
            if not isinstance(container.get("title"), dict):
                container["title"] = {}
            container["title"][new] = value
            del container[old]


def _empty_container(outer: dict[str, Any], key: str) -> bool:
    return key in outer and isinstance(outer[key], dict) and not outer[key]


def _clean_text_position(value: Any) -> str:
    y, x = "middle", "center"
    if isinstance(value, str):
        y = "top" if "top" in value else "bottom" if "bottom" in value else y
        x = "left" if "left" in value else "right" if "right" in value else x
    return f"{y} {x}"


def clean_trace(trace: dict[str, Any]) -> None:
    """Plotly.cleanData for one trace (the parts Visdom's windows can reach)."""
    if trace.get("type") in ("histogramx", "histogramy"):
        trace["type"] = "histogram"
    kind = trace.get("type")
    for old, new in (("scl", "colorscale"), ("reversescl", "reversescale")):
        if old in trace and new not in trace:
            trace[new] = trace.pop(old)
    if kind not in PIE_LIKE and kind not in BAR_LIKE:
        position = trace.get("textposition", UNDEFINED)
        if isinstance(position, list):
            trace["textposition"] = [_clean_text_position(p) for p in position]
        elif position:
            trace["textposition"] = _clean_text_position(position)
    for holder in (trace, trace.get("marker")):
        if isinstance(holder, dict) and holder.get("colorscale") in ("YIGnBu", "YIOrRd"):
            holder["colorscale"] = {"YIGnBu": "YlGnBu", "YIOrRd": "YlOrRd"}[holder["colorscale"]]
    if _empty_container(trace, "line"):
        del trace["line"]
    if "marker" in trace:
        if isinstance(trace["marker"], dict) and _empty_container(trace["marker"], "line"):
            del trace["marker"]["line"]
        if _empty_container(trace, "marker"):
            del trace["marker"]
    _clean_title(trace)
    _clean_title(trace.get("colorbar"))
    marker = trace.get("marker")
    if isinstance(marker, dict):
        _clean_title(marker.get("colorbar"))


def clean_layout(layout: dict[str, Any]) -> None:
    """Plotly.cleanLayout (cartesian axes, titles, legend position, dragmode)."""
    for one, plain in (("xaxis1", "xaxis"), ("yaxis1", "yaxis")):
        if layout.get(one):
            layout.setdefault(plain, layout[one])
            del layout[one]
    for key in list(layout):
        if not CARTESIAN_AXIS.match(key) or not isinstance(layout[key], dict):
            continue
        ax = layout[key]
        if not ax.get("type"):
            if ax.get("isdate"):
                ax["type"] = "date"
            elif ax.get("islog"):
                ax["type"] = "log"
            elif ax.get("isdate", UNDEFINED) is False and ax.get("islog", UNDEFINED) is False:
                ax["type"] = "linear"
        if ax.get("autorange") in ("withzero", "tozero"):
            ax["autorange"], ax["rangemode"] = True, "tozero"
        for gone in ("islog", "isdate", "categories"):
            ax.pop(gone, None)
        if _empty_container(ax, "domain"):
            del ax["domain"]
        if "autotick" in ax:
            if "tickmode" not in ax:
                ax["tickmode"] = "auto" if ax["autotick"] else "linear"
            del ax["autotick"]
        _clean_title(ax)
    legend = layout.get("legend")
    if isinstance(legend, dict):
        for coord, anchor, hi, lo in (
            ("x", "xanchor", ("left", 1.02), ("right", -0.02)),
            ("y", "yanchor", ("bottom", 1.02), ("top", -0.02)),
        ):
            value = legend.get(coord)
            if is_number(value) and value > 3:
                legend[coord], legend[anchor] = hi[1], hi[0]
            elif is_number(value) and value < -2:
                legend[coord], legend[anchor] = lo[1], lo[0]
    _clean_title(layout)
    if layout.get("dragmode") == "rotate":
        layout["dragmode"] = "orbit"


def write_axes(layout: dict[str, Any], traces: list[dict[str, Any]]) -> None:
    """Autotype and autorange results, written into the input axes of a cartesian plot."""
    shown = [
        t
        for t in traces
        if t.get("type", "scatter") in CARTESIAN and t.get("visible", True) is not False
    ]
    if not shown:
        return
    for axis, letter in (("xaxis", "x"), ("yaxis", "y")):
        ax = layout.get(axis)
        if not isinstance(ax, dict):
            ax = layout[axis] = {}
        if not ax.get("type") and any(t.get("type", "scatter") not in NO_AUTOTYPE for t in shown):
            ax["type"] = "linear"
        given = ax.get("range")
        has_range = isinstance(given, list) and len(given) == 2 and all(is_number(v) for v in given)
        if ax.get("autorange", UNDEFINED) is True or (
            not has_range and ax.get("autorange", UNDEFINED) is not False
        ):
            ax["range"] = _extent(shown, letter)
            ax["autorange"] = True


_PLAIN_NUMBERS = frozenset({int, float})  # not bool: is_number excludes it


def _extent(traces: list[dict[str, Any]], letter: str) -> list[float]:
    values: list[float] = []
    cells: list[float] = []
    for trace in traces:
        column = trace.get(letter)
        if not isinstance(column, list):
            z = trace.get("z")
            if isinstance(z, list) and z:  # heatmap without x/y: cells centred on 0..n-1
                n = len(z[0]) if letter == "x" and isinstance(z[0], list) else len(z)
                cells += [-0.5, n - 0.5]
            continue
        if column and set(map(type, column)) <= _PLAIN_NUMBERS and math.isfinite(sum(column)):
            values += (min(column), max(column))  # all finite numbers: C-speed, same extent
        else:
            values += [v for v in column if is_number(v) and math.isfinite(v)]
    if not values:
        return [min(cells), max(cells)] if cells else [-1, 1]
    lo, hi = min(values + cells), max(values + cells)
    if lo == hi:
        return [lo - 1, hi + 1]
    pad = (hi - lo) * AUTORANGE_PAD
    return [lo - pad, hi + pad]
