"""The replica of 0.3.0's patched page (js/api/Delivery.js rules, wire/replica/patched.py)
on hand-made message streams: a seq skip is the server's conflation of a slow client's
queue (queued updates of a window replaced by one full window with the newest seq), not
a loss, over polling; on a WebSocket it asks for a resume, and a full window applies
even then. 0.2.4's page has the same rules in its own js/Delivery.js, plus a hold."""

from __future__ import annotations

import json

from visdom_chaos.wire.replica import REPLICAS, ProtocolError, RequestEnv, SendSocket
from visdom_chaos.wire.replica.patched import make_patched_replica


def window(win: str, seq: int, n: int, version: int) -> dict:
    text = "<br>".join(f"[src-{win}#{i}@1]" for i in range(n))
    return {
        "command": "window",
        "id": win,
        "type": "text",
        "content": text,
        "contentID": "c",
        "version": version,
        "eid": "e",
        "seq": seq,
        "epoch": "E",
        "title": "",
        "i": 0,
        "inflate": True,
        "height": None,
        "width": None,
    }


def update(win: str, seq: int, n: int, version: int) -> dict:
    text = window(win, seq, n, version)["content"]
    return {
        "command": "window_update",
        "win": win,
        "eid": "e",
        "content": [{"op": "replace", "path": "/content", "value": text}],
        "version": version,
        "seq": seq,
        "epoch": "E",
    }


def feed(transport: str, messages: list[dict], version: str = "0.3.0"):
    tab = make_patched_replica(REPLICAS[version], env_ids=["e"], transport=transport)
    effects, now = [], 0.0
    stream = [
        {"command": "register", "data": "s1", "readonly": False},
        {"command": "reload", "data": {}, "eid": "e", "snapshot": True, "seq": 1, "epoch": "E"},
        window("a", 1, 1, 1),
        window("b", 1, 1, 1),
        {"command": "layout", "eid": "e", "snapshot": True, "seq": 1, "epoch": "E"},
        *messages,
    ]
    for msg in stream:
        now += 0.01
        effects += tab.handle(json.dumps(msg), now)
    effects += tab.settle()
    resumes = [
        e.message for e in effects if isinstance(e, SendSocket) and e.message["cmd"] == "resume"
    ]
    views = {win: [i.seq for i in ids] for (_, win), ids in tab.views().items()}
    # anything that would make the page reload the env, past its first load
    bad = [e for e in effects if isinstance(e, ProtocolError)]
    bad += [e for e in effects if isinstance(e, RequestEnv) and e.reason != "initial"]
    tab.bad = bad
    return tab, resumes, views


# b's updates at seq 2 and 3 were conflated into b's full window at seq 4
CONFLATED = [window("b", 4, 3, 3), update("a", 5, 2, 2)]


def test_polling_takes_a_conflation_skip_without_a_resume():
    tab, resumes, views = feed("polling", CONFLATED)
    assert resumes == [] and tab.bad == []
    assert views == {"a": [0, 1], "b": [0, 1, 2]}
    assert tab.resume_state["seq"] == 5


def test_websocket_resumes_on_the_skip_but_applies_the_full_window():
    tab, resumes, views = feed("websocket", CONFLATED)
    assert resumes == [{"cmd": "resume", "sid": "s1", "eid": "e", "seq": 1, "epoch": "E"}]
    assert views["b"] == [0, 1, 2]  # the full window is the window's state: applied
    assert views["a"] == [0]  # a's update waits for the replay


def test_updates_older_than_the_windows_full_state_are_dropped():
    # the replay brings b's original updates after b's newer full window: they are
    # dropped (a version gap otherwise), and still count for the seq (no second resume)
    older = [
        *CONFLATED,
        {"command": "resumed", "mode": "replay", "sid": "s1", "eid": "e", "from": 1, "seq": 5}
        | {"epoch": "E"},
        update("b", 2, 2, 2),
        update("b", 3, 3, 3),
        update("b", 4, 3, 3),
        update("a", 5, 2, 2),
    ]
    tab, resumes, views = feed("websocket", older)
    assert views == {"a": [0, 1], "b": [0, 1, 2]}
    assert len(resumes) == 1 and tab.resume_state["seq"] == 5
    assert tab.bad == []


def test_024_is_in_source_on_both_transports_with_the_hold():
    # 0.2.4's js/Delivery.js: the same rules under both transports (the App in main.js
    # and Legacy.js), plus the hold behind a new window (tests/test_replica_delivery_024.py
    # checks it against the JS)
    for transport in ("websocket", "polling"):
        tab = make_patched_replica(REPLICAS["0.2.4"], env_ids=["e"], transport=transport)
        assert tab.in_source and tab.holds_new_windows and tab.keep_checked_copy
        assert tab.resume_by_sid is (transport == "websocket")
