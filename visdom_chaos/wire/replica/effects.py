"""What a replica reports back to its subscriber after a message or a timer tick."""

from __future__ import annotations

from dataclasses import dataclass, field

from visdom_chaos.ids import EventId


@dataclass(frozen=True)
class Registered:
    """`register` received: the tab's session id."""

    sid: str
    readonly: bool


@dataclass(frozen=True)
class RequestEnv:
    """The browser's postForEnv / sendEnvQuery: POST /env/<eid> (or /compare/<a+b>) {"sid": sid}.

    reason: initial | hash_mismatch | missing_window | gap (0.3.0 version gap) | compare
    (compare mode got a non-compare window) .
    """

    reason: str
    env_ids: list[str]

    @property
    def path(self) -> str:
        """The URL path the browser posts to (relative to the server's base)."""
        if len(self.env_ids) == 1:
            return "env/" + self.env_ids[0]
        return "compare/" + "+".join(self.env_ids)


@dataclass(frozen=True)
class Applied:
    """A window's visible id view changed (or holds duplicates) at a render."""

    env: str
    win: str
    command: str
    added: list[EventId]
    removed: list[tuple[str, int]]
    dup: list[tuple[str, int]]
    size: int


@dataclass(frozen=True)
class Accepted:
    """The tab took an update into its state (0.2.4: the patch passed the hash check on the
    consistent copy), before any render. Not an effect: collected in `Replica.accepted`
    for the subscriber to journal, so effect lists stay what the browser does. `head`: newest seq per source in the accepted state.
    Renders batch several accepts, so only these show the order updates were applied in."""

    env: str
    win: str
    head: dict[str, int]


@dataclass(frozen=True)
class WindowClosed:
    env: str
    win: str


@dataclass(frozen=True)
class ProtocolError:
    """kind: patch_conflict | hash_mismatch | undecodable | unknown_command |
    version_gap (0.3.0) | render_error (the batch threw: the tab stops updating)."""

    kind: str
    win: str | None
    detail: str


@dataclass(frozen=True)
class SendSocket:
    """A message the browser sends on its socket (0.2.4/0.3.0 echo `close` back)."""

    message: dict[str, object] = field(default_factory=dict)


Effect = Registered | RequestEnv | Applied | WindowClosed | ProtocolError | SendSocket
