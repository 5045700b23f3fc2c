"""What a run asks of a subscriber, whichever kind it is.

Three kinds take part in a run side by side: the replica subscribers
(visdom_chaos.wire.subscriber, in this process or a Locust one), their stand-ins for
replicas in worker processes (visdom_chaos.workers.RemoteSubscriber) and real Chromium
tabs (visdom_chaos.wire.browser.BrowserSubscriber). The orchestrator, the scripted
behaviours (visdom_chaos.behaviours), the quiescence wait (visdom_chaos.quiescence) and
the Locust session hold them in one list and use only what is named here:

- identity: `client_id`, `transport` (`websocket`, `polling` or `browser`), `conn` (the
  number of the current connection, for the records a behaviour writes);
- progress: `received` (messages handled so far), `connected`, `sid` (of the last
  `register`: set once the subscriber has registered), `busy` (it may still change without
  another message from the server: frames read but not handled, env requests under way,
  replica timers pending);
- the behaviours of a scenario's timeline: `drop`, `reconnect`, `refresh`, `stall`,
  `switch_env`, `forward_after_close`, `delete_env` (a kind that cannot act one out records that it did
  not: a page cannot stall its socket);
- `stop(reason)`: final views, then gone (idempotent).

Starting is not here: each kind is started by whoever built it (the orchestrator's
replicas and tabs, a worker pool its workers' subscribers, a Locust user its own).
Neither is `write_views`: each kind journals its views itself, at `stop()` and around
its own behaviours.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class Subscriber(Protocol):
    @property
    def client_id(self) -> str: ...

    @property
    def transport(self) -> str: ...

    @property
    def conn(self) -> int: ...

    @property
    def received(self) -> int: ...

    @property
    def connected(self) -> bool: ...

    @property
    def sid(self) -> str | None: ...

    @property
    def busy(self) -> bool: ...

    def stop(self, reason: str = "end") -> None: ...

    def drop(self, abrupt: bool = True) -> None: ...

    def reconnect(self) -> None: ...

    def refresh(self) -> None: ...

    def stall(self, seconds: float) -> None: ...

    def switch_env(self, env: str) -> None: ...

    def forward_after_close(self) -> None: ...

    def delete_env(self, env: str) -> None: ...
