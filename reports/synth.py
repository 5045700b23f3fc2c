"""Synthetic run folders with known, injected ground truth (tests and bench/bench_analyze.py).

`build_run(run_dir, Inject(...))` writes a run folder through the real
JournalWriter: one training source appending to one window, subscribers that
see every update once and in order, server samples, phases and the truth at
quiescence — plus exactly the faults asked for. It returns the expected
finding counts, so a test reads "N in, N found".
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from visdom_chaos.journal import JournalWriter

MS = 1_000_000
SEC = 1_000_000_000
ENV, WIN, SRC = "main", "win-line", "src-0"


@dataclass
class Inject:
    events: int = 200  # appends by the one source
    subscribers: int = 3  # websocket subscribers ws-0..ws-{n-1}; polling ones are poll-*
    polling: int = 0
    interval_ms: float = 20.0
    lat_ms: float = 8.0  # delivery latency after send (the ack comes back after 5 ms)
    duplicates: dict[str, list[int]] = field(default_factory=dict)  # client -> seqs applied twice
    view_duplicates: dict[str, list[int]] = field(
        default_factory=dict
    )  # client -> seqs twice in the final view
    missing: dict[str, list[int]] = field(default_factory=dict)  # client -> seqs never delivered
    reorder: dict[str, list[int]] = field(
        default_factory=dict
    )  # client -> seqs k delivered after k+1
    gaps: dict[str, list[int]] = field(
        default_factory=dict
    )  # client -> seqs lost, then restored by a resync
    late_tail: dict[str, int] = field(
        default_factory=dict
    )  # client -> last n seqs delivered after the bound
    regression: dict[str, int] = field(
        default_factory=dict
    )  # client -> last n ids removed then restored
    divergent: dict[str, int] = field(
        default_factory=dict
    )  # client -> n ids in the final view the server lacks
    ghosts: int = 0  # extra subscribers that leave while their server socket stays
    gone_clean: int = 0  # extra subscribers that leave and whose socket goes too
    reloads: dict[str, int] = field(default_factory=dict)  # client -> non-initial resyncs
    protocol_errors: dict[str, int] = field(default_factory=dict)
    rss_start_mib: float = 100.0
    rss_slope_mib_per_min: float = 0.0  # during the steady phase
    rss_noise_mib: float = 0.0  # deterministic +- zigzag
    faults_at_ms: list[float] = field(
        default_factory=list
    )  # fault records (reset_peer) at these offsets
    truth: bool = True
    final_views: bool = True
    stale_bound_ms: float = 2000.0
    extra_records: int = 0  # recv records per apply (bench: realistic record mix)
    # -- the wire (issue 14): recv records carrying wire ids, one per update per subscriber,
    # in order, plus exactly the wire faults asked for (each anomaly but an undecodable frame
    # makes the tab fail a hash and reload, and the reload's snapshot heals it)
    wire: bool = True
    wire_duplicates: dict[str, list[int]] = field(
        default_factory=dict
    )  # client -> update frames received twice
    wire_reorders: dict[str, list[int]] = field(
        default_factory=dict
    )  # client -> frame k received after k+1
    wire_gaps: dict[str, list[int]] = field(default_factory=dict)  # client -> frames never received
    wire_gap_reload: bool = (
        True  # a gap makes the tab reload (its snapshot heals it); else it stays
    )
    undecodable: dict[str, int] = field(default_factory=dict)  # client -> frames that are not JSON
    writeback_every: int = (
        0  # every n-th update, every subscriber fails a hash (hint render_writeback)
    )
    unknown_errors: dict[str, int] = field(
        default_factory=dict
    )  # client -> hash mismatches of no known cause
    newest_first: int = 0  # polling subscribers get responses of this many updates, newest first
    rx: bool = (
        False  # recv records carry `rx` (then the observer section measures their backlog too)
    )


class _Sorted:
    """Collects records and writes them time-ordered, as a real journal is."""

    def __init__(self, path: Path, role: str) -> None:
        self.writer = JournalWriter(path, role)
        self.records: list[tuple[int, int, str, str, int, dict[str, Any]]] = []

    def write(self, type_: str, client: str = "", conn: int = 0, *, t: int, **fields: Any) -> None:
        self.records.append((t, len(self.records), type_, client, conn, fields))

    def close(self) -> None:
        for t, _, type_, client, conn, fields in sorted(self.records, key=lambda r: (r[0], r[1])):
            self.writer.write(type_, client, conn, t=t, **fields)
        self.writer.close()


def build_run(
    run_dir: str | os.PathLike[str],
    inj: Inject,
    t0: int = 1_700_000_000 * SEC,
    causes_out: dict[str, dict[str, dict[str, int]]] | None = None,
) -> dict[str, int]:
    """Write a run folder; return the expected `findings` counts (and fill `causes_out` with the
    expected `causes.by_subscriber`)."""
    causes: dict[str, dict[str, dict[str, int]]] = {} if causes_out is None else causes_out

    def cause(client: str, klass: str, why: str) -> None:
        per = causes.setdefault(client, {}).setdefault(klass, {})
        per[why] = per.get(why, 0) + 1

    run = Path(run_dir)
    jdir = run / "journal"
    clients = _Sorted(jdir / "clients.jsonl", "clients")
    monitor = _Sorted(jdir / "monitor.jsonl", "monitor")
    faults = _Sorted(jdir / "faults.jsonl", "faults")
    orch = _Sorted(jdir / "orchestrator.jsonl", "orchestrator")
    subs = [f"ws-{i}" for i in range(inj.subscribers)] + [f"poll-{i}" for i in range(inj.polling)]
    step = int(inj.interval_ms * MS)
    lat = int(inj.lat_ms * MS)
    bound = int(inj.stale_bound_ms * MS)
    start = t0 + 100 * MS
    end_send = start + inj.events * step
    orch.write("phase", t=t0, name="start")
    orch.write("phase", t=start - MS, name="steady")

    port = 40000
    ports: dict[str, int] = {}
    for c in subs:
        port += 1
        ports[c] = port
        transport = "polling" if c.startswith("poll") else "websocket"
        clients.write(
            "connect",
            c,
            1,
            t=t0 + 10 * MS,
            transport=transport,
            url="ws://x/socket",
            local_port=port,
            env=ENV,
        )
        clients.write("resync", c, 1, t=t0 + 11 * MS, reason="initial", env=ENV)

    # -- the steady stream: sends, acks, applies --------------------------------------------
    skip = {c: set(inj.missing.get(c, [])) | set(inj.gaps.get(c, [])) for c in subs}
    swap = {c: set(inj.reorder.get(c, [])) for c in subs}
    late = {c: set(range(inj.events - inj.late_tail.get(c, 0) + 1, inj.events + 1)) for c in subs}
    held: dict[str, tuple[int, int] | None] = dict.fromkeys(subs)
    for seq in range(1, inj.events + 1):
        ts = start + (seq - 1) * step
        clients.write(
            "send", SRC, 1, t=ts, seq=seq, env=ENV, win=WIN, kind="line", op="append", bytes=120
        )
        clients.write(
            "ack", SRC, 1, t=ts + 5 * MS, seq=seq, env=ENV, win=WIN, ok=True, status=200, rtt_ms=5.0
        )
        for c in subs:
            if seq in skip[c] or seq in late[c]:
                continue
            ta = ts + lat
            if seq in swap[c]:  # hold k back, deliver it right after k+1
                held[c] = (seq, ts)
                continue
            _apply(clients, c, ta, [[SRC, seq, ts]], inj.extra_records)
            if seq in inj.duplicates.get(c, []):
                _apply(clients, c, ta + MS, [[SRC, seq, ts]], 0)
            if seq - 1 in inj.gaps.get(c, []):  # the client notices the gap and reloads at once
                k = seq - 1
                clients.write("resync", c, 1, t=ta + MS, reason="gap", env=ENV)
                cause(
                    c, "reload", "unknown"
                )  # the view lost it, the wire did not: nothing to blame
                clients.write(
                    "apply",
                    c,
                    1,
                    t=ta + 2 * MS,
                    env=ENV,
                    win=WIN,
                    command="window",
                    added=[[SRC, k, ts - step]],
                    removed=[],
                    dup=[],
                    size=seq,
                )
            h = held[c]
            if h is not None:
                _apply(clients, c, ta + MS // 2, [[SRC, h[0], h[1]]], 0)
                held[c] = None
    t = end_send + lat + 10 * MS
    for c in subs:  # late tail: in order, but beyond the staleness bound
        tail = sorted(late[c])
        for seq in tail:
            ts = start + (seq - 1) * step
            _apply(clients, c, ts + 5 * MS + bound + 500 * MS, [[SRC, seq, ts]], 0)
    t = max(t, end_send + bound + SEC)
    for c in subs:  # gaps: a resync brings the lost ids back
        n = inj.regression.get(c, 0)
        if n:  # an older snapshot replaces the view, then the newer one comes back
            seqs = range(inj.events - n + 1, inj.events + 1)
            clients.write(
                "apply",
                c,
                1,
                t=t + 5 * MS,
                env=ENV,
                win=WIN,
                command="window_update",
                added=[],
                removed=[[SRC, q] for q in seqs],
                dup=[],
                size=inj.events - n,
            )
            clients.write(
                "apply",
                c,
                1,
                t=t + 6 * MS,
                env=ENV,
                win=WIN,
                command="window_update",
                added=[[SRC, q, start + (q - 1) * step] for q in seqs],
                removed=[],
                dup=[],
                size=inj.events,
            )
        for i in range(inj.reloads.get(c, 0)):
            clients.write("resync", c, 1, t=t + (10 + i) * MS, reason="hash_mismatch", env=ENV)
            cause(c, "reload", "unknown")
        for i in range(inj.protocol_errors.get(c, 0)):
            clients.write(
                "protocol_error",
                c,
                1,
                t=t + (10 + i) * MS,
                kind="hash_mismatch",
                env=ENV,
                win=WIN,
                detail="finalHash differs",
            )
            cause(c, "protocol_error", "unknown" if inj.wire else "user_action")
    if inj.wire:
        for c in subs:
            _wire_frames(clients, c, inj, t0, start, step, lat, cause)
    t += SEC
    orch.write("phase", t=t, name="sources_stopped")

    # -- ghosts: extra subscribers that leave early ----------------------------------------------
    leave_t = start + 50 * MS
    gone = [(f"ghost-{i}", True) for i in range(inj.ghosts)] + [
        (f"gone-{i}", False) for i in range(inj.gone_clean)
    ]
    for c, _ in gone:
        port += 1
        ports[c] = port
        clients.write(
            "connect",
            c,
            1,
            t=t0 + 20 * MS,
            transport="websocket",
            url="ws://x/socket",
            local_port=port,
            env=ENV,
        )
        clients.write("disconnect", c, 1, t=leave_t, reason="abrupt", clean=False)

    # -- monitor samples every 250 ms over the whole run -----------------------------------------
    end = t + 2 * SEC
    steady_from, steady_to = start - MS, t
    k = 0
    ts = t0
    while ts <= end:
        mins = (min(max(ts, steady_from), steady_to) - steady_from) / 60e9
        noise = inj.rss_noise_mib * (1 if k % 2 else -1)
        peers = [ports[c] for c in subs]
        peers += [ports[c] for c, stays in gone if stays or ts < leave_t + 100 * MS]
        monitor.write(
            "sample",
            "monitor",
            0,
            t=ts,
            pid=1,
            rss_mib=inj.rss_start_mib + inj.rss_slope_mib_per_min * mins + noise,
            cpu_pct=1.0,
            fds=10,
            threads=4,
            conns=len(peers),
            peers=peers,
        )
        ts += 250 * MS
        k += 1
    for i, off in enumerate(inj.faults_at_ms):
        faults.write(
            "fault",
            "proxy",
            0,
            t=start + int(off * MS),
            proxy="visdom",
            toxic=f"t{i}",
            kind="reset_peer",
            stream="downstream",
            detail="injected",
        )

    # -- quiescence: truth and final views ---------------------------------------------------------
    all_ids = [[SRC, s] for s in range(1, inj.events + 1)]
    if inj.truth:
        orch.write("truth", "orchestrator", 0, t=end - SEC, env=ENV, win=WIN, ids=all_ids)
    for c in subs:
        if not inj.final_views:
            break
        lost = set(inj.missing.get(c, []))
        ids = [i for i in all_ids if i[1] not in lost]
        ids += [[SRC, inj.events + 1000 + j] for j in range(inj.divergent.get(c, 0))]
        for s in inj.view_duplicates.get(c, []):
            ids.append([SRC, s])
        clients.write("view", c, 1, t=end - SEC // 2, env=ENV, win=WIN, ids=ids, final=True)
    for c in subs:
        clients.write("disconnect", c, 1, t=end - SEC // 4, reason="end", clean=True)
    orch.write("phase", t=end, name="end")
    for w in (clients, monitor, faults, orch):
        w.close()
    (run / "run.json").write_text(
        json.dumps(
            {
                "scenario": "synthetic",
                "target": {"version": "0.2.4", "variant": "stock", "url": "http://127.0.0.1:1"},
                "duration_s": round((end - t0) / 1e9, 3),
                "started_ns": t0,
                "ended_ns": end,
                "seed": 0,
                "params": {},
                "server": None,
                "proxy": None,
                "status": "complete",
                "error": None,
            }
        )
    )
    sub_ids = set(subs)
    return {
        "duplicate": sum(len(set(v)) for c, v in inj.duplicates.items() if c in sub_ids)
        + sum(len(set(v)) for c, v in inj.view_duplicates.items() if c in sub_ids),
        "missing": sum(len(set(v)) for c, v in inj.missing.items() if c in sub_ids),
        "reorder": sum(len(set(v)) for c, v in inj.reorder.items() if c in sub_ids)
        + sum(len(set(v)) for c, v in inj.gaps.items() if c in sub_ids),
        "stale": sum(n for c, n in inj.late_tail.items() if c in sub_ids)
        + sum(n for c, n in inj.regression.items() if c in sub_ids)
        + sum(n for c, n in inj.divergent.items() if c in sub_ids),
        "protocol_error": sum(
            n for per in causes.values() for n in (per.get("protocol_error") or {}).values()
        ),
        "reload": sum(n for per in causes.values() for n in (per.get("reload") or {}).values()),
        "ghost_subscribers": inj.ghosts,
        **_wire_expected(inj, sub_ids),
    }


def _wire_expected(inj: Inject, subs: set[str]) -> dict[str, int]:
    if not inj.wire:
        return {"wire_duplicate": 0, "wire_reorder": 0, "wire_gap": 0, "undecodable": 0}
    reorder = sum(len(set(v)) for c, v in inj.wire_reorders.items() if c in subs)
    if (
        inj.newest_first > 1
    ):  # each response of n updates, newest first: n - 1 arrive after a newer one
        n = inj.newest_first
        full, rest = divmod(inj.events, n)
        per_sub = full * (n - 1) + max(0, rest - 1)
        reorder += per_sub * sum(1 for c in subs if c.startswith("poll"))
    return {
        "wire_duplicate": sum(len(set(v)) for c, v in inj.wire_duplicates.items() if c in subs),
        "wire_reorder": reorder,
        "wire_gap": sum(len(set(v)) for c, v in inj.wire_gaps.items() if c in subs),
        "undecodable": sum(n for c, n in inj.undecodable.items() if c in subs),
    }


def _wire_frames(
    w: _Sorted, c: str, inj: Inject, t0: int, start: int, step: int, lat: int, cause: Any
) -> None:
    """What subscriber c's connection received: a snapshot after the initial load, then one update
    frame per append (in order unless injected otherwise), with the errors and reloads they cause."""
    polling = c.startswith("poll")

    def recv(
        t: int,
        kind: str,
        seq: int | None,
        poll: int | None = None,
        pos: int | None = None,
        rx: int | None = None,
        **extra: Any,
    ) -> None:
        fields: dict[str, Any] = {
            "command": "window" if kind == "snapshot" else "window_update",
            "bytes": 300,
            "win": WIN,
            "kind": kind,
        }
        if inj.rx:
            fields["rx"] = rx if rx is not None else t - 200_000
        if seq is None:
            fields.update(heads={}, ids={})
        elif kind == "snapshot":
            fields.update(heads={SRC: [seq, start + (seq - 1) * step]}, ids={SRC: [[1, seq + 1]]})
        else:
            send = start + (seq - 1) * step
            fields.update(heads={SRC: [seq, send]}, ids={SRC: [[seq, seq + 1]]})
        if polling:
            fields.update(poll=poll, pos=pos)
        w.write("recv", c, 1, t=t, **{**fields, **extra})

    def fails(t: int, seq: int, why: str, hint: str | None = None, reload: bool = True) -> None:
        extra = {"hint": hint} if hint else {}
        w.write(
            "protocol_error",
            c,
            1,
            t=t,
            kind="hash_mismatch",
            env=ENV,
            win=WIN,
            detail="finalHash differs",
            **extra,
        )
        cause(c, "protocol_error", why)
        if reload:
            w.write("resync", c, 1, t=t + 100_000, reason="hash_mismatch", env=ENV)
            cause(c, "reload", why)
            recv(t + 3 * MS, "snapshot", seq)

    recv(t0 + 12 * MS, "snapshot", None, poll=0, pos=0)  # after the connect and the initial resync
    dups, swaps, lost = (
        set(inj.wire_duplicates.get(c, [])),
        set(inj.wire_reorders.get(c, [])),
        set(inj.wire_gaps.get(c, [])),
    )
    bad = inj.undecodable.get(c, 0)
    unknown = inj.unknown_errors.get(c, 0)
    special = dups | swaps | lost | {s + 1 for s in swaps | lost}
    if polling and inj.newest_first > 1:
        n = inj.newest_first
        for k, first in enumerate(range(1, inj.events + 1, n)):
            seqs = list(range(first, min(first + n, inj.events + 1)))
            rx = start + (seqs[-1] - 1) * step + lat - 2 * MS
            for pos, seq in enumerate(reversed(seqs)):
                recv(rx + (pos + 1) * 10_000, "update", seq, poll=k + 1, pos=pos, rx=rx)
        return
    for seq in range(1, inj.events + 1):
        t = start + (seq - 1) * step + lat - 2 * MS
        poll = seq if polling else None
        if seq in lost:
            continue
        if seq in swaps:  # held back: arrives right after seq + 1
            continue
        recv(t, "update", seq, poll=poll, pos=0)
        if seq - 1 in swaps:  # seq fails on the copy; the tab reloads; then seq - 1 comes late
            fails(t + 50_000, seq, "wire_reorder")
            recv(t + 500_000, "update", seq - 1, poll=poll, pos=1)
        elif seq - 1 in lost:
            fails(t + 100_000, seq, "wire_gap", reload=inj.wire_gap_reload)
        elif seq in dups:
            recv(t + 500_000, "update", seq, poll=poll, pos=1)
            fails(t + 600_000, seq, "wire_duplicate")
        elif bad and seq % 7 == 3:
            bad -= 1
            w.write(
                "recv",
                c,
                1,
                t=t + 300_000,
                command="undecodable",
                bytes=12,
                win=None,
                undecodable=True,
                **({"poll": poll, "pos": 1} if polling else {}),
                **({"rx": t + 250_000} if inj.rx else {}),
            )
            w.write(
                "protocol_error",
                c,
                1,
                t=t + 400_000,
                kind="undecodable",
                win=None,
                detail="bad JSON",
            )
            cause(c, "protocol_error", "wire_undecodable")
        elif unknown and seq % 5 == 1 and seq not in special:
            unknown -= 1
            fails(t + 100_000, seq, "unknown")
        elif inj.writeback_every and seq % inj.writeback_every == 0 and seq not in special:
            fails(t + 100_000, seq, "render_writeback", hint="render_writeback")
    if bad or unknown:
        raise ValueError(
            f"{c}: too few events for the injected undecodable frames / unknown errors"
        )


def _apply(w: _Sorted, client: str, t: int, added: list[list[Any]], extra: int) -> None:
    for i in range(extra):
        w.write("recv", client, 1, t=t - 1000 - i, command="window_update", bytes=300, win=WIN)
    w.write(
        "apply",
        client,
        1,
        t=t,
        env=ENV,
        win=WIN,
        command="window_update",
        added=added,
        removed=[],
        dup=[],
        size=0,
    )
