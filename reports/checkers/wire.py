"""The wire level: what each subscriber connection received, and a cause for every reload.

`WireChecker` reads the wire fields of `recv` records (visdom_chaos.wire.frames: `kind`,
`heads`, `ids`, `poll`, `undecodable`), per subscriber connection × window × source, in
arrival order (the order the subscriber's one processing thread journaled them; `rx`
for times). Only update frames (`kind` `update`) form the stream that is judged: a
stock server broadcasts every update to every subscribed connection, so each update's
own id (its `heads`) arrives once, in ack order, whatever snapshots come in between.

- `wire_duplicate`: an update whose own id already arrived as an update on this
  connection (not counted while a patched server replays after a `resumed`).
- `wire_reorder`: an update whose own id arrives after a newer update's: against ack
  order. Polling: detail `within_response` (the newer one came in the same poll
  response) or `across_responses`; WebSocket: `stream`.
- `wire_gap`: ids an update's head skipped (k+2 arrived before k+1) that never arrived
  as an update on this connection later (those that did are reorders). Detail
  `healed` when a later (or the same) payload on the connection carried them (a
  snapshot after a reload, a text append that carries the whole text, a patched
  server's replay after a resume), else `unhealed`.
- `undecodable`: frames that are not JSON (`frame`) or whose ids could not all be read
  (`ids`).

Ids a frame carried but could not name (`unnamed_ids`: a plot op before any snapshot of
its window on that connection, as after a connect, or in a stock 0.2.4 poll response
handed back newest-first) arrived all the same: the next skip in that window's stream
takes them for its lowest skipped ids, up to the head of the snapshot that came after them
(they came before it could name them, so it holds them), instead of counting a gap; their
order is unknown.

`CauseChecker` gives every protocol error and every resync but the initial one a cause
(in this order): a wire anomaly on that connection and window since its last snapshot
and before the error (`wire_gap`, `wire_reorder`, `wire_duplicate`; an undecodable frame
is `wire_undecodable`); the replica's `hint` (`render_writeback`, `relayout`,
`render_batch_race`, `version_gap` for `server_version`); a user action (the page was
opened, refreshed, reconnected or switched env and that window's snapshot had not
arrived yet on this connection; a resync for a refresh, reconnect, env switch or
compare view); else the cause of that window's first error since its last snapshot (a
failed check leaves the tab's copy broken until a full window replaces it); else
`unknown`. A resync takes the cause of the protocol error the same message raised. A
`render_batch_race` within STORM_NS of a reload on that connection is a race with the window
that reload brought: it takes the reload's cause, the storm's root (0.2.4: the write-back
starts the storm, its reloads' windows wait in the batch, the next update races them), and
is counted apart in `races_in_reload_storms` so the split stays visible. Real browsers carry no wire ids: their errors and reloads are
`not_observed`. Counts per subscriber go to `summary.causes` (mergeable).
"""

from __future__ import annotations

from typing import Any

from visdom_chaos.reports.checkers.base import Checker
from visdom_chaos.reports.checkers.state import RunState
from visdom_chaos.reports.intervals import IntervalSet

WIRE_KINDS = ("wire_duplicate", "wire_reorder", "wire_gap", "undecodable")
CAUSES = (
    "wire_gap",
    "wire_reorder",
    "wire_duplicate",
    "wire_undecodable",
    "render_writeback",
    "relayout",
    "render_batch_race",
    "version_gap",
    "user_action",
    "unknown",
    "not_observed",
)
WIRE_CAUSES = frozenset({"wire_gap", "wire_reorder", "wire_duplicate", "wire_undecodable"})
STORM_NS = 300_000_000  # a reload's window waits 100 ms in the tab's batch, after an env round trip
RACES_IN_STORMS = (
    "races_in_reload_storms"  # summary.causes class: races laid at their storm's cause
)
HINT_CAUSE = {
    "render_writeback": "render_writeback",
    "relayout": "relayout",
    "render_batch_race": "render_batch_race",
    "server_version": "version_gap",
}
USER_RESYNCS = frozenset({"refresh", "switch_env", "reconnect", "compare"})


