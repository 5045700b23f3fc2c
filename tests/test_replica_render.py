"""What a plot render writes back into 0.2.4's panes (plot_render.py), and what it costs.

Pure: the write-back rules one by one, then the 0.2.4 replica against a FakeServer that
answers every env request. The rules themselves are checked against real Chromium in
tests/test_plot_render.py, the reload counts against real pages in tests/test_fidelity.py.
"""

from __future__ import annotations

import copy
import json

from visdom_chaos.ids import ids_in_window
from visdom_chaos.wire.replica import ProtocolError, RequestEnv, make_replica
from visdom_chaos.wire.replica.fake_server import FakeServer
from visdom_chaos.wire.replica.jsvalue import UNDEFINED, js_json_clone
from visdom_chaos.wire.replica.plot_render import clean_layout, clean_trace, render_plot
from visdom_chaos.wire.replica.stablejson import browser_md5

NS = 1_763_900_000_000_000_000


def visdom_line_content() -> dict:
    # what 0.2.4's vis.line(X, Y, opts=dict(title=..., xlabel=..., ylabel=...)) stores
    return {
        "data": [
            {
                "x": [0, 1, 2],
                "y": [0, 1, 4],
                "name": "1",
                "type": "scatter",
                "mode": "lines",
                "textposition": "right",
                "line": {},
                "marker": {"size": 10, "symbol": "dot", "line": {"color": "#000000", "width": 0.5}},
            }
        ],
        "layout": {
            "showlegend": False,
            "title": "Line",
            "margin": {"l": 60, "r": 60, "t": 60, "b": 60},
            "xaxis": {"title": "step"},
            "yaxis": {"title": "loss"},
        },
    }


def test_render_writes_what_the_page_writes_into_a_visdom_line() -> None:
    content = visdom_line_content()
    render_plot(content, None)
    trace, layout = content["data"][0], content["layout"]
    assert "line" not in trace  # empty container deleted by cleanData
    assert trace["marker"]["line"] == {"color": "#000000", "width": 0.5}  # not empty: kept
    assert trace["textposition"] == "middle right" and trace["opacity"] == 1.0
    assert "visible" not in trace  # first render: no previous content to copy it from
    assert layout["title"] == {"text": "Line"}
    for axis, title in (("xaxis", "step"), ("yaxis", "loss")):
        assert layout[axis]["title"] == {"text": title}
        assert layout[axis]["type"] == "linear" and layout[axis]["autorange"] is True
        lo, hi = layout[axis]["range"]
        assert lo < hi
    assert layout["margin"] == {"l": 60, "r": 60, "t": 60, "b": 60}


def test_markers_get_no_opacity_and_a_given_range_is_kept() -> None:
    content = {
        "data": [{"x": [1, 2], "y": [3, 4], "type": "scatter", "mode": "markers"}],
        "layout": {"xaxis": {"range": [0, 10]}},
    }
    render_plot(content, None)
    assert "opacity" not in content["data"][0]
    assert content["layout"]["xaxis"] == {
        "range": [0, 10],
        "type": "linear",
    }  # no autorange written
    assert content["layout"]["yaxis"]["autorange"] is True


def test_heatmap_gets_ranges_but_no_type_and_pie_no_axes() -> None:
    heat = {"data": [{"z": [[1, 0], [0, 1]], "type": "heatmap"}], "layout": {}}
    render_plot(heat, None)
    assert heat["layout"]["xaxis"] == {"range": [-0.5, 1.5], "autorange": True}
    pie = {
        "data": [{"values": [1, 2], "type": "pie", "textposition": "right"}],
        "layout": {"title": 3},
    }
    render_plot(pie, None)
    assert pie["layout"] == {"title": {"text": 3}}  # no axes for a pie; numbers become text too
    assert pie["data"][0]["textposition"] == "right"  # pie-like: left alone


