"""Replica effects -> journal records, env request bodies, and rare throw paths."""

from __future__ import annotations

import json

from visdom_chaos.ids import EventId
from visdom_chaos.journal import RECORD_TYPES
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
from visdom_chaos.wire.replica.records import journal_fields


def test_effects_map_to_journal_records() -> None:
    applied = Applied("main", "w", "window_update", [EventId("a", 1, 5)], [("a", 0)], [("a", 1)], 2)
    assert journal_fields(applied) == (
        "apply",
        {
            "env": "main",
            "win": "w",
            "command": "window_update",
            "added": [["a", 1, 5]],
            "removed": [["a", 0]],
            "dup": [["a", 1]],
            "size": 2,
        },
    )
    assert journal_fields(RequestEnv("hash_mismatch", ["a", "b"])) == (
        "resync",
        {"reason": "hash_mismatch", "env": "a+b"},
    )
    assert journal_fields(ProtocolError("undecodable", None, "x")) == (
        "protocol_error",
        {"kind": "undecodable", "win": None, "detail": "x"},
    )
    assert journal_fields(Registered("s", False)) == ("register", {"sid": "s"})
    assert journal_fields(WindowClosed("main", "w"))[1]["command"] == "close"
    assert journal_fields(SendSocket({"cmd": "close"})) is None
    for effect in (applied, RequestEnv("initial", ["main"]), Registered("s", True)):
        assert journal_fields(effect)[0] in RECORD_TYPES


def test_env_request_path_and_body_per_version() -> None:
    old = make_replica("0.2.4", env_ids=["a", "b"])
    old.handle('{"command": "register", "data": "s1"}', 0.0)
    assert old.request(RequestEnv("initial", ["a", "b"])) == ("compare/a+b", {"sid": "s1"})
    new = make_replica("0.3.0", env_ids=["a", "b"])
    new.handle('{"command": "register", "data": "s2"}', 0.0)
    assert new.request(RequestEnv("initial", ["a", "b"])) == (
        "compare/a+b",
        {"sid": "s2", "show_all": False},
    )
    assert new.request(RequestEnv("initial", ["main"])) == ("env/main", {"sid": "s2"})


def test_v024_md5_of_undefined_throws_like_the_md5_package() -> None:
    r = make_replica("0.2.4")
    srv = FakeServer("0.2.4")
    r.handle(srv.register(), 0.0)
    r.handle(srv.create_text("t", "[a#0@1]"), 0.5)
    r.tick(1.0)
    root = {
        "command": "window_update",
        "win": "t",
        "content": [{"op": "replace", "path": ""}],
        "finalHash": "x",
    }
    effects = r.handle(json.dumps(root), 2.0) + r.tick(3.0)
    assert [(type(e), e.kind) for e in effects] == [(ProtocolError, "patch_conflict")]
    assert "Illegal argument" in effects[0].detail


def test_settle_fires_pending_batches_and_retries() -> None:
    r = make_replica("0.2.4")
    srv = FakeServer("0.2.4")
    r.handle(srv.register(), 0.0)
    r.handle(srv.create_text("t", "[a#0@1]"), 1.0)
    srv.create_text("gone", "[b#0@1]")
    r.handle(srv.append_text("gone", "b", 1, 2), 1.0)  # unknown window: 3 tries
    effects = r.settle()
    assert ("main", "t") in r.views() and r.next_timer() is None
    assert RequestEnv("missing_window", ["main"]) in effects