class _Key:
    """One source's update stream in one window on one connection."""

    __slots__ = (
        "uhead",
        "uhead_poll",
        "seen",
        "pending",
        "gaps",
        "covered_snap",
        "covered_upd",
        "resumed",
        "round",
        "in_replay",
    )

    def __init__(self) -> None:
        self.uhead = -1  # newest own id of an update frame so far (-1: none yet)
        self.uhead_poll: Any = None  # poll response that brought it (polling)
        self.seen = IntervalSet()  # own ids of update frames received
        self.pending = IntervalSet()  # skipped ids not (yet) arrived as updates
        self.gaps: list[list[Any]] = []  # [lo, hi, t noticed, anomaly] per skip
        self.covered_snap = IntervalSet()  # ids any snapshot on this connection carried
        self.covered_upd = IntervalSet()  # ids any update payload carried
        self.resumed = IntervalSet()  # skipped ids a replay after `resumed` brought
        self.round = 0  # the connection's replay round this key has seen
        self.in_replay = False  # replayed frames still coming for this key


_EMPTY: dict[str, Any] = {}


class _Conn:
    __slots__ = (
        "keys",
        "anomaly",
        "first_error",
        "snapshots",
        "replay_round",
        "replay_until",
        "replay_from",
        "replay_done",
        "last_seq",
        "seqs",
        "lost",
        "transport",
        "frames",
        "updates",
        "snapshots_n",
        "undecodable",
        "bad_ids",
        "unnamed_ids",
        "unnamed",
    )

    def __init__(self, transport: str) -> None:
        self.frames = self.updates = self.snapshots_n = self.undecodable = self.bad_ids = (
            self.unnamed_ids
        ) = 0
        self.keys: dict[tuple[str, str], _Key] = {}
        self.anomaly: dict[str, list[Any]] = {}  # win -> latest anomaly since its last snapshot
        self.first_error: dict[
            str, Any
        ] = {}  # win -> cause of its first error since its last snapshot
        # win -> [[ids, limit]...]: ids of update frames no snapshot had named yet, not yet placed;
        # limit = the head of the snapshot that came next (they are ids it holds), None until then
        self.unnamed: dict[str, list[list[Any]]] = {}
        self.snapshots: set[str] = (
            set()
        )  # windows with a snapshot on this connection (since a switch)
        # a patched server's broadcast seq on this connection (update frames): the last live one,
        # all received, and those sent here but never received (a live skip, or missing from a
        # replay); a `resumed` starts a replay of (replay_from, replay_until]
        self.last_seq: int | None = None
        self.seqs = IntervalSet()
        self.lost = IntervalSet()
        self.replay_round = 0  # bumped by each `resumed`
        self.replay_until: int | None = None  # the broadcast seq the replay ends at (`resumed` seq)
        self.replay_from: int | None = None  # ... and starts after (`resumed` from)
        self.replay_done = True  # a live frame came after it
        self.transport = transport