def test_clean_rules_one_by_one() -> None:
    trace = {
        "type": "histogramy",
        "scl": "Viridis",
        "textposition": ["top", "bottom left"],
        "marker": {"line": {}},
        "titlefont": {"size": 3},
    }
    clean_trace(trace)
    assert trace["type"] == "histogram" and trace["colorscale"] == "Viridis" and "scl" not in trace
    assert trace["textposition"] == ["top", "bottom left"]  # histogram is bar-like: untouched
    assert "marker" not in trace  # marker.line empty -> deleted, then marker empty -> deleted
    assert trace["title"] == {"font": {"size": 3}} and "titlefont" not in trace
    layout = {
        "xaxis1": {"autotick": False, "isdate": False, "islog": False},
        "yaxis": {"autorange": "tozero"},
        "legend": {"x": 5, "y": -4},
        "dragmode": "rotate",
    }
    clean_layout(layout)
    assert "xaxis1" not in layout
    assert layout["xaxis"] == {"tickmode": "linear", "type": "linear"}
    assert layout["yaxis"] == {"autorange": True, "rangemode": "tozero"}
    assert layout["legend"] == {"x": 1.02, "xanchor": "left", "y": -0.02, "yanchor": "top"}
    assert layout["dragmode"] == "orbit"


def test_second_render_copies_visibility_and_a_user_zoom_from_the_previous_content() -> None:
    old = {
        "data": [
            {"name": "a", "x": [0], "y": [0], "visible": "legendonly"},
            {"name": "b", "x": [0], "y": [0]},
        ],
        "layout": {"xaxis": {"range": [5, 6], "autorange": False}, "yaxis": {}},
    }
    new = {
        "data": [{"name": "a", "x": [0, 1], "y": [0, 1]}, {"name": "b", "x": [0, 1], "y": [0, 1]}],
        "layout": {"xaxis": {"title": "t"}},
    }
    render_plot(new, old)
    assert new["data"][0]["visible"] == "legendonly"
    assert new["data"][1]["visible"] is UNDEFINED  # set to undefined: JSON and md5 skip it
    assert "visible" not in js_json_clone(new["data"][1])
    assert new["layout"]["xaxis"] is old["layout"]["xaxis"]  # the zoom survives the update


def test_a_rendered_window_no_longer_hashes_like_the_server_window() -> None:
    srv = FakeServer("0.2.4")
    srv.create_line("l", "src", [0], [NS])
    srv.create_text("t", "[txt#0@1]")
    for win in ("l", "t"):
        window = copy.deepcopy(srv.windows[win])
        before = browser_md5(window)
        if window["type"] == "plot":
            render_plot(window["content"], None)
            assert browser_md5(window) != before  # what the next batch copies: a dirty copy
        else:
            assert browser_md5(window) == before


def drive(
    script: list[tuple[float, str]],
    writeback: bool = True,
    variant: str = "stock",
    transport: str = "websocket",
) -> tuple[list, FakeServer, object]:
    """Line and text windows created at 1.0, then appends at the given times; every env
    request answered at once with the server's env (load_env)."""
    r = make_replica("0.2.4", transport=transport, variant=variant)
    r.render_writeback = writeback
    srv = FakeServer("0.2.4")
    effects: list = []

    def answer(pending: list, t: float) -> None:
        while pending:
            effect = pending.pop(0)
            effects.append((t, effect))
            if isinstance(effect, RequestEnv):
                for frame in srv.env_frames():
                    pending += r.handle(frame, t)

    answer(r.handle(srv.register(), 0.0), 0.0)
    answer(r.handle(srv.create_line("l", "src", [0], [NS]), 1.0), 1.0)
    answer(r.handle(srv.create_text("t", "[txt#0@1]"), 1.0), 1.0)
    seqs = {"line": 0, "text": 0}

    def run_timers(until: float) -> None:  # each timer at its due time, like the page
        for _ in range(1000):
            due = r.next_timer()
            if due is None or due > until:
                return
            answer(r.tick(due), due)

    for t, kind in script:
        run_timers(t)
        seqs[kind] += 1
        frame = (
            srv.append_line("l", "src", seqs[kind], NS + seqs[kind])
            if kind == "line"
            else srv.append_text("t", "txt", seqs[kind], NS + seqs[kind])
        )
        answer(r.handle(frame, t), t)
    run_timers(float("inf"))
    return effects, srv, r


