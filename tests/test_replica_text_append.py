"""The patched page's text appends (patches 0.2.4/0014, 0.3.0/0011), in the replica:
the page's Delivery.js says hello on every connection, turns `text_append` into the whole window
for the stock tab, trims like 0.3.0's max_text_lines, and asks for a snapshot when
it does not hold the window. No server: messages as the patched server sends them."""

from __future__ import annotations

import pytest

from visdom_chaos.ids import ids_in_window, text_token
from visdom_chaos.wire.frames import WireReader
from visdom_chaos.wire.replica import ProtocolError, RequestEnv, SendSocket, make_replica
from visdom_chaos.wire.replica.patched import HELLO, drop_lines

EPOCH = "e0"


def window(version: str, content: str, seq: int) -> dict:
    msg = {
        "command": "window",
        "id": "t",
        "title": "",
        "inflate": True,
        "width": None,
        "height": None,
        "type": "text",
        "content": content,
        "contentID": "c0",
        "i": 0,
        "seq": seq,
        "epoch": EPOCH,
    }
    if version == "0.3.0":
        msg.update(eid="main", version=1)
    return msg


def snapshot_start(seq: int) -> list[dict]:
    return [
        {
            "command": "reload",
            "data": {},
            "eid": "main",
            "snapshot": True,
            "seq": seq,
            "epoch": EPOCH,
        }
    ]


def snapshot_end(seq: int) -> dict:
    return {"command": "layout", "eid": "main", "snapshot": True, "seq": seq, "epoch": EPOCH}


def delta(version: str, i: int, seq: int, trim: int = 0) -> dict:
    msg = {
        "command": "text_append",
        "win": "t",
        "eid": "main",
        "data": "<br>" + text_token("src-0", i, 1_000 + i),
        "contentID": f"c{seq}",
        "seq": seq,
        "epoch": EPOCH,
    }
    if version == "0.3.0":
        msg.update(trim=trim, version=seq)
    return msg


class Feed:
    def __init__(self, version: str) -> None:
        self.tab = make_replica(version, variant="patched")
        self.now = 0.0
        self.effects: list = []

    def __call__(self, *msgs: dict) -> list:
        out: list = []
        for m in msgs:
            self.now += 0.01
            out += self.tab.handle(m, self.now)
        self.effects += out
        return out

    def settle(self) -> None:
        self.now += 5
        self.effects += self.tab.settle()

    def shown(self) -> list[int]:
        return [e.seq for e in self.tab.views().get(("main", "t"), [])]


def opened(version: str) -> Feed:
    feed = Feed(version)
    feed({"command": "register", "data": "sid-1", "readonly": False})
    feed(*snapshot_start(1), window(version, "start", 1), snapshot_end(1))
    feed.settle()
    return feed


@pytest.mark.parametrize("version", ["0.2.4", "0.3.0"])
def test_every_register_says_hello_first(version):
    feed = Feed(version)
    first = feed({"command": "register", "data": "sid-1", "readonly": False})
    sends = [e.message for e in first if isinstance(e, SendSocket)]
    assert sends == [HELLO]
    feed(*snapshot_start(1), window(version, "start", 1), snapshot_end(1))
    again = feed({"command": "register", "data": "sid-2", "readonly": False})  # a reconnect
    sends = [e.message for e in again if isinstance(e, SendSocket)]
    assert [m["cmd"] for m in sends] == ["hello", "resume"]
    assert not [e for e in again if isinstance(e, RequestEnv)]


@pytest.mark.parametrize("version", ["0.2.4", "0.3.0"])
def test_text_appends_show_in_order_without_errors_or_reloads(version):
    feed = opened(version)
    for i in range(50):
        feed(delta(version, i, seq=2 + i))
    feed.settle()
    assert feed.shown() == list(range(50))
    assert not [e for e in feed.effects if isinstance(e, ProtocolError)]
    assert not [e for e in feed.effects if isinstance(e, RequestEnv) and e.reason != "initial"]
    pane = feed.tab.window("main", "t")
    assert pane is not None and pane["content"].startswith("start<br>[src-0#0@")
    assert pane["contentID"] == "c51"
    if version == "0.3.0":
        assert pane["version"] == 51
    assert feed.tab.text_appends == 50  # type: ignore[attr-defined]