class WireChecker(Checker):
    name = "wire"
    handles = ("recv", "resync")

    def __init__(self) -> None:
        self.conns: dict[tuple[str, int], _Conn] = {}

    # -- what the cause checker asks ---------------------------------------------------
    def anomaly(self, client: str, conn: int, win: str) -> list[Any] | None:
        c = self.conns.get((client, conn))
        return c.anomaly.get(win) if c is not None else None

    def follow_up(self, client: str, conn: int, win: str, cause: Any) -> Any:
        """A window's first error since its last snapshot sets the cause of the ones after it that
        have none of their own: a failed check leaves the tab's copy broken until a snapshot
        (0.2.4 patches its consistent copy in place; 0.3.0 drops updates until the reload)."""
        c = self.conns.get((client, conn))
        if c is None or not win:
            return cause
        first = c.first_error.get(win)
        if first is None:
            c.first_error[win] = cause
            return cause
        return first if cause == "unknown" else cause

    def has_snapshot(self, client: str, conn: int, win: str) -> bool:
        c = self.conns.get((client, conn))
        return c is not None and win in c.snapshots

    # -- records ---------------------------------------------------------------------
    def on_record(self, rec: dict[str, Any], state: RunState) -> None:
        # the hot path (one call per frame per subscriber): lookups are inlined on purpose
        kind = rec.get("kind")
        if kind is None:
            self._other(rec, state)
            return
        key = (rec["client"], rec.get("conn") or 0)
        c = self.conns.get(key)
        if c is None:
            c = self._conn(rec, state)
        c.frames += 1
        win = rec.get("win")
        if type(win) is not str:
            win = ""
        if rec.get("undecodable"):
            self._undecodable(rec, state, "ids")
        if "unnamed_ids" in rec and type(rec["unnamed_ids"]) is int:
            # the window's snapshot had not come yet (a connect; polling 0.2.4 hands a response back
            # newest-first, updates before their window): ids that arrived, unnamed
            c.unnamed_ids += rec["unnamed_ids"]
            entries = c.unnamed.setdefault(win, [])
            if entries and entries[-1][1] is None:
                entries[-1][0] += rec["unnamed_ids"]
            else:
                entries.append([rec["unnamed_ids"], None])
        heads = rec.get("heads") or _EMPTY
        ids = rec.get("ids") or _EMPTY
        keys = c.keys
        if kind == "snapshot":
            c.snapshots_n += 1
            c.snapshots.add(win)
            c.anomaly.pop(win, None)
            c.first_error.pop(win, None)
            pending = c.unnamed.get(win)
            if pending and pending[-1][1] is None:
                pending[-1][1] = max(
                    (h[0] for h in heads.values() if h and type(h[0]) is int), default=-1
                )
            for src, runs in ids.items():
                k = keys.get((win, src))
                if k is None:
                    k = keys[(win, src)] = _Key()
                cov = k.covered_snap
                for r in runs:
                    cov.add_range(r[0], r[1])
            return
        c.updates += 1
        poll = rec.get("poll")
        fseq = rec.get("seq")
        replayed: bool | None = None  # None: no broadcast seq to tell (a stock server)
        if type(fseq) is int:
            replayed = False
            if not c.replay_done:
                if c.replay_until is None:
                    replayed = (
                        None  # a `resumed` without its seq: judged by what the connection had
                    )
                elif fseq <= c.replay_until:
                    replayed = True
                else:
                    self._end_replay(c)
            if replayed is False:
                last = c.last_seq
                if last is not None and fseq > last + 1:
                    c.lost.add_range(last + 1, fseq)  # skipped on the live stream
                if last is None or fseq > last:
                    c.last_seq = fseq
            c.seqs.add(fseq)
        fast = replayed is False or (replayed is None and not c.replay_round)
        for src, head in heads.items():
            k = keys.get((win, src))
            if k is None:
                k = keys[(win, src)] = _Key()
            s = head[0]
            if type(s) is not int:
                s = int(s)
            runs = ids.get(src)
            if runs and not (len(runs) == 1 and runs[0][0] == s and runs[0][1] == s + 1):
                cov = k.covered_upd  # ids beyond its own (a text append carries the whole text)
                for r in runs:
                    cov.add_range(r[0], r[1])
            if fast and s == k.uhead + 1 and k.uhead >= 0 and not k.resumed:
                k.uhead, k.uhead_poll = s, poll  # the common case: the next update, in order
                k.seen.add(s)
                continue
            t = rec.get("rx")
            if type(t) is not int:
                t = rec["t"]
            self._update(rec, state, c, k, win, src, s, t, poll, replayed, fseq)

    def _other(self, rec: dict[str, Any], state: RunState) -> None:
        """A record without wire ids: a resync, an undecodable frame, a `resumed`, or nothing to do."""
        if rec["type"] == "resync":
            if rec.get("reason") == "switch_env":  # the tab starts over on another env
                for (client, _), c in self.conns.items():
                    if client == rec["client"]:
                        c.snapshots.clear()
                        c.anomaly.clear()
                        c.first_error.clear()
        elif rec.get("undecodable"):
            self._undecodable(rec, state, "frame")
        elif rec.get("command") == "resumed":
            c = self._conn(rec, state)
            self._end_replay(c)
            c.replay_round += 1
            seq, start = rec.get("seq"), rec.get("replay_from")
            c.replay_until = seq if type(seq) is int else None
            c.replay_from = start if type(start) is int else None
            c.replay_done = rec.get("mode") == "snapshot"  # a snapshot follows, no replay

    @staticmethod
    def _end_replay(c: _Conn) -> None:
        """A replay ended (a live frame, or another `resumed`): what it should have brought and this
        connection never received was lost here too."""
        if c.replay_done:
            return
        c.replay_done = True
        lo, hi = c.replay_from, c.replay_until
        if lo is not None and hi is not None and hi - lo <= 100_000:
            for q in range(lo + 1, hi + 1):
                if q not in c.seqs:
                    c.lost.add(q)

    def _update(
        self,
        rec: dict[str, Any],
        state: RunState,
        c: _Conn,
        k: _Key,
        win: str,
        src: str,
        s: int,
        t: int,
        poll: Any,
        replayed: bool | None,
        fseq: Any,
    ) -> None:
        if (
            replayed is None and c.replay_round
        ):  # no seq to tell: what the connection had is the replay
            if s in k.resumed:  # ... but a lost id it brought, again: the original, late
                k.resumed.discard(s)
                self._reorder(rec, state, c, k, win, src, s, t, poll)
                return
            if k.round != c.replay_round:
                k.round, k.in_replay = c.replay_round, True
            if k.in_replay:
                if s <= k.uhead:
                    replayed = True
                else:
                    k.in_replay = False
        if replayed:
            if s not in k.seen:
                k.seen.add(s)
                was_pending = k.pending.discard(s)
                if was_pending or fseq in c.lost or (type(fseq) is not int and s < k.uhead):
                    # sent here, lost on the wire, brought by the resume: a gap it healed
                    if not was_pending:
                        anomaly = ["wire_gap", 1]
                        k.gaps.append([s, s + 1, t, anomaly])
                        c.anomaly[win] = anomaly
                    k.resumed.add(s)
                # else: from before this connection's stream (a reconnect's resume catching up)
                if s > k.uhead:
                    k.uhead, k.uhead_poll = s, poll
            return
        if s in k.resumed:
            # a lost id a replay brought arrives again, live: the original frame, late (reordered)
            k.resumed.discard(s)
            self._reorder(rec, state, c, k, win, src, s, t, poll)
            return
        uhead = k.uhead
        if uhead < 0:  # the first update on this connection: nothing to judge it against
            k.uhead, k.uhead_poll = s, poll
            k.seen.add(s)
            return
        if s == uhead + 1:  # the common case
            k.uhead, k.uhead_poll = s, poll
            k.seen.add(s)
            return
        detail = (
            "stream"
            if poll is None
            else ("within_response" if poll == k.uhead_poll else "across_responses")
        )
        if s > uhead:
            lo = uhead + 1
            for entry in c.unnamed.get(win) or ():
                # frames that carried ids before a snapshot named them, so ids that snapshot holds:
                # take them for the lowest skipped ones up to its head
                if entry[1] is None or entry[0] <= 0 or entry[1] < lo:
                    continue
                n = min(entry[0], s - lo, entry[1] + 1 - lo)
                entry[0] -= n
                k.seen.add_range(lo, lo + n)
                lo += n
                if lo >= s:
                    break
            k.uhead, k.uhead_poll = s, poll
            k.seen.add(s)
            if (
                lo < s
            ):  # k+2 before k+1: the skipped ids are pending (a gap, or a reorder if they come late)
                anomaly = ["wire_gap", s - lo]
                k.gaps.append([lo, s, t, anomaly])
                k.pending.add_range(lo, s)
                c.anomaly[win] = anomaly
            return
        if s in k.seen:
            env = self._env(state, rec["client"])
            state.summary.group("wire_duplicate", detail, rec["client"], env, win).add(src, s, t)
            c.anomaly[win] = ["wire_duplicate", 0]
            return
        k.seen.add(s)  # older than one already here: out of order on the wire
        k.pending.discard(s)
        self._reorder(rec, state, c, k, win, src, s, t, poll)

    def _reorder(
        self,
        rec: dict[str, Any],
        state: RunState,
        c: _Conn,
        k: _Key,
        win: str,
        src: str,
        s: int,
        t: int,
        poll: Any,
    ) -> None:
        detail = (
            "stream"
            if poll is None
            else ("within_response" if poll == k.uhead_poll else "across_responses")
        )
        state.summary.group(
            "wire_reorder", detail, rec["client"], self._env(state, rec["client"]), win
        ).add(src, s, t)
        gaps = k.gaps
        for i in range(len(gaps) - 1, -1, -1):  # the gap it was part of (mostly the newest) shrinks
            gap = gaps[i]
            if gap[0] <= s < gap[1]:
                gap[3][1] -= 1
                if (
                    gap[3][1] <= 0
                ):  # all of it came late: that was a reorder, and nothing is left to judge
                    gap[3][0] = "wire_reorder"
                    del gaps[i]
                break
        c.anomaly[win] = ["wire_reorder", 0]

    def _undecodable(self, rec: dict[str, Any], state: RunState, detail: str) -> None:
        win = rec.get("win")
        if not isinstance(win, str):
            win = ""
        client = rec["client"]
        state.summary.group("undecodable", detail, client, self._env(state, client), win).touch(
            rec["t"]
        )
        c = self._conn(rec, state)
        c.undecodable += 1
        if type(rec.get("bad_ids")) is int:
            c.bad_ids += rec["bad_ids"]
        if detail == "frame":
            c.frames += 1
        c.anomaly[win] = ["wire_undecodable", 0]
        c.anomaly[""] = c.anomaly[win]

    # -- helpers ---------------------------------------------------------------------
    def _conn(self, rec: dict[str, Any], state: RunState) -> _Conn:
        key = (rec["client"], rec.get("conn") or 0)
        c = self.conns.get(key)
        if c is None:
            lin = state.lineages.get(rec["client"])
            c = self.conns[key] = _Conn(lin.transport if lin is not None else "")
        return c

    @staticmethod
    def _env(state: RunState, client: str) -> str:
        lin = state.lineages.get(client)
        return str(lin.env) if lin is not None and lin.env else ""

    def frames(self, client: str, conn: int) -> int:
        """Frames with window content (or undecodable) read so far on a connection."""
        c = self.conns.get((client, conn))
        return c.frames if c is not None else 0

    def finish(self, state: RunState) -> None:
        """Skipped ids that never came as updates are gaps: healed when a payload carried them."""
        for (client, _), c in self.conns.items():
            w = state.summary.wire.setdefault(client, {})
            for name, n in (
                ("updates", c.updates),
                ("snapshots", c.snapshots_n),
                ("undecodable", c.undecodable),
                ("bad_ids", c.bad_ids),
                ("unnamed_ids", c.unnamed_ids),
            ):
                if n:
                    w[name] = w.get(name, 0) + n
            env = self._env(state, client)
            for (win, src), k in c.keys.items():
                for lo, hi, t, _ in k.gaps:
                    for seq in range(lo, hi):
                        if seq in k.resumed:
                            how = "resume"
                        elif seq not in k.pending:
                            continue  # it came late: a reorder
                        elif seq in k.covered_snap:
                            how = "snapshot"
                        elif seq in k.covered_upd:
                            how = "payload"
                        else:
                            how = ""
                        g = state.summary.group(
                            "wire_gap", "healed" if how else "unhealed", client, env, win
                        )
                        g.add(src, seq, t)
                        if how:
                            g.info[f"by_{how}"] = g.info.get(f"by_{how}", 0) + 1
        if not self.conns:
            subs = [
                c for c, lin in state.lineages.items() if lin.transport in ("websocket", "polling")
            ]
            if subs:
                state.summary.note(
                    "no wire ids in the journals (recv records without kind/heads): wire findings not measured"
                )


