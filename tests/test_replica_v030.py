"""The 0.3.0 browser replica on crafted message sequences (frames built like the server does)."""

from __future__ import annotations

import json

import pytest

from visdom_chaos.ids import EventId, text_token
from visdom_chaos.wire.replica import (
    Applied,
    ProtocolError,
    Registered,
    RequestEnv,
    SendSocket,
    WindowClosed,
    make_replica,
)
from visdom_chaos.wire.replica.fake_server import FakeServer

NS = 1_763_900_000_000_000_000


def ns(seq: int) -> int:
    return NS + seq * 1_000_000


def of(effects: list, kind: type) -> list:
    return [e for e in effects if isinstance(e, kind)]


def keys(ids: list[EventId]) -> list[tuple[str, int]]:
    return [(i.source, i.seq) for i in ids]


def registered(**kw: object) -> tuple:
    r = make_replica("0.3.0", **kw)
    srv = FakeServer("0.3.0")
    effects = r.handle(srv.register("s1"), 0.0)
    return r, srv, effects


def run(r, frames: list[str], t0: float, dt: float = 0.01) -> tuple[list, float]:
    effects: list = []
    t = t0
    for frame in frames:
        effects += r.handle(frame, t)
        t += dt
    effects += r.tick(t + 1.0)
    return effects, t + 1.0


def test_first_register_queries_the_env_twice_later_ones_once() -> None:
    r, srv, effects = registered()
    # useEffect([sessionInfo]) and then useEffect([mounted.current]) each call sendEnvQuery
    assert effects == [
        Registered("s1", False),
        RequestEnv("initial", ["main"]),
        RequestEnv("initial", ["main"]),
    ]
    # a user reconnect on the same tab: new socket, new register, one query
    assert r.handle(srv.register("s2"), 5.0) == [
        Registered("s2", False),
        RequestEnv("initial", ["main"]),
    ]
    assert r.sid == "s2"


def test_line_appends_pass_the_version_check_in_order() -> None:
    r, srv, _ = registered()
    run(r, [srv.create_line("l", "src", [0], [ns(0)])], 1.0)
    frames = [srv.append_line("l", "src", s, ns(s)) for s in range(1, 21)]
    assert [json.loads(f)["version"] for f in frames[:3]] == [2, 3, 4]
    assert any(op["path"] == "/content/data/0/x/1" for op in json.loads(frames[0])["content"])
    effects, _ = run(r, frames, 3.0, dt=0.15)
    assert of(effects, ProtocolError) == [] and of(effects, RequestEnv) == []
    added = [i for e in of(effects, Applied) for i in e.added]
    assert keys(added) == [("src", s) for s in range(1, 21)]
    assert r.window("main", "l")["version"] == 21


def test_text_append_keeps_version_so_every_append_reloads_the_env() -> None:
    # real 0.3.0: UpdateHandler.update returns before update_window for text, so the
    # version is not bumped and updateWindow's `version == pane.version + 1` fails
    r, srv, _ = registered()
    run(r, [srv.create_text("t", text_token("a", 0, ns(0)))], 1.0)
    u1 = srv.append_text("t", "a", 1, ns(1))
    assert json.loads(u1)["version"] == 1
    effects, t = run(r, [u1], 3.0)
    assert [type(e) for e in effects] == [ProtocolError, RequestEnv]
    assert effects[0].kind == "version_gap" and effects[1] == RequestEnv("gap", ["main"])
    # a second one while the reload is in flight: dropped, no second request
    effects, t = run(r, [srv.append_text("t", "a", 2, ns(2))], t)
    assert [e.kind for e in of(effects, ProtocolError)] == ["version_gap"] and of(
        effects, RequestEnv
    ) == []
    # the env's windows clear the in-flight flag and bring the view up to date
    effects, t = run(r, srv.env_frames(), t)
    assert keys(r.views()[("main", "t")]) == [("a", 0), ("a", 1), ("a", 2)]
    effects, _ = run(r, [srv.append_text("t", "a", 3, ns(3))], t)
    assert of(effects, RequestEnv) == [RequestEnv("gap", ["main"])]


def test_out_of_order_update_is_dropped_then_the_late_one_fits() -> None:
    r, srv, _ = registered()
    run(r, [srv.create_line("l", "src", [0], [ns(0)])], 1.0)
    u2 = srv.append_line("l", "src", 1, ns(1))
    u3 = srv.append_line("l", "src", 2, ns(2))
    effects, t = run(r, [u3], 3.0)
    assert [type(e) for e in effects] == [ProtocolError, RequestEnv] and effects[
        0
    ].kind == "version_gap"
    effects, _ = run(r, [u2], t)
    assert of(effects, ProtocolError) == []
    assert keys(r.views()[("main", "l")]) == [("src", 0), ("src", 1)]  # seq 2 waits for the reload


