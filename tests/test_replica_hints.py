"""ProtocolError.hint and RequestEnv.trigger_win: the mechanism the replica saw behind an error.

Bookkeeping only: the effects themselves (and their equality) are what the other replica
tests pin down; these say which mechanism each error is laid at.
"""

from __future__ import annotations

import json

from visdom_chaos.ids import text_token
from visdom_chaos.wire.replica import ProtocolError, RequestEnv, make_replica
from visdom_chaos.wire.replica.effects import HINTS
from visdom_chaos.wire.replica.fake_server import FakeServer
from visdom_chaos.wire.replica.records import journal_fields

NS = 1_763_900_000_000_000_000


def ns(seq: int) -> int:
    return NS + seq * 1_000_000


def run(r, frames: list[str], t: float, dt: float = 0.3) -> tuple[list, float]:
    """Frames far enough apart for every batch (100 ms) and retry to settle in between."""
    effects: list = []
    for frame in frames:
        effects += r.handle(frame, t)
        t += dt
        effects += r.tick(t)
    return effects, t


def errors(effects: list) -> list[tuple[str, str | None, str | None]]:
    return [(e.kind, e.win, e.hint) for e in effects if isinstance(e, ProtocolError)]


def test_hint_and_win_are_not_part_of_equality_and_are_journaled_when_set():
    assert ProtocolError("hash_mismatch", "w", "d", hint="relayout") == ProtocolError(
        "hash_mismatch", "w", "d"
    )
    assert RequestEnv("gap", ["main"], trigger_win="w") == RequestEnv("gap", ["main"])
    assert (
        journal_fields(ProtocolError("hash_mismatch", "w", "d", hint="relayout"))[1]["hint"]
        == "relayout"
    )
    assert "hint" not in journal_fields(ProtocolError("hash_mismatch", "w", "d"))[1]
    assert journal_fields(RequestEnv("gap", ["main"], trigger_win="w"))[1] == {
        "reason": "gap",
        "env": "main",
        "win": "w",
    }
    assert set(HINTS) == {"render_writeback", "relayout", "render_batch_race", "server_version"}


def test_024_plot_writeback_is_the_hint_of_every_other_update_mismatch():
    r, srv = make_replica("0.2.4"), FakeServer("0.2.4")
    effects, t = run(r, [srv.register("s"), srv.create_line("w", "a", [0], [ns(0)])], 0.0)
    frames = [srv.append_line("w", "a", k, ns(k)) for k in range(1, 9)]
    effects, _ = run(r, frames, t)
    errs = errors(effects)
    assert errs and all(e == ("hash_mismatch", "w", "render_writeback") for e in errs)
    assert {e.trigger_win for e in effects if isinstance(e, RequestEnv)} == {"w"}


def test_024_patched_hash_copy_has_no_writeback():
    r, srv = make_replica("0.2.4", variant="patched"), FakeServer("0.2.4")
    r.render_writeback = True
    effects, t = run(r, [srv.register("s"), srv.create_line("w", "a", [0], [ns(0)])], 0.0)
    effects, _ = run(r, [srv.append_line("w", "a", k, ns(k)) for k in range(1, 9)], t)
    assert errors(effects) == []


def test_024_relayout_after_close_is_hinted():
    r, srv = make_replica("0.2.4"), FakeServer("0.2.4")
    effects, t = run(
        r, [srv.register("s")] + [srv.create_text(w, f"[{w}#0@1]") for w in ("a", "b", "c")], 0.0
    )
    effects, t = run(
        r, [srv.close("a"), srv.append_text("c", "c", 1, 2), srv.append_text("c", "c", 2, 3)], t
    )
    assert errors(effects) == [("hash_mismatch", "c", "relayout")]


def test_024_updates_overtaking_each_other_in_the_batch_are_a_race():
    """u1 arrives before the new window's 100 ms batch and retries 100 ms later; u2 arrives
    right after the batch and is checked first: u1's retry fails on the copy u2 moved on."""
    r, srv = make_replica("0.2.4"), FakeServer("0.2.4")
    r.render_writeback = False  # only the race
    effects, t = run(r, [srv.register("s")], 0.0)
    timed = [
        (t, srv.create_line("w", "a", [0], [ns(0)])),
        (t + 0.05, srv.append_line("w", "a", 1, ns(1))),
        (t + 0.11, srv.append_line("w", "a", 2, ns(2))),
    ]
    effects = []
    for at, frame in timed:
        effects += r.handle(frame, at)
    effects += r.settle()
    errs = errors(effects)
    assert errs and {h for _, _, h in errs} == {"render_batch_race"}


def test_024_a_plain_mismatch_without_a_known_mechanism_has_no_hint():
    r, srv = make_replica("0.2.4"), FakeServer("0.2.4")
    r.render_writeback = False
    effects, t = run(r, [srv.register("s"), srv.create_line("w", "a", [0], [ns(0)])], 0.0)
    srv.append_line("w", "a", 1, ns(1))  # lost on the wire
    effects, _ = run(r, [srv.append_line("w", "a", 2, ns(2))], t)
    assert [(w, h) for _, w, h in errors(effects)] == [("w", None)]
    # a lost text append heals itself: the next one replaces the whole text
    effects, t = run(r, [srv.create_text("t", text_token("a", 0, ns(0)))], t)
    srv.append_text("t", "a", 1, ns(1))
    effects, _ = run(r, [srv.append_text("t", "a", 2, ns(2))], t)
    assert errors(effects) == []


def test_030_text_version_never_bumped_is_the_servers_numbering():
    r, srv = make_replica("0.3.0"), FakeServer("0.3.0")
    effects, t = run(r, [srv.register("s"), srv.create_text("t", text_token("a", 0, ns(0)))], 0.0)
    effects, t = run(r, [srv.append_text("t", "a", k, ns(k)) for k in (1, 2)], t)
    assert errors(effects) == [("version_gap", "t", "server_version")] * 2
    assert [e.trigger_win for e in effects if isinstance(e, RequestEnv)] == ["t"]
    # a frame lost on the wire: the ids skip too, so it is not the server's numbering
    srv.append_text("t", "a", 3, ns(3))
    effects, t = run(r, [srv.append_text("t", "a", 4, ns(4))], t)
    assert errors(effects) == [("version_gap", "t", None)]
    # after the env reload the numbering is the server's again
    effects, t = run(r, srv.env_frames() + [srv.append_text("t", "a", 5, ns(5))], t)
    assert errors(effects) == [("version_gap", "t", "server_version")]


def test_030_plot_update_lost_on_the_wire_has_no_hint():
    r, srv = make_replica("0.3.0"), FakeServer("0.3.0")
    effects, t = run(r, [srv.register("s"), srv.create_line("w", "a", [0], [ns(0)])], 0.0)
    effects, t = run(r, [srv.append_line("w", "a", 1, ns(1))], t)
    assert errors(effects) == []
    srv.append_line("w", "a", 2, ns(2))  # lost
    effects, t = run(r, [srv.append_line("w", "a", 3, ns(3))], t)
    assert errors(effects) == [("version_gap", "w", None)]
    frame = json.loads(srv.append_line("w", "a", 4, ns(4)))
    frame["version"] -= 1  # the server repeats a version while the ids go on
    effects, _ = run(r, srv.env_frames()[-1:] + [json.dumps(frame)], t)
    assert errors(effects) == [("version_gap", "w", "server_version")]