class CauseChecker(Checker):
    """A cause for every protocol error and every non-initial resync (see the module docstring)."""

    name = "causes"
    handles = ("protocol_error", "resync")

    def __init__(self, wire: WireChecker) -> None:
        self.wire = wire
        # (client, conn) -> (cause, frames read then) of its last error: a resync before the
        # next frame is the one the same message raised
        self.last_error: dict[tuple[str, int], tuple[Any, int]] = {}
        self.deferred: list[
            tuple[str, str, list[Any]]
        ] = []  # (client, class, anomaly) resolved at the end
        self.storm: dict[
            tuple[str, int], tuple[int, Any]
        ] = {}  # (client, conn) -> (t, cause) of its last reload

    def on_record(self, rec: dict[str, Any], state: RunState) -> None:
        typ = rec["type"]
        client = rec["client"]
        key = (client, rec.get("conn") or 0)
        if typ == "protocol_error":
            win = str(rec.get("win") or "")
            cause = self._cause(rec, state, key, win)
            if rec.get("kind") == "undecodable" and cause not in ("not_observed",):
                cause = "wire_undecodable"
            cause = self.wire.follow_up(key[0], key[1], win, cause)
            if cause == "render_batch_race":
                storm = self.storm.get(key)
                if (
                    storm is not None
                    and rec["t"] - storm[0] <= STORM_NS
                    and storm[1] != "render_batch_race"
                ):
                    # a race with the window a reload brought: part of that reload's storm, whose
                    # cause it takes (counted apart too: the split stays visible)
                    cause = storm[1]
                    self._count(state, client, RACES_IN_STORMS, cause)
            self.last_error[key] = (cause, self.wire.frames(*key))
            self._count(state, client, "protocol_error", cause)
            return
        reason = str(rec.get("reason", ""))
        if reason == "initial":
            return
        lin = state.lineages.get(client)
        if lin is not None and lin.transport == "browser":
            cause = "not_observed"
        elif reason in USER_RESYNCS:
            cause = "user_action"
        elif key in self.last_error and self.last_error[key][1] == self.wire.frames(*key):
            cause = self.last_error.pop(key)[0]  # the error the same message raised
        else:
            trigger = rec.get("win")  # the window whose message triggered the reload
            cause = (
                self._cause(rec, state, key, trigger)
                if isinstance(trigger, str) and trigger
                else "unknown"
            )
        if cause != "user_action":
            self.storm[key] = (rec["t"], cause)
        self._count(state, client, "reload", cause)

    def _cause(self, rec: dict[str, Any], state: RunState, key: tuple[str, int], win: str) -> Any:
        lin = state.lineages.get(key[0])
        if lin is not None and lin.transport == "browser":
            return "not_observed"
        anomaly = self.wire.anomaly(key[0], key[1], win) if win else None
        if anomaly is None and not win:
            anomaly = self.wire.anomaly(
                key[0], key[1], ""
            )  # an undecodable frame of no known window
        if anomaly is not None:
            return anomaly  # resolved at the end: a pending gap may turn out to be a reorder
        hint = rec.get("hint")
        if isinstance(hint, str) and hint in HINT_CAUSE:
            return HINT_CAUSE[hint]
        if win and not self.wire.has_snapshot(key[0], key[1], win):
            return (
                "user_action"  # the page (re)opened or switched env: this window was not loaded yet
            )
        return "unknown"

    def _count(self, state: RunState, client: str, klass: str, cause: Any) -> None:
        if isinstance(cause, list):
            self.deferred.append((client, klass, cause))
            return
        per = state.summary.causes.setdefault(client, {}).setdefault(klass, {})
        per[cause] = per.get(cause, 0) + 1

    def finish(self, state: RunState) -> None:
        for client, klass, anomaly in self.deferred:
            self._count(state, client, klass, anomaly[0])
        self.deferred.clear()