def test_update_for_a_pane_still_in_the_batch_is_accepted() -> None:
    r, srv, _ = registered()
    frames = [srv.create_line("l", "src", [0], [ns(0)]), srv.append_line("l", "src", 1, ns(1))]
    effects, _ = run(r, frames, 1.0, dt=0.001)
    assert of(effects, ProtocolError) == []
    assert keys(r.views()[("main", "l")]) == [("src", 0), ("src", 1)]


def test_patch_conflict_in_the_batch_freezes_the_tab() -> None:
    r, srv, _ = registered()
    run(r, [srv.create_text("t", "[a#0@1]")], 1.0)
    bad = {
        "command": "window_update",
        "win": "t",
        "eid": "main",
        "version": 2,
        "content": [{"op": "test", "path": "/title", "value": "not the title"}],
    }
    effects, t = run(r, [json.dumps(bad)], 3.0)
    assert [(type(e), e.kind) for e in effects] == [(ProtocolError, "patch_conflict")]
    assert of(effects, RequestEnv) == [] and r.stuck
    effects, _ = run(r, [srv.create_text("u", "[b#0@1]")], t)
    assert effects == [] and ("main", "u") not in r.views()


def test_windows_of_another_env_are_ignored() -> None:
    r, _, _ = registered()
    other = FakeServer("0.3.0", env="other")
    effects, _ = run(r, [other.create_text("t", "[a#0@1]")], 1.0)
    assert effects == [] and r.views() == {}


def test_compare_mode() -> None:
    r, srv, _ = registered(env_ids=["a", "b"])
    msg = json.loads(srv.create_text("t", "[a#0@1]"))
    assert r.handle(json.dumps(msg), 1.0) == [RequestEnv("compare", ["a", "b"])]
    effects, _ = run(r, [json.dumps(msg | {"has_compare": True})], 2.0)
    assert of(effects, Applied)[0].env == "a+b"


def test_full_window_older_than_the_view_removes_ids() -> None:
    r, srv, _ = registered()
    run(r, [srv.create_line("l", "src", [0], [ns(0)])], 1.0)
    old = srv.window_frame("l")
    _, t = run(r, [srv.append_line("l", "src", 1, ns(1))], 2.0)
    effects, _ = run(r, [old], t)
    assert effects == [Applied("main", "l", "window", [], [("src", 1)], [], 1)]


def test_duplicate_ids_in_a_window() -> None:
    r, srv, _ = registered()
    effects, _ = run(r, [srv.create_text("t", "[a#1@5] [a#1@5] [a#2@6]")], 1.0)
    assert of(effects, Applied)[0].dup == [("a", 1)]


def test_close_and_readonly() -> None:
    r, srv, _ = registered()
    run(r, [srv.create_text("t", "[a#0@1]")], 1.0)
    assert r.handle(srv.close("t"), 3.0) == [
        SendSocket({"cmd": "close", "data": "t", "eid": "main"}),
        WindowClosed("main", "t"),
    ]
    ro = make_replica("0.3.0")
    ro.handle(srv.register("s", readonly=True), 0.0)
    run(ro, [srv.create_text("t", "[a#0@1]")], 1.0)
    assert ro.handle(srv.close("t"), 3.0) == [] and ("main", "t") in ro.views()


def test_batch_closure_resurrects_a_pane_closed_before_it_commits() -> None:
    # processBatchedPanes starts from the panes of the render that scheduled it
    r, srv, _ = registered()
    run(r, [srv.create_text("t", "[a#0@1]")], 1.0)
    r.handle(srv.create_text("u", "[b#0@1]"), 3.0)
    assert of(r.handle(srv.close("t"), 3.01), WindowClosed) == [WindowClosed("main", "t")]
    r.tick(3.2)
    assert ("main", "t") in r.views() and ("main", "u") in r.views()


def test_polling_rewrites_nan_websocket_does_not() -> None:
    frame = '{"command": "window", "id": "w", "type": "text", "content": "[a#0@1]", "version": 1, "y": NaN}'
    ws = make_replica("0.3.0")
    assert [e.kind for e in ws.handle(frame, 0.0)] == ["undecodable"]
    poll = make_replica("0.3.0", transport="polling")
    poll.handle('{"command": "register", "data": "s"}', 0.0)
    effects, _ = run(poll, [frame], 1.0)
    assert keys(poll.views()[("main", "w")]) == [("a", 0)]


@pytest.mark.parametrize(
    "command", ["undo_state", "notification", "reload", "layout", "layout_update", "env_update"]
)
def test_non_window_commands_change_no_view(command: str) -> None:
    r, srv, _ = registered()
    run(r, [srv.create_text("t", "[a#0@1]")], 1.0)
    before = r.views()
    assert r.handle(json.dumps({"command": command, "data": {"message": "x"}}), 3.0) == []
    assert r.views() == before


def test_unknown_command() -> None:
    r, _, _ = registered()
    effects = r.handle('{"command": "alive", "data": "vis_alive"}', 1.0)
    assert [(type(e), e.kind) for e in effects] == [(ProtocolError, "unknown_command")]


def test_bad_transport_is_refused() -> None:
    with pytest.raises(ValueError):
        make_replica("0.3.0", transport="carrier-pigeon")
