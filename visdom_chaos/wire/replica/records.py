"""Replica effects as journal records (visdom_chaos/JOURNAL.md), for the subscribers.

`journal_fields(effect)` gives `(type, fields)` to pass to JournalWriter.write, or None
for effects that are not journal records (SendSocket: the subscriber acts on it).
"""

from __future__ import annotations

from typing import Any

from .effects import Applied, Effect, ProtocolError, Registered, RequestEnv, WindowClosed


def journal_fields(effect: Effect) -> tuple[str, dict[str, Any]] | None:
    if isinstance(effect, Applied):
        return "apply", {
            "env": effect.env,
            "win": effect.win,
            "command": effect.command,
            "added": [[i.source, i.seq, i.send_ns] for i in effect.added],
            "removed": [list(k) for k in effect.removed],
            "dup": [list(k) for k in effect.dup],
            "size": effect.size,
        }
    if isinstance(effect, WindowClosed):
        return "apply", {
            "env": effect.env,
            "win": effect.win,
            "command": "close",
            "added": [],
            "removed": [],
            "dup": [],
            "size": 0,
        }
    if isinstance(effect, RequestEnv):
        fields: dict[str, Any] = {"reason": effect.reason, "env": "+".join(effect.env_ids)}
        if effect.trigger_win is not None:
            fields["win"] = effect.trigger_win
        return "resync", fields
    if isinstance(effect, ProtocolError):
        fields = {"kind": effect.kind, "win": effect.win, "detail": effect.detail}
        if effect.hint is not None:
            fields["hint"] = effect.hint
        return "protocol_error", fields
    if isinstance(effect, Registered):
        return "register", {"sid": effect.sid}
    return None
