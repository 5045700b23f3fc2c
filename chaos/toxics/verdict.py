"""What a message toxic decides about one WebSocket message or one HTTP request head.

A toxic judges; the direction carries the verdict out, because the direction owns
what a verdict touches: the held messages and their bound, the bytes dropped, the
answer sent on the connection. Each verdict but PASS names the journal record it
stands for, written under the toxic's name when the verdict is carried out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Fault:
    """One `fault` journal record: its kind and detail (docs/chaos.md, Fault journal)."""

    kind: str
    detail: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Pass:
    """Not selected: the next toxic judges it, then it goes on."""


PASS = Pass()


@dataclass(frozen=True, slots=True)
class Drop:
    """The message is not forwarded; no later toxic sees it."""

    fault: Fault


@dataclass(frozen=True, slots=True)
class Copies:
    """`n` more copies of the message go out with it; later toxics still judge it."""

    n: int
    fault: Fault


@dataclass(frozen=True, slots=True)
class Hold:
    """Held back while later messages pass: for `seconds`, or until `after` later messages
    have passed if that comes first (0: by time only). When the stream's held messages are
    full it passes instead, journaled as `overflow`."""

    seconds: float
    after: int
    fault: Fault
    overflow: Fault


@dataclass(frozen=True, slots=True)
class Delay:
    """The request head (and the stream behind it) waits `seconds`; later toxics still judge it."""

    seconds: float
    fault: Fault


@dataclass(frozen=True, slots=True)
class Answer:
    """The request never reaches the server: the proxy sends `response` to the client and
    closes; the `discard` body bytes behind the head are swallowed."""

    response: bytes
    discard: int
    fault: Fault


@dataclass(frozen=True, slots=True)
class Rewrite:
    """The request goes on with its head replaced by `raw` (same body); later toxics judge
    the new head."""

    raw: bytes
    fault: Fault


MessageVerdict = Pass | Drop | Copies | Hold  # about a WebSocket data message
RequestVerdict = Pass | Delay | Answer | Rewrite  # about an HTTP request head
