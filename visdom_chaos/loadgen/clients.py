"""Locust-aware wire clients: the image training kind and subscribers that feed Locust stats.

The wire clients stay Locust-free; here they get two small extensions by subclassing:
- `ImageSource`: an image window, every update a POST /events (Visdom has no image
  append) whose caption carries the id token `[src#seq@send_ns]` (ids.text_token).
- `LocustWebSocketSubscriber` / `LocustPollingSubscriber`: the replica watches the
  subscriber's own env, each Applied effect goes to a `DeliveryObserver` (latency of
  newly visible ids, duplicates and view regressions live), optional `recv` journaling,
  and `switch_env`.
"""

from __future__ import annotations

import base64
import struct
import time
import zlib
from collections.abc import Callable
from typing import Any

from visdom_chaos.ids import text_token
from visdom_chaos.wire.replica import Applied, make_replica
from visdom_chaos.wire.subscriber import PollingSubscriber, Subscriber, WebSocketSubscriber
from visdom_chaos.wire.training import TrainingSource

# -- training -------------------------------------------------------------------------


def png_bytes(side: int, shade: int) -> bytes:
    """A valid greyscale PNG of side x side pixels (no imaging library needed)."""
    side = max(1, min(int(side), 2048))
    raw = b"".join(b"\x00" + bytes([shade & 0xFF]) * side for _ in range(side))

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


class ImageSource(TrainingSource):
    """An image window: each update replaces the image; the caption carries the id token.

    The view of an image window holds one id (the newest), so older ids leave it by design;
    server truth holds the same single id, which is what the analysis compares against.
    """

    def __init__(self, *args: Any, image_px: int = 16, **kwargs: Any) -> None:
        kind = kwargs.pop("kind", "image")
        if kind != "image":
            raise ValueError("ImageSource is the image kind only")
        super().__init__(*args, kind="line", **kwargs)  # the base checks kinds it knows
        self.kind = "image"
        self.win = kwargs.get("win") or f"vc_image_{self.source}"
        self.image_px = image_px

    def _image_body(self, seq: int, send_ns: int) -> dict:
        src = "data:image/png;base64," + base64.b64encode(png_bytes(self.image_px, seq)).decode(
            "ascii"
        )
        content = {"src": src, "caption": text_token(self.source, seq, send_ns) + self.pad}
        return {
            "data": [{"content": content, "type": "image"}],
            "win": self.win,
            "eid": self.env,
            "opts": {"title": self.win},
        }

    def create(self) -> bool:
        self.seq = 0
        send_ns = time.time_ns()
        return self._post("/events", self._image_body(0, send_ns), 0, send_ns, "create")

    def append(self) -> bool:
        if self.seq < 0:
            return self.create()
        self.seq += 1
        send_ns = time.time_ns()
        # op "append" keeps the journal contract (one create, then appends); the wire is /events.
        return self._post(
            "/events", self._image_body(self.seq, send_ns), self.seq, send_ns, "append"
        )


def make_source(
    base_url: str,
    source: str,
    journal: Any,
    *,
    kind: str,
    env: str,
    pad_bytes: int,
    image_px: int,
    session: Any = None,
) -> TrainingSource:
    if kind == "image":
        return ImageSource(
            base_url,
            source,
            journal,
            env=env,
            pad_bytes=pad_bytes,
            image_px=image_px,
            session=session,
        )
    return TrainingSource(
        base_url, source, journal, env=env, kind=kind, pad_bytes=pad_bytes, session=session
    )


# -- subscribers ----------------------------------------------------------------------


def kind_of_window(win: str) -> str:
    """Window kind from our window names (`vc_<kind>_<source>`); other windows are 'other'."""
    parts = win.split("_", 2)
    return parts[1] if len(parts) == 3 and parts[0] == "vc" else "other"