# -- report sections (from a summary, so merged Locust summaries render the same way) ------


def causes_section(
    summary_causes: dict[str, dict[str, dict[str, int]]], unknown_bound: float, unknown_min: int
) -> dict[str, Any]:
    """report.json `causes`: totals per class and cause, per subscriber, and the unknown share."""
    totals: dict[str, dict[str, int]] = {"protocol_error": {}, "reload": {}}
    storms: dict[str, int] = {}
    for per in summary_causes.values():
        for klass, counts in per.items():
            t = storms if klass == RACES_IN_STORMS else totals.setdefault(klass, {})
            for cause, n in counts.items():
                t[cause] = t.get(cause, 0) + n
    order = {c: i for i, c in enumerate(CAUSES)}

    def ordered(d: dict[str, int]) -> dict[str, int]:
        return dict(sorted(d.items(), key=lambda kv: (order.get(kv[0], 99), kv[0])))

    attributed = sum(n for t in totals.values() for c, n in t.items() if c != "not_observed")
    unknown = sum(t.get("unknown", 0) for t in totals.values())
    share = round(unknown / attributed, 4) if attributed else 0.0
    for t in totals.values():  # every cause a key, so a gate rule on one is never "no metric"
        for cause in CAUSES:
            t.setdefault(cause, 0)
    return {
        "protocol_error": ordered(totals["protocol_error"]),
        "reload": ordered(totals["reload"]),
        "by_subscriber": {
            c: {k: ordered(v) for k, v in sorted(per.items())}
            for c, per in sorted(summary_causes.items())
        },
        "attributed": attributed,
        "unknown": unknown,
        "unknown_share": share,
        "unknown_bound": unknown_bound,
        "unknown_flagged": bool(unknown >= unknown_min and share > unknown_bound),
        "not_observed": sum(t.get("not_observed", 0) for t in totals.values()),
        RACES_IN_STORMS: ordered(storms),
    }


