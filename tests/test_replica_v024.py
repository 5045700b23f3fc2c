"""The 0.2.4 browser replica on crafted message sequences (frames built like the server does)."""

from __future__ import annotations

import json

import pytest

from visdom_chaos.ids import EventId, send_ms, text_token
from visdom_chaos.wire.replica import (
    Applied,
    ProtocolError,
    Registered,
    RequestEnv,
    SendSocket,
    WindowClosed,
    make_replica,
)
from visdom_chaos.wire.replica.fake_server import FakeServer, server_hash
from visdom_chaos.wire.replica.stablejson import browser_md5

NS = 1_763_900_000_000_000_000


def ns(seq: int) -> int:
    return NS + seq * 1_000_000


def of(effects: list, kind: type) -> list:
    return [e for e in effects if isinstance(e, kind)]


def registered() -> tuple:
    r = make_replica("0.2.4")
    srv = FakeServer("0.2.4")
    effects = r.handle(srv.register("s1"), 0.0)
    return r, srv, effects


def run(r, frames: list[str], t0: float, dt: float = 0.01) -> tuple[list, float]:
    """Feed frames dt apart, then let every timer fire; returns (effects, time)."""
    effects: list = []
    t = t0
    for frame in frames:
        effects += r.handle(frame, t)
        t += dt
    effects += r.tick(t + 1.0)
    return effects, t + 1.0


def keys(ids: list[EventId]) -> list[tuple[str, int]]:
    return [(i.source, i.seq) for i in ids]


def test_unknown_version_names_supported_ones() -> None:
    with pytest.raises(ValueError, match=r"0\.2\.4.*0\.3\.0"):
        make_replica("0.1.8")


def test_register_requests_the_env() -> None:
    r, _, effects = registered()
    # componentDidUpdate (`_firstLoad`) and the setState callback both post for the env
    initial = RequestEnv("initial", ["main"])
    assert effects == [Registered("s1", False), initial, initial]
    assert r.sid == "s1" and r.env_ids == ["main"]
    assert effects[1].path == "env/main"
    # a later register (a reconnect clicked by the user) posts once
    assert r.handle(FakeServer("0.2.4").register("s2"), 5.0) == [Registered("s2", False), initial]


def test_window_renders_after_the_100ms_batch() -> None:
    r, srv, _ = registered()
    assert r.handle(srv.create_text("t", text_token("a", 0, ns(0))), 1.0) == []
    assert r.views() == {}
    assert r.tick(1.05) == []
    effects = r.tick(1.1)
    assert effects == [Applied("main", "t", "window", [EventId("a", 0, ns(0))], [], [], 1)]
    assert r.window("main", "t")["content"] == text_token("a", 0, ns(0))
    assert r.window("other", "t") is None


def test_text_appends_apply_in_order_with_matching_hashes() -> None:
    r, srv, _ = registered()
    run(r, [srv.create_text("t", text_token("a", 0, ns(0)))], 1.0)
    frames = [srv.append_text("t", "a", seq, ns(seq)) for seq in range(1, 11)]
    patch = json.loads(frames[-1])["content"]
    assert {"op": "replace", "path": "/content"} in [
        {"op": o["op"], "path": o["path"]} for o in patch
    ]
    effects, _ = run(r, frames, 3.0, dt=0.2)
    assert of(effects, ProtocolError) == [] and of(effects, RequestEnv) == []
    added = [i for e in of(effects, Applied) for i in e.added]
    assert keys(added) == [("a", s) for s in range(1, 11)]
    assert added[-1].send_ns == ns(10)
    assert keys(r.views()[("main", "t")]) == [("a", s) for s in range(11)]
    assert browser_md5(r.consistent["t"]) == server_hash(srv.windows["t"])


def test_line_appends_use_array_adds_and_apply_in_order() -> None:
    r, srv, _ = registered()
    r.render_writeback = False  # the patch logic alone (renders: test_render_writeback_*)
    run(r, [srv.create_line("l", "src", [0], [ns(0)])], 1.0)
    frames = [srv.append_line("l", "src", seq, ns(seq)) for seq in range(1, 21)]
    paths = [op["path"] for op in json.loads(frames[4])["content"]]
    assert "/content/data/0/x/5" in paths and "/content/data/0/y/5" in paths
    effects, _ = run(r, frames, 3.0, dt=0.15)
    assert of(effects, ProtocolError) == []
    added = [i for e in of(effects, Applied) for i in e.added]
    assert keys(added) == [("src", s) for s in range(1, 21)]
    assert added[3].send_ns == ns(4)  # y (ms) carries the send time back
    assert send_ms(added[3].send_ns) == send_ms(ns(4))
    assert all(e.removed == [] and e.dup == [] for e in of(effects, Applied))


def test_updates_in_one_batch_render_together() -> None:
    r, srv, _ = registered()
    run(r, [srv.create_line("l", "src", [0], [ns(0)])], 1.0)
    effects, _ = run(r, [srv.append_line("l", "src", s, ns(s)) for s in (1, 2, 3)], 3.0, dt=0.001)
    applied = of(effects, Applied)
    assert len(applied) == 1 and keys(applied[0].added) == [("src", 1), ("src", 2), ("src", 3)]