def test_every_other_line_update_reloads_the_env_with_a_perfect_server() -> None:
    # u1 passes (the copy is the clean window), its batch copies the rendered pane into
    # consistent_pane_copy, u2 fails the hash and re-fetches the env; the fresh window
    # resets the copy, its render dirties the pane again: u3 passes, u4 fails, ...
    script = [(round(1.35 + 0.15 * k, 2), "line") for k in range(10)]
    effects, srv, r = drive(script)
    mismatch_at = [t for t, e in effects if isinstance(e, ProtocolError)]
    assert [e.kind for _, e in effects if isinstance(e, ProtocolError)] == ["hash_mismatch"] * 5
    assert mismatch_at == [t for t, _ in script[1::2]]
    assert sum(isinstance(e, RequestEnv) and e.reason == "hash_mismatch" for _, e in effects) == 5
    assert r.views()[("main", "l")] == ids_in_window(srv.windows["l"])  # every reload heals


def test_text_windows_and_the_logic_alone_never_mismatch() -> None:
    script = [(round(1.35 + 0.15 * k, 2), "text") for k in range(10)]
    effects, _, _ = drive(script)
    assert [e for _, e in effects if isinstance(e, ProtocolError)] == []
    line = [(round(1.35 + 0.15 * k, 2), "line") for k in range(10)]
    effects, _, _ = drive(line, writeback=False)
    assert [e for _, e in effects if isinstance(e, ProtocolError)] == []


def test_a_reload_that_changes_nothing_does_not_rerender_the_plot() -> None:
    # PlotPane is memoised on contentID: an env answer carrying the contentID already on
    # screen is not rendered, so the fresh (clean) object stays clean for one more update
    r = make_replica("0.2.4")
    srv = FakeServer("0.2.4")
    r.handle(srv.register(), 0.0)
    r.handle(srv.create_line("l", "src", [0], [NS]), 1.0)
    r.tick(1.2)
    for frame in srv.env_frames():  # nothing changed on the server: same contentID
        r.handle(frame, 1.3)
    r.tick(1.45)
    assert "opacity" not in json.dumps(js_json_clone(r.window("main", "l")))
    errors = []
    for k, t in enumerate((1.6, 1.8, 2.0), start=1):
        errors += [
            (k, e.kind)
            for e in r.handle(srv.append_line("l", "src", k, NS + k), t) + r.tick(t + 0.15)
            if isinstance(e, ProtocolError)
        ]
    assert errors == [(3, "hash_mismatch")]  # not u2: the reload's pane was never rendered


def test_patch_0011_keeps_the_checked_copy_and_the_storm_stops() -> None:
    # the patched page (visdom-hashcopy.js) keeps _checkWindow's copy when the batch
    # processes the rendered pane itself: renders still write into the pane, never into
    # the copy the md5 is checked against
    script = [(round(1.35 + 0.15 * k, 2), "line") for k in range(10)]
    for transport in ("websocket", "polling"):  # the page loads it on both transports
        r = make_replica("0.2.4", transport=transport, variant="patched")
        assert r.keep_checked_copy is True
    effects, srv, r = drive(script, variant="patched")
    assert [e for _, e in effects if isinstance(e, ProtocolError)] == []
    assert [e.reason for _, e in effects if isinstance(e, RequestEnv)] == ["initial", "initial"]
    assert r.views()[("main", "l")] == ids_in_window(srv.windows["l"])
    assert "opacity" in json.dumps(
        js_json_clone(r.window("main", "l"))
    )  # the pane is still rendered into
    assert make_replica("0.2.4").keep_checked_copy is False