def wire_section(
    summary_wire: dict[str, dict[str, Any]],
    per_client: dict[str, dict[str, int]],
    details: dict[str, dict[str, int]],
    measured: bool,
) -> dict[str, Any]:
    """report.json `wire`: per subscriber frames and wire findings, and the healed/unhealed split."""
    subs = {}
    for client, w in sorted(summary_wire.items()):
        row = {
            k: w.get(k, 0)
            for k in ("updates", "snapshots", "undecodable", "bad_ids", "unnamed_ids")
        }
        row.update({k: (per_client.get(client) or {}).get(k, 0) for k in WIRE_KINDS[:3]})
        subs[client] = row
    gap = details.get("wire_gap") or {}
    return {
        "measured": measured,
        "gaps_healed": gap.get("healed", 0),
        "gaps_unhealed": gap.get("unhealed", 0),
        "subscribers": subs,
    }


# -- the odd one out -----------------------------------------------------------------------

ODD_Z = 3.5  # robust z-score (0.6745 (x - median) / MAD) beyond which a count stands out ...
ODD_RATIO = 2.0  # ... and at least this far from the median (x >= 2 median or x <= median / 2) ...
ODD_ABS = 10  # ... and by at least this many
ODD_MIN = {"wire": 1, "other": 10}  # a lone non-zero count this large singles a subscriber out ...
ODD_GROUP = {"wire": 2, "other": 3}  # ... among at least this many subscribers of its transport