def test_out_of_order_patch_is_a_hash_mismatch_then_env_request() -> None:
    r, srv, _ = registered()
    run(r, [srv.create_line("l", "src", [0], [ns(0)])], 1.0)
    u1 = srv.append_line("l", "src", 1, ns(1))
    u2 = srv.append_line("l", "src", 2, ns(2))
    effects, t = run(r, [u2], 3.0)
    assert [type(e) for e in effects] == [ProtocolError, RequestEnv]
    assert effects[0].kind == "hash_mismatch" and effects[0].win == "l"
    assert effects[1] == RequestEnv("hash_mismatch", ["main"])
    # the consistent copy stays corrupted (patched in place): the late u1 mismatches too
    effects, t = run(r, [u1], t)
    assert [e.kind for e in of(effects, ProtocolError)] == ["hash_mismatch"]
    assert keys(r.views()[("main", "l")]) == [("src", 0)]  # nothing shown from either
    # the env reload the tab asked for brings it back in line
    effects, _ = run(r, srv.env_frames(), t)
    assert keys(r.views()[("main", "l")]) == [("src", 0), ("src", 1), ("src", 2)]
    assert of(effects, ProtocolError) == []


def test_text_patches_out_of_order_make_the_view_go_backwards_silently() -> None:
    r, srv, _ = registered()
    run(r, [srv.create_text("t", text_token("a", 0, ns(0)))], 1.0)
    u1 = srv.append_text("t", "a", 1, ns(1))
    u2 = srv.append_text("t", "a", 2, ns(2))
    effects, _ = run(r, [u2, u1], 3.0, dt=0.3)
    # `replace /content` + contentID makes each patch hash-correct on its own
    assert of(effects, ProtocolError) == []
    applied = of(effects, Applied)
    assert keys(applied[0].added) == [("a", 1), ("a", 2)]
    assert applied[1].removed == [("a", 2)]  # an older snapshot replaced a newer view


def test_patch_conflict_throws_without_request() -> None:
    r, _, _ = registered()
    srv = FakeServer("0.2.4")
    run(r, [srv.create_text("t", "[a#0@1]")], 1.0)
    bad = {
        "command": "window_update",
        "win": "t",
        "content": [
            {"op": "replace", "path": "/contentID", "value": "zzz"},
            {"op": "add", "path": "/content/data/0/x/1", "value": 1},  # content is a string
        ],
        "finalHash": "0" * 32,
    }
    effects, _ = run(r, [json.dumps(bad)], 3.0)
    assert effects == [ProtocolError("patch_conflict", "t", effects[0].detail)]
    assert r.consistent["t"]["contentID"] == "zzz"  # the op before the throw stays applied
    assert r.window("main", "t")["contentID"] != "zzz"  # the rendered pane was not touched


def test_update_for_a_window_arriving_in_the_same_batch_waits_for_it() -> None:
    r, srv, _ = registered()
    frames = [srv.create_line("l", "src", [0], [ns(0)]), srv.append_line("l", "src", 1, ns(1))]
    effects, _ = run(r, frames, 1.0, dt=0.001)
    assert of(effects, ProtocolError) == [] and of(effects, RequestEnv) == []
    assert keys(r.views()[("main", "l")]) == [("src", 0), ("src", 1)]


def test_update_for_unknown_window_retries_3_times_then_requests_env() -> None:
    r, srv, _ = registered()
    srv.create_line("l", "src", [0], [ns(0)])
    u1 = srv.append_line("l", "src", 1, ns(1))
    assert r.handle(u1, 1.0) == []
    assert r.tick(1.0) == []  # first try (setTimeout 0)
    assert r.tick(1.1) == []  # second try
    assert r.tick(1.19) == []
    assert r.tick(1.2) == [RequestEnv("missing_window", ["main"])]  # third try gives up
    assert r.next_timer() is None


def test_full_window_older_than_the_view_removes_ids() -> None:
    r, srv, _ = registered()
    run(r, [srv.create_line("l", "src", [0], [ns(0)])], 1.0)
    old = srv.window_frame("l")
    effects, t = run(r, [srv.append_line("l", "src", s, ns(s)) for s in (1, 2)], 2.0)
    effects, _ = run(r, [old], t)
    assert effects == [Applied("main", "l", "window", [], [("src", 1), ("src", 2)], [], 1)]


def test_duplicate_ids_in_a_window_are_reported() -> None:
    r, srv, _ = registered()
    effects, _ = run(r, [srv.create_line("l", "src", [0, 1, 1], [ns(0), ns(1), ns(1)])], 1.0)
    assert of(effects, Applied)[0].dup == [("src", 1)]
    assert of(effects, Applied)[0].size == 3


@pytest.mark.parametrize("command", ["alive", "frobnicate", None])
def test_unknown_command(command: str | None) -> None:
    r, _, _ = registered()
    effects = r.handle(json.dumps({"command": command, "win": "w"}), 1.0)
    assert effects == [ProtocolError("unknown_command", "w", effects[0].detail)]


