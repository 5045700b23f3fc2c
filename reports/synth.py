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
    view_duplicates: dict[str, list[int]] = field(default_factory=dict)  # client -> seqs twice in the final view
    missing: dict[str, list[int]] = field(default_factory=dict)  # client -> seqs never delivered
    reorder: dict[str, list[int]] = field(default_factory=dict)  # client -> seqs k delivered after k+1
    gaps: dict[str, list[int]] = field(default_factory=dict)  # client -> seqs lost, then restored by a resync
    late_tail: dict[str, int] = field(default_factory=dict)  # client -> last n seqs delivered after the bound
    regression: dict[str, int] = field(default_factory=dict)  # client -> last n ids removed then restored
    divergent: dict[str, int] = field(default_factory=dict)  # client -> n ids in the final view the server lacks
    ghosts: int = 0  # extra subscribers that leave while their server socket stays
    gone_clean: int = 0  # extra subscribers that leave and whose socket goes too
    reloads: dict[str, int] = field(default_factory=dict)  # client -> non-initial resyncs
    protocol_errors: dict[str, int] = field(default_factory=dict)
    rss_start_mib: float = 100.0
    rss_slope_mib_per_min: float = 0.0  # during the steady phase
    rss_noise_mib: float = 0.0  # deterministic +- zigzag
    faults_at_ms: list[float] = field(default_factory=list)  # fault records (reset_peer) at these offsets
    truth: bool = True
    final_views: bool = True
    stale_bound_ms: float = 2000.0
    extra_records: int = 0  # recv records per apply (bench: realistic record mix)


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


def build_run(run_dir: str | os.PathLike[str], inj: Inject, t0: int = 1_700_000_000 * SEC) -> dict[str, int]:
    """Write a run folder; return the expected `findings` counts."""
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
        clients.write("connect", c, 1, t=t0 + 10 * MS, transport=transport, url="ws://x/socket",
                      local_port=port, env=ENV)
        clients.write("resync", c, 1, t=t0 + 11 * MS, reason="initial", env=ENV)

    # -- the steady stream: sends, acks, applies --------------------------------------------
    skip = {c: set(inj.missing.get(c, [])) | set(inj.gaps.get(c, [])) for c in subs}
    swap = {c: set(inj.reorder.get(c, [])) for c in subs}
    late = {c: set(range(inj.events - inj.late_tail.get(c, 0) + 1, inj.events + 1)) for c in subs}
    held: dict[str, tuple[int, int] | None] = dict.fromkeys(subs)
    for seq in range(1, inj.events + 1):
        ts = start + (seq - 1) * step
        clients.write("send", SRC, 1, t=ts, seq=seq, env=ENV, win=WIN, kind="line", op="append", bytes=120)
        clients.write("ack", SRC, 1, t=ts + 5 * MS, seq=seq, env=ENV, win=WIN, ok=True, status=200, rtt_ms=5.0)
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
                clients.write("apply", c, 1, t=ta + 2 * MS, env=ENV, win=WIN, command="window",
                              added=[[SRC, k, ts - step]], removed=[], dup=[], size=seq)
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
            ids = [[SRC, s] for s in range(inj.events - n + 1, inj.events + 1)]
            clients.write("apply", c, 1, t=t + 5 * MS, env=ENV, win=WIN, command="window_update",
                          added=[], removed=ids, dup=[], size=inj.events - n)
            clients.write("apply", c, 1, t=t + 6 * MS, env=ENV, win=WIN, command="window_update",
                          added=[[s, q, start + (q - 1) * step] for s, q in ids], removed=[], dup=[], size=inj.events)
        for i in range(inj.reloads.get(c, 0)):
            clients.write("resync", c, 1, t=t + (10 + i) * MS, reason="hash_mismatch", env=ENV)
        for i in range(inj.protocol_errors.get(c, 0)):
            clients.write("protocol_error", c, 1, t=t + (10 + i) * MS, kind="hash_mismatch", env=ENV,
                          win=WIN, detail="finalHash differs")
    t += SEC
    orch.write("phase", t=t, name="sources_stopped")

    # -- ghosts: extra subscribers that leave early ----------------------------------------------
    leave_t = start + 50 * MS
    gone = [(f"ghost-{i}", True) for i in range(inj.ghosts)] + [(f"gone-{i}", False) for i in range(inj.gone_clean)]
    for c, _ in gone:
        port += 1
        ports[c] = port
        clients.write("connect", c, 1, t=t0 + 20 * MS, transport="websocket", url="ws://x/socket",
                      local_port=port, env=ENV)
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
        monitor.write("sample", "monitor", 0, t=ts, pid=1, rss_mib=inj.rss_start_mib + inj.rss_slope_mib_per_min * mins + noise,
                      cpu_pct=1.0, fds=10, threads=4, conns=len(peers), peers=peers)
        ts += 250 * MS
        k += 1
    for i, off in enumerate(inj.faults_at_ms):
        faults.write("fault", "proxy", 0, t=start + int(off * MS), proxy="visdom", toxic=f"t{i}",
                     kind="reset_peer", stream="downstream", detail="injected")

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
    (run / "run.json").write_text(json.dumps({
        "scenario": "synthetic", "target": {"version": "0.2.4", "variant": "stock", "url": "http://127.0.0.1:1"},
        "duration_s": round((end - t0) / 1e9, 3), "started_ns": t0, "ended_ns": end, "seed": 0,
        "params": {}, "server": None, "proxy": None, "status": "complete", "error": None,
    }))
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
        "protocol_error": sum(inj.protocol_errors.values()),
        "reload": sum(inj.reloads.values()) + sum(len(set(v)) for c, v in inj.gaps.items() if c in sub_ids),
        "ghost_subscribers": inj.ghosts,
    }


def _apply(w: _Sorted, client: str, t: int, added: list[list[Any]], extra: int) -> None:
    for i in range(extra):
        w.write("recv", client, 1, t=t - 1000 - i, command="window_update", bytes=300, win=WIN)
    w.write("apply", client, 1, t=t, env=ENV, win=WIN, command="window_update", added=added, removed=[],
            dup=[], size=0)
