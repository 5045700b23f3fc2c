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
    trigger_win: the window whose message triggered the request (None for initial loads),
    journaled as the resync record's `win`; not part of equality, like ProtocolError.hint
    (and not called `win`: effects are summarised by their `.win` elsewhere, and a resync
    is env-wide).
    """

    reason: str
    env_ids: list[str]
    trigger_win: str | None = field(default=None, compare=False)

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
    version_gap (0.3.0) | render_error (the batch threw: the tab stops updating).

    hint: the browser-side mechanism the model saw behind it, when it saw one (one of
    HINTS): `render_writeback` (0.2.4: Plotly/PlotPane wrote into the pane and a batch
    copied it into the consistent copy), `relayout` (0.2.4: relayout renumbered `i` and a
    batch copied it), `render_batch_race` (the update was checked out of arrival order
    inside the tab: it overtook, or was overtaken by, another update of that window
    waiting on the 100 ms batch), `server_version` (0.3.0: the server's `version` skipped
    or repeated while the ids on the wire were consecutive). Not part of equality.
    """

    kind: str
    win: str | None
    detail: str
    hint: str | None = field(default=None, compare=False)


HINTS = ("render_writeback", "relayout", "render_batch_race", "server_version")


@dataclass(frozen=True)
class SendSocket:
    """A message the browser sends on its socket (0.2.4/0.3.0 echo `close` back)."""

    message: dict[str, object] = field(default_factory=dict)


Effect = Registered | RequestEnv | Applied | WindowClosed | ProtocolError | SendSocket
