"""The patched browser replica (stock tab behind the page's Delivery.js) against a real
patched server: a reconnect resumes instead of reloading, a gap asks for a replay."""

from __future__ import annotations

import json
import time

import pytest
import requests
import websocket

from visdom_chaos.ids import ids_in_window, text_token
from visdom_chaos.wire.replica import REPLICAS, RequestEnv, SendSocket
from visdom_chaos.wire.replica.patched import make_patched_replica

pytestmark = [pytest.mark.visdom]
HTTP_TIMEOUT = 10


class Tab:
    """A patched replica wired to a real socket (what a subscriber does)."""

    def __init__(self, url: str, version: str, eid: str) -> None:
        self.url, self.eid = url, eid
        self.replica = make_patched_replica(REPLICAS[version], env_ids=[eid])
        self.now = 0.0
        self.effects: list = []
        self.ws: websocket.WebSocket | None = None

    def connect(self) -> None:
        self.ws = websocket.create_connection(
            self.url.replace("http://", "ws://") + "/socket", timeout=5
        )

    def pump(self, quiet: float = 0.5, skip=lambda m: False) -> None:
        assert self.ws is not None
        self.ws.settimeout(quiet)
        while True:
            try:
                raw = self.ws.recv()
            except websocket.WebSocketTimeoutException:
                break
            if skip(json.loads(raw)):
                continue
            self.now += 0.01
            self.react(self.replica.handle(raw, self.now))
        self.now += 5
        self.react(self.replica.settle())

    def react(self, effects: list) -> None:
        self.effects += effects
        for e in effects:
            if isinstance(e, RequestEnv):
                requests.post(
                    f"{self.url}/{e.path}", json={"sid": self.replica.sid}, timeout=HTTP_TIMEOUT
                )
            elif isinstance(e, SendSocket) and self.ws is not None:
                self.ws.send(json.dumps(e.message))

    def view(self, win: str) -> list:
        return self.replica.views().get((self.eid, win), [])


def append(url: str, eid: str, win: str, i: int) -> None:
    r = requests.post(
        f"{url}/update",
        timeout=HTTP_TIMEOUT,
        json={
            "eid": eid,
            "win": win,
            "append": True,
            "opts": {},
            "data": [{"content": text_token("src-0", i, time.time_ns()), "type": "text"}],
        },
    )
    assert r.status_code == 200


def truth(url: str, eid: str, win: str) -> list:
    r = requests.post(f"{url}/win_data", json={"eid": eid, "win": win}, timeout=HTTP_TIMEOUT)
    return ids_in_window(json.loads(r.text))


def test_reconnect_resumes_without_env_reload(visdom_factory, version):
    target = visdom_factory(version, "patched")
    url = target.url
    requests.post(
        f"{url}/events",
        timeout=HTTP_TIMEOUT,
        json={"eid": "tab", "win": "t", "opts": {}, "data": [{"content": "start", "type": "text"}]},
    )
    tab = Tab(url, version, "tab")
    tab.connect()
    for i in range(5):
        append(url, "tab", "t", i)
    tab.pump()
    assert [e.seq for e in tab.view("t")] == list(range(5))
    tab.ws.close()  # the network drops; the page stays
    for i in range(5, 12):
        append(url, "tab", "t", i)
    before = len(tab.effects)
    tab.connect()  # the shim reconnects: register -> resume
    tab.pump()
    after = tab.effects[before:]
    resumes = [e for e in after if isinstance(e, SendSocket) and e.message.get("cmd") == "resume"]
    assert len(resumes) == 1 and resumes[0].message["eid"] == "tab"
    reloads = [e for e in after if isinstance(e, RequestEnv)]
    assert not reloads, reloads  # no env reload after the reconnect
    assert tab.view("t") == truth(url, "tab", "t")
    tab.ws.close()


def test_gap_in_seq_triggers_a_replay(visdom_factory, version):
    target = visdom_factory(version, "patched")
    url = target.url
    requests.post(
        f"{url}/events",
        timeout=HTTP_TIMEOUT,
        json={"eid": "gap", "win": "t", "opts": {}, "data": [{"content": "start", "type": "text"}]},
    )
    tab = Tab(url, version, "gap")
    tab.connect()
    tab.pump()
    for i in range(6):
        append(url, "gap", "t", i)
    dropped = []

    def drop_third_update(m: dict) -> bool:  # a frame lost on the way (chaos proxy style)
        if (
            m.get("command") in ("window_update", "text_append")
            and not dropped
            and m.get("seq", 0) >= 4
        ):
            dropped.append(m["seq"])
            return True
        return False

    tab.pump(skip=drop_third_update)
    assert dropped
    assert tab.replica.resumes_sent == 1
    assert (
        [e.seq for e in tab.view("t")] == list(range(6)) == [e.seq for e in truth(url, "gap", "t")]
    )
    tab.ws.close()


def test_text_appends_arrive_as_deltas_and_the_view_matches_the_server(visdom_factory, version):
    # patches 0.2.4/0014, 0.3.0/0011 (#695): the shim says hello, the server sends only
    # what was appended, the tab shows the whole text (0.3.0: the last 500 lines)
    target = visdom_factory(version, "patched")
    url = target.url
    requests.post(
        f"{url}/events",
        timeout=HTTP_TIMEOUT,
        json={"eid": "ta", "win": "t", "opts": {}, "data": [{"content": "start", "type": "text"}]},
    )
    tab = Tab(url, version, "ta")
    tab.connect()
    tab.pump()
    frames: list[dict] = []
    appends = 520 if version == "0.3.0" else 200  # past 0.3.0's max_text_lines (500)
    for i in range(appends):
        append(url, "ta", "t", i)

    def keep(m: dict) -> bool:
        frames.append(m)
        return False

    tab.pump(skip=keep)
    commands = {m.get("command") for m in frames if m.get("seq") is not None}
    assert commands == {"text_append"}, commands
    sizes = [len(json.dumps(m)) for m in frames if m.get("command") == "text_append"]
    assert len(sizes) == appends and max(sizes) - min(sizes) < 16, (min(sizes), max(sizes))
    shown = tab.view("t")
    assert shown == truth(url, "ta", "t")
    assert [e.seq for e in shown] == list(range(appends))[
        -(500 if version == "0.3.0" else appends) :
    ]
    assert not [e for e in tab.effects if isinstance(e, RequestEnv) and e.reason != "initial"]
    tab.ws.close()