@pytest.mark.parametrize(
    "raw", ["not json", '{"command": "window", "y": NaN}', b"\xff\xfe", "null", ""]
)
def test_undecodable(raw: str | bytes) -> None:
    r, _, _ = registered()
    effects = r.handle(raw, 1.0)
    assert [(type(e), e.kind) for e in effects] == [(ProtocolError, "undecodable")]


@pytest.mark.parametrize("command", ["reload", "layout", "env_update", "layout_update"])
def test_non_window_commands_change_no_view(command: str) -> None:
    r, srv, _ = registered()
    run(r, [srv.create_text("t", "[a#0@1]")], 1.0)
    before = r.views()
    effects, _ = run(
        r, [json.dumps({"command": command, "data": {} if command == "reload" else ["main"]})], 3.0
    )
    assert effects == [] and r.views() == before


def test_close_drops_the_window_and_echoes_close() -> None:
    r, srv, _ = registered()
    run(r, [srv.create_text("t", "[a#0@1]")], 1.0)
    effects = r.handle(srv.close("t"), 3.0)
    assert effects == [
        SendSocket({"cmd": "close", "data": "t", "eid": "main"}),
        WindowClosed("main", "t"),
    ]
    assert r.views() == {} and r.window("main", "t") is None and "t" not in r.consistent


def test_readonly_tab_ignores_close() -> None:
    r = make_replica("0.2.4")
    srv = FakeServer("0.2.4")
    r.handle(srv.register("s", readonly=True), 0.0)
    run(r, [srv.create_text("t", "[a#0@1]")], 1.0)
    assert r.handle(srv.close("t"), 3.0) == []
    assert ("main", "t") in r.views()


def test_compare_mode_reloads_on_plain_windows() -> None:
    r = make_replica("0.2.4", env_ids=["a", "b"])
    srv = FakeServer("0.2.4")
    r.handle(srv.register("s"), 0.0)
    window = srv.create_text("t", "[a#0@1]")
    assert r.handle(window, 1.0) == [RequestEnv("compare", ["a", "b"])]
    assert RequestEnv("compare", ["a", "b"]).path == "compare/a+b"
    msg = json.loads(window) | {"has_compare": True}
    effects, _ = run(r, [json.dumps(msg)], 2.0)
    assert of(effects, Applied)[0].env == "a+b"


def test_a_throwing_batch_freezes_the_tab() -> None:
    r, srv, _ = registered()
    weird = {"command": "window", "id": "w", "type": "plot_history", "content": {"data": []}}
    effects, t = run(r, [json.dumps(weird)], 1.0)
    assert [e.kind for e in of(effects, ProtocolError)] == ["render_error"] and r.stuck
    effects, _ = run(r, [srv.create_text("t", "[a#0@1]")], t)
    assert effects == [] and r.views() == {}  # _timeoutID never cleared: nothing renders again


def test_reset_is_a_fresh_tab_that_keeps_local_storage() -> None:
    r, srv, _ = registered()
    run(r, [srv.create_text("t", "[a#0@1]"), srv.create_text("u", "[b#0@1]")], 1.0)
    r.handle(json.dumps({"command": "layout"}), 2.0)  # relayout stores the layouts
    r.env_ids = ["main"]
    r.reset()
    assert r.views() == {} and r.sid is None and r.next_timer() is None
    assert r.window("main", "t") is None and r.consistent == {}
    assert set(r._storage) == {"main_t", "main_u"}  # a refresh keeps localStorage
    fresh = make_replica("0.2.4")
    assert fresh._storage == {}


def test_relayout_after_close_renumbers_i_so_the_second_update_mismatches() -> None:
    r, srv, _ = registered()
    run(r, [srv.create_text(w, f"[{w}#0@1]") for w in ("a", "b", "c")], 1.0)
    effects, t = run(r, [srv.close("a")], 2.0)
    assert r.window("main", "c")["i"] == 1 and srv.windows["c"]["i"] == 2
    assert r.consistent["c"]["i"] == 2  # the copy keeps the server's i ...
    effects, t = run(r, [srv.append_text("c", "c", 1, 2)], t)
    assert (
        of(effects, ProtocolError) == [] and r.consistent["c"]["i"] == 1
    )  # ... until a patch lands
    effects, t = run(r, [srv.append_text("c", "c", 2, 3)], t)
    assert [(e.kind, e.win) for e in of(effects, ProtocolError)] == [("hash_mismatch", "c")]
    assert of(effects, RequestEnv) == [RequestEnv("hash_mismatch", ["main"])]


def test_layout_message_renumbers_rendered_panes_only() -> None:
    r, srv, _ = registered()
    run(r, [srv.create_text("a", "[a#0@1]"), srv.create_text("b", "[b#0@1]")], 1.0)
    srv.windows["b"]["i"] = 5
    run(r, [srv.window_frame("b")], 2.0)
    assert r.window("main", "b")["i"] == 5
    assert r.handle(json.dumps({"command": "layout"}), 3.0) == []
    assert r.window("main", "b")["i"] == 1 and r.consistent["b"]["i"] == 5