@pytest.mark.parametrize("version", ["0.2.4", "0.3.0"])
def test_duplicate_text_append_is_dropped_and_a_gap_resumes(version):
    feed = opened(version)
    feed(delta(version, 0, seq=2))
    feed(delta(version, 0, seq=2))  # a duplicate frame
    gap = feed(delta(version, 2, seq=4))  # seq 3 lost
    feed.settle()
    assert feed.shown() == [0]
    resumes = [e.message for e in gap if isinstance(e, SendSocket)]
    assert resumes and resumes[0]["cmd"] == "resume" and resumes[0]["seq"] == 2


def test_trim_drops_leading_lines_like_max_text_lines():
    feed = opened("0.3.0")
    feed(delta("0.3.0", 0, seq=2), delta("0.3.0", 1, seq=3, trim=2))
    feed.settle()
    pane = feed.tab.window("main", "t")
    assert pane is not None and pane["content"] == "[src-0#1@1001]"
    assert feed.shown() == [1]
    assert drop_lines("a<br>b<br>c", 0) == "a<br>b<br>c"
    assert drop_lines("a<br>b<br>c", 2) == "c"
    assert "<br>".join("a<br>b<br>c".split("<br>")[-1:]) == drop_lines("a<br>b<br>c", 2)


@pytest.mark.parametrize("version", ["0.2.4", "0.3.0"])
def test_text_append_for_a_window_it_does_not_hold_asks_for_a_snapshot(version):
    feed = Feed(version)
    feed({"command": "register", "data": "sid-1", "readonly": False})
    feed(*snapshot_start(1), snapshot_end(1))
    effects = feed(delta(version, 0, seq=2))
    sends = [e.message for e in effects if isinstance(e, SendSocket)]
    assert sends == [{"cmd": "resume", "sid": "sid-1", "eid": "main", "seq": None, "epoch": EPOCH}]
    assert feed.shown() == []


@pytest.mark.parametrize("version", ["0.2.4", "0.3.0"])
def test_stock_window_update_of_a_text_window_keeps_the_copy(version):
    # before the server has read the hello it sends the stock message: the shim's copy
    # follows its top-level ops, so later deltas extend the right text
    feed = opened(version)
    whole = "start<br>" + text_token("src-0", 0, 1_000)
    ops = [
        {"op": "replace", "path": "/content", "value": whole},
        {"op": "replace", "path": "/contentID", "value": "c2"},
    ]
    update = {"command": "window_update", "win": "t", "content": ops, "seq": 2, "epoch": EPOCH}
    if version == "0.2.4":
        from visdom_chaos.wire.replica.stablejson import browser_md5

        pane = dict(window(version, whole, 2), contentID="c2")
        update["content"] = ops + [
            {"op": "add", "path": "/seq", "value": 2},
            {"op": "add", "path": "/epoch", "value": EPOCH},
        ]
        update["env"] = "main"
        update["finalHash"] = browser_md5(pane)
    else:
        ops.append({"op": "replace", "path": "/version", "value": 2})
        update.update(eid="main", version=2)
    feed(update)
    feed(delta(version, 1, seq=3))
    feed.settle()
    assert feed.shown() == [0, 1]
    assert not [e for e in feed.effects if isinstance(e, ProtocolError)]
    assert ids_in_window(feed.tab.window("main", "t"))[-1].seq == 1


def test_wire_reader_reads_only_the_appended_ids():
    reader = WireReader()
    reader.read(window("0.2.4", "start<br>" + text_token("src-0", 0, 1_000), 1))
    out = reader.read(delta("0.2.4", 1, seq=2))
    assert out["kind"] == "update" and out["ids"] == {"src-0": [[1, 2]]}
    assert out["seq"] == 2
    assert reader.read({"command": "text_append", "win": "t", "data": 5})["undecodable"]
