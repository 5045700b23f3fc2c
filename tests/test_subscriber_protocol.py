"""Every kind of subscriber a run holds satisfies visdom_chaos.wire.protocol.Subscriber,
with method signatures the callers can use (no browser, no server needed)."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from visdom_chaos.journal import JournalWriter
from visdom_chaos.wire.browser import BrowserSubscriber
from visdom_chaos.wire.protocol import Subscriber
from visdom_chaos.wire.subscriber import PollingSubscriber, WebSocketSubscriber
from visdom_chaos.workers import RemoteSubscriber, SubscriberSpec

METHODS = ("stop", "drop", "reconnect", "refresh", "stall", "switch_env", "forward_after_close")
PROPERTIES = ("client_id", "transport", "conn", "received", "connected", "sid", "busy")


class _Worker:
    dead = False

    def refresh_status(self) -> dict:
        return {"ws-9": {"received": 3, "connected": True, "sid": "s", "busy": False, "conn": 1}}


def _subscribers(journal: JournalWriter) -> list:
    url = "http://127.0.0.1:9"
    return [
        WebSocketSubscriber(url, "ws-0", journal, version="0.2.4"),
        PollingSubscriber(url, "poll-0", journal, version="0.3.0"),
        RemoteSubscriber(_Worker(), SubscriberSpec("websocket", "ws-9", url, "0.2.4")),  # type: ignore[arg-type]
        BrowserSubscriber(url, "browser-0", journal),
    ]


def test_every_kind_is_a_subscriber(tmp_path: Path) -> None:
    with JournalWriter(tmp_path / "journal" / "c.jsonl", role="clients") as journal:
        subs = _subscribers(journal)
        for sub in subs:
            assert isinstance(sub, Subscriber), type(sub).__name__
            assert isinstance(sub.received, int) and isinstance(sub.conn, int)
            assert isinstance(sub.connected, bool) and isinstance(sub.busy, bool)
        assert [s.transport for s in subs] == ["websocket", "polling", "websocket", "browser"]
        assert subs[2].received == 3 and subs[2].sid == "s" and subs[2].connected


@pytest.mark.parametrize("name", METHODS)
def test_methods_take_what_the_protocol_passes(tmp_path: Path, name: str) -> None:
    want = inspect.signature(getattr(Subscriber, name))
    with JournalWriter(tmp_path / "journal" / "c.jsonl", role="clients") as journal:
        for sub in _subscribers(journal):
            got = inspect.signature(getattr(sub, name))
            params = [p for p in want.parameters.values() if p.name != "self"]
            for p in params:  # same names, and optional where the protocol has a default
                assert p.name in got.parameters, f"{type(sub).__name__}.{name} lacks {p.name}"
                if p.default is not inspect.Parameter.empty:
                    assert got.parameters[p.name].default == p.default, (
                        f"{type(sub).__name__}.{name}({p.name})"
                    )
            extra = [q for q in got.parameters.values() if q.name not in {p.name for p in params}]
            assert all(q.default is not inspect.Parameter.empty for q in extra), (
                f"{type(sub).__name__}.{name}"
            )


def test_a_page_counts_the_behaviours_it_cannot_act_out(tmp_path: Path) -> None:
    with JournalWriter(tmp_path / "journal" / "c.jsonl", role="clients") as journal:
        sub = BrowserSubscriber("http://127.0.0.1:9", "browser-0", journal)
        sub.stall(2.0)
        sub.stall(1.0)
        sub.forward_after_close()
        assert sub.unsupported == {"stall": 2, "forward_after_close": 1}
        assert sub.busy is False and sub.connected is False and sub.sid is None