class DeliveryObserver:
    """Turns Applied effects into Locust request events, live.

    - each id newly visible: a DELIVER success, response time = first visible - send (ms)
    - an id duplicated in a view: a DELIVER failure "live: duplicate id in a view"
      (once per client/window/id)
    - ids leaving a non-image view: a DELIVER failure "live: view went backwards"
    (The analysis at test stop adds its own rows, "duplicate: …", "missing: …", "stale: …".)
    Ids sent before `min_send_ns` are leftovers of earlier runs and are not counted.
    `fire` has the signature of `environment.events.request.fire`.
    """

    REQUEST_TYPE = "DELIVER"

    def __init__(self, fire: Callable[..., Any], min_send_ns: int = 0) -> None:
        self.fire = fire
        self.min_send_ns = min_send_ns
        self._dups_seen: set[tuple[str, str, str, str, int]] = set()
        self.delivered = 0
        self.duplicates = 0
        self.regressions = 0

    def observe(self, client: str, effects: list[Any]) -> None:
        now_ns = time.time_ns()
        for e in effects:
            if not isinstance(e, Applied):
                continue
            name = kind_of_window(e.win)
            for i in e.added:
                if i.send_ns < self.min_send_ns:
                    continue
                self.delivered += 1
                self.fire(
                    request_type=self.REQUEST_TYPE,
                    name=name,
                    response_time=max(0.0, (now_ns - i.send_ns) / 1e6),
                    response_length=0,
                    exception=None,
                    context={"client": client},
                )
            for src, seq in e.dup:
                key = (client, e.env, e.win, src, seq)
                if key in self._dups_seen:
                    continue
                self._dups_seen.add(key)
                self.duplicates += 1
                self._fail(name, "live: duplicate id in a view", client)
            if e.removed and name != "image" and e.command != "close":
                for _ in e.removed:
                    self.regressions += 1
                    self._fail(name, "live: view went backwards (id left the view)", client)

    def _fail(self, name: str, reason: str, client: str) -> None:
        self.fire(
            request_type=self.REQUEST_TYPE,
            name=name,
            response_time=0.0,
            response_length=0,
            exception=DeliveryFailure(reason),
            context={"client": client},
        )


class DeliveryFailure(Exception):
    """A delivery that went wrong; the message is the reason Locust groups failures by."""

    def __str__(self) -> str:  # Locust shows repr-like text otherwise
        return self.args[0] if self.args else "delivery failure"


class _LocustSubscriberMixin(Subscriber):
    observer: DeliveryObserver | None = None
    journal_recv: bool = True

    def _setup(self, observer: DeliveryObserver | None, journal_recv: bool) -> None:
        # The replica must watch this subscriber's env (the base builds it for "main").
        self.replica = make_replica(
            self.version, env_ids=(self.env,), transport=self.transport, variant=self.variant
        )
        self.observer = observer
        self.journal_recv = journal_recv

    def _effects(self, effects) -> list[list[str]]:
        effects = list(effects)
        due = super()._effects(effects)
        if self.observer is not None and effects:
            self.observer.observe(self.client_id, effects)
        return due

    def leave(self) -> None:
        """The tab closes mid-run (a shape ramps users down): its last view is not a final one.

        `stop()` journals final views, which the analysis holds against everything acked
        until the end of the run; a tab that left is judged on what was acked before it left.
        """
        if self._stopped:
            return
        self._stopped = True
        with self._lock:
            self._drain()
            self.write_views(final=False)
        self._shutdown("clean", clean=True)

    def switch_env(self, env: str, mode: str = "navigate") -> None:
        """Show another env.

        navigate: open that env's page (a refresh onto the other env: new connection, whose
                  `connect` record names the env, so the analysis judges the new env).
        selector: the env selector of the same tab: same socket and session, POST /env/<new>
                  (the server re-targets the socket). Journaled as `resync` reason `initial`
                  with `switch: true`; the analysis must reset the lineage's env on it.
        """
        with self._lock:
            if mode == "navigate":
                self.env = env
                self.replica._initial_env_ids = [env]  # the page's envIDs after the switch
                self.refresh()
                return
            self.write_views(final=False)
            sid, readonly = self.replica.sid, self.replica.readonly
            self.env = env
            self.replica._initial_env_ids = [env]
            self.replica.reset()
            self.replica.sid, self.replica.readonly = sid, readonly
            self.journal.write(
                "resync", self.client_id, self.conn, reason="initial", env=env, switch=True
            )
            self._queue_post([env])


class LocustWebSocketSubscriber(_LocustSubscriberMixin, WebSocketSubscriber):
    def __init__(
        self,
        *args: Any,
        observer: DeliveryObserver | None = None,
        journal_recv: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self._setup(observer, journal_recv)


class LocustPollingSubscriber(_LocustSubscriberMixin, PollingSubscriber):
    def __init__(
        self,
        *args: Any,
        observer: DeliveryObserver | None = None,
        journal_recv: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self._setup(observer, journal_recv)