def _median(xs: list[float]) -> float:
    s = sorted(xs)
    n = len(s)
    return float(s[n // 2]) if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


def odd_one_out(
    rows: dict[str, dict[str, Any]], exclude: frozenset[str] = frozenset()
) -> tuple[list[dict[str, Any]], list[str], dict[str, str]]:
    """Compare each subscriber with the others of the same run and transport, kind by kind.

    rows: client -> {"transport": str, "counts": {kind: n}}. Rules, per transport group of
    at least two subscribers and per kind:
    - most of the others show 0 and this one shows >= ODD_MIN (1 for wire kinds and wire
      causes, whose ids are exact; 10 for the rest, and only among 3 or more): singled out
      (`only_one`);
    - most show it: a robust z-score beyond ODD_Z and a ratio to the median of at least
      ODD_RATIO (either way) and ODD_ABS apart: singled out (`outlier`); otherwise, if
      every subscriber of the group shows it, it is the target's normal behaviour.
    Counts by a cause of the replica's own (`reloads_by_cause.render_writeback`, ...) can
    only be normal behaviour: how a tab's timing splits them says nothing about the server.
    Returns (singled_out, normal_behaviour kinds, {kind: why it is normal}).
    """
    groups: dict[str, list[str]] = {}
    for client, row in rows.items():
        groups.setdefault(row.get("transport") or "unknown", []).append(client)
    why: dict[str, list[str]] = {}
    kinds_of: dict[str, list[str]] = {}
    rule_of: dict[str, set[str]] = {}
    normal: dict[str, str] = {}
    for transport, clients in sorted(groups.items()):
        if len(clients) < 2:
            continue
        # findings first, then the pseudo-kinds of causes (`reloads_by_cause.wire_gap`)
        kinds = sorted(
            {k for c in clients for k in rows[c]["counts"]} - exclude, key=lambda k: ("." in k, k)
        )
        for kind in kinds:
            values = {c: rows[c]["counts"].get(kind, 0) for c in clients}
            nonzero = [c for c, v in values.items() if v > 0]
            if not nonzero:
                continue
            cause = kind.rsplit(".", 1)[-1] if "." in kind else None
            wire_kind = kind.startswith("wire_") or kind == "undecodable" or cause in WIRE_CAUSES
            floor = ODD_MIN["wire" if wire_kind else "other"]
            if len(clients) < ODD_GROUP["wire" if wire_kind else "other"]:
                # two tabs whose view findings differ cannot say which of them is odd: their ids
                # are the tabs' own timing; the wire's are exact
                floor = 10**18
            # how the replica's own mechanisms split a tab's reloads (write-back or batch race) is
            # timing inside the tab: it tells what is normal, never who is odd
            judge = cause is None or cause in WIRE_CAUSES or cause == "unknown"
            singled: list[tuple[str, str, str]] = []
            if len(nonzero) * 2 <= len(clients):  # most others show none
                for c in nonzero:
                    others = [v for o, v in values.items() if o != c]
                    zeros = sum(1 for v in others if v == 0)
                    if values[c] >= floor and zeros * 2 > len(others):
                        whom = (
                            f"the {len(others)} other {transport} subscriber{'s' if len(others) > 1 else ''}"
                            if zeros == len(others)
                            else f"{zeros} of the {len(others)} other {transport} subscribers"
                        )
                        singled.append(
                            (c, "only_one", f"{kind} {values[c]} while {whom} show none")
                        )
            else:
                vals = [float(v) for v in values.values()]
                med = _median(vals)
                mad = _median([abs(v - med) for v in vals])
                for c, v in values.items():
                    dev = v - med
                    z = (0.6745 * dev / mad) if mad else (float("inf") if dev else 0.0)
                    ratio = v / med if med else float("inf")
                    if (
                        abs(z) > ODD_Z
                        and abs(dev) >= ODD_ABS
                        and (ratio >= ODD_RATIO or ratio <= 1 / ODD_RATIO)
                    ):
                        rel = f"{ratio:.1f}× the median" if med else "above a median of 0"
                        singled.append(
                            (
                                c,
                                "outlier",
                                (
                                    f"{kind} {v} against a median of {med:g} over the {len(values)} {transport} "
                                    f"subscribers ({rel})"
                                ),
                            )
                        )
            if not judge:
                singled = []
            if not singled and len(nonzero) == len(values):
                vals = [float(v) for v in values.values()]
                text = (
                    f"every {transport} subscriber ({len(values)}) shows it: "
                    f"{min(vals):g}–{max(vals):g}, median {_median(vals):g}"
                )
                normal[kind] = f"{normal[kind]}; {text}" if kind in normal else text
            for c, rule, text in singled:
                why.setdefault(c, []).append(text)
                kinds_of.setdefault(c, []).append(kind)
                rule_of.setdefault(c, set()).add(rule)
    singled_out = [
        {
            "client": c,
            "transport": rows[c].get("transport"),
            "kinds": kinds_of[c],
            "rules": sorted(rule_of[c]),
            "why": "; ".join(why[c]),
            "reasons": why[c],
        }
        for c in sorted(why)
    ]
    return singled_out, sorted(normal), dict(sorted(normal.items()))
