"""The observer's own health: did the harness keep headroom against the Visdom it measured?

Inputs: `recv` records (`rx` = bytes read off the socket, stamped before parsing; `t` =
handled by the replica; `rxq` = bytes still in the kernel buffer), `observer_sample`
records (CPU of each harness process), the server's `sample` records and the sources'
`ack`s. Outputs (mergeable, in `summary.observer`):
- per replica subscriber, the receive backlog `t - rx` (HdrHistogram, µs) and the largest
  kernel backlog;
- per harness process, its CPU samples (bounded);
- the edges of the drain: the last ack, the last frame read, the last frame handled.
The verdict is built by `observer_section` from these and the Config thresholds.

Recording into HdrHistogram costs microseconds per value (two per frame here), so, as in
latency.py, each value is first rounded to the histograms' own resolution (2 significant
digits: 8 bits) and counted in a dict, and the counts are recorded at the end: the same
histograms, bounded memory (at most ~256 distinct values per power of two and key).
"""

from __future__ import annotations

from typing import Any

from visdom_chaos.reports.checkers.base import Checker
from visdom_chaos.reports.checkers.state import RunState
from visdom_chaos.reports.summary import _hist_from, _hist_to, new_hist

MAX_CPU_SAMPLES = 20_000  # per process: 2.8 h at 0.5 s
BACKLOG_BUCKET_NS = 1_000_000_000
BACKLOG_MAX_US = 3_600_000_000
HIST_BITS = 8  # new_hist(2): 256 sub-buckets, so values above 255 keep their top 8 bits
FLUSH_AT = 200_000  # distinct (key, value) counts before folding into the histograms


class ObserverChecker(Checker):
    name = "observer"
    handles = ("recv", "observer_sample", "sample", "ack")

    def __init__(self) -> None:
        self.backlog: dict[str, Any] = {}  # client -> HdrHistogram of t - rx (µs)
        self.rxq_max: dict[str, int] = {}
        self.buckets: dict[int, Any] = {}  # second -> HdrHistogram over all subscribers
        self.pending: dict[tuple[str, int], int] = {}  # (client, rounded µs) -> count
        self.pending_buckets: dict[tuple[int, int], int] = {}  # (second, rounded µs) -> count
        self.cpu: dict[str, dict[str, Any]] = {}  # process name -> {role, pid, samples [[t, cpu]]}
        self.server_cpu: list[list[float]] = []
        self.last_ack = 0
        self.last_rx = 0
        self.last_handled = 0

    def on_record(self, rec: dict[str, Any], state: RunState) -> None:
        typ = rec["type"]
        t = rec["t"]
        if typ == "recv":
            rx = rec.get("rx")
            if type(rx) is not int:  # a real browser's frames, or an older journal
                return
            client = rec["client"]
            us = (t - rx) // 1000
            us = 1 if us < 1 else (BACKLOG_MAX_US if us > BACKLOG_MAX_US else us)
            shift = us.bit_length() - HIST_BITS
            if shift > 0:
                us = us >> shift << shift
            pending, key = self.pending, (client, us)
            pending[key] = pending.get(key, 0) + 1
            buckets, bkey = self.pending_buckets, (rx - rx % BACKLOG_BUCKET_NS, us)
            buckets[bkey] = buckets.get(bkey, 0) + 1
            if len(pending) + len(buckets) >= FLUSH_AT:
                self._flush()
            q = rec.get("rxq")
            if type(q) is int and q > self.rxq_max.get(client, -1):
                self.rxq_max[client] = q
            if rx > self.last_rx:
                self.last_rx = rx
            if t > self.last_handled:
                self.last_handled = t
        elif typ == "observer_sample":
            name = str(rec.get("name") or rec.get("client") or "?")
            entry = self.cpu.get(name)
            if entry is None:
                entry = self.cpu[name] = {
                    "role": rec.get("role"),
                    "pid": rec.get("pid"),
                    "samples": [],
                }
            if len(entry["samples"]) < MAX_CPU_SAMPLES and isinstance(
                rec.get("cpu_pct"), int | float
            ):
                entry["samples"].append([t, float(rec["cpu_pct"])])
        elif typ == "sample":
            if (
                isinstance(rec.get("cpu_pct"), int | float)
                and len(self.server_cpu) < MAX_CPU_SAMPLES
            ):
                self.server_cpu.append([t, float(rec["cpu_pct"])])
        elif rec.get("ok") and t > self.last_ack:  # ack
            self.last_ack = t

    def _flush(self) -> None:
        for (client, us), n in self.pending.items():
            h = self.backlog.get(client)
            if h is None:
                h = self.backlog[client] = new_hist(2)
            h.record_value(us, n)
        for (b, us), n in self.pending_buckets.items():
            h = self.buckets.get(b)
            if h is None:
                h = self.buckets[b] = new_hist(2)
            h.record_value(us, n)
        self.pending.clear()
        self.pending_buckets.clear()

    def finish(self, state: RunState) -> None:
        self._flush()
        state.summary.observer = {
            "subscribers": {
                c: {"backlog": _hist_to(h), "rxq_max": self.rxq_max.get(c)}
                for c, h in sorted(self.backlog.items())
            },
            "buckets": {str(b): _hist_to(h) for b, h in sorted(self.buckets.items())},
            "processes": self.cpu,
            "server_cpu": self.server_cpu,
            "edges": {
                "last_ack": self.last_ack or None,
                "last_rx": self.last_rx or None,
                "last_handled": self.last_handled or None,
            },
        }


def merge_observer(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Union of two workers' observer parts (each client and process lives in one of them)."""
    if not a or not b:
        return dict(a or b)
    buckets = dict(a.get("buckets") or {})
    for k, v in (b.get("buckets") or {}).items():
        if k in buckets:
            h = _hist_from(buckets[k], 2)
            h.add(_hist_from(v, 2))
            buckets[k] = _hist_to(h)
        else:
            buckets[k] = v
    edges = {}
    for k in ("last_ack", "last_rx", "last_handled"):
        vals = [e[k] for e in (a.get("edges") or {}, b.get("edges") or {}) if e.get(k)]
        edges[k] = max(vals) if vals else None
    return {
        "subscribers": {**(a.get("subscribers") or {}), **(b.get("subscribers") or {})},
        "buckets": dict(sorted(buckets.items())),
        "processes": {**(a.get("processes") or {}), **(b.get("processes") or {})},
        "server_cpu": sorted((a.get("server_cpu") or []) + (b.get("server_cpu") or [])),
        "edges": edges,
    }


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    return s[min(len(s) - 1, int(q * (len(s) - 1) + 0.5))]


def _sustained_s(samples: list[list[float]], threshold: float) -> float:
    """Longest stretch (s) of consecutive samples at or above `threshold` % of a core."""
    best, start, prev = 0.0, None, None
    for t, cpu in samples:
        if cpu >= threshold:
            if start is None:
                start = prev if prev is not None else t  # the interval that ended here was busy
            best = max(best, (t - start) / 1e9)
        else:
            start = None
        prev = t
    return round(best, 2)


def observer_section(
    obs: dict[str, Any],
    cfg: Any,
    t0: int,
    window: tuple[int | None, int | None],
    replica_clients: set[str],
) -> dict[str, Any]:
    """report.json `observer`: figures and a verdict (`healthy`, `lost_headroom`, `unmeasured`)."""
    lo, hi = window
    reasons: list[str] = []
    processes = []
    for name, entry in sorted((obs.get("processes") or {}).items()):
        samples = [
            s
            for s in entry.get("samples") or []
            if (lo is None or s[0] >= lo) and (hi is None or s[0] <= hi)
        ]
        cpus = [c for _, c in samples]
        sustained = _sustained_s(samples, cfg.observer_cpu_pct)
        row = {
            "name": name,
            "role": entry.get("role"),
            "pid": entry.get("pid"),
            "samples": len(cpus),
            "cpu_mean_pct": round(sum(cpus) / len(cpus), 1) if cpus else None,
            "cpu_p90_pct": _pct(cpus, 0.9),
            "cpu_max_pct": max(cpus) if cpus else None,
            "above_threshold_longest_s": sustained,
        }
        processes.append(row)
        if sustained >= cfg.observer_cpu_sustained_s:
            reasons.append(
                f"{name} ran at >= {cfg.observer_cpu_pct:g} % of a core for {sustained:g} s "
                f"(bound {cfg.observer_cpu_sustained_s:g} s)"
            )
    subs = []
    for client, entry in sorted((obs.get("subscribers") or {}).items()):
        if client not in replica_clients:
            continue
        h = _hist_from(entry.get("backlog") or "", 2)
        n = h.get_total_count()
        p99 = round(h.get_value_at_percentile(99) / 1000, 1) if n else None
        row = {
            "client": client,
            "frames": n,
            "backlog_p50_ms": round(h.get_value_at_percentile(50) / 1000, 1) if n else None,
            "backlog_p99_ms": p99,
            "backlog_max_ms": round(h.get_max_value() / 1000, 1) if n else None,
            "kernel_backlog_max_bytes": entry.get("rxq_max"),
        }
        subs.append(row)
        if p99 is not None and p99 > cfg.observer_backlog_p99_ms:
            reasons.append(
                f"{client}'s receive backlog p99 {p99:g} ms > {cfg.observer_backlog_p99_ms:g} ms"
            )
    edges = obs.get("edges") or {}
    last_ack, last_rx, last_handled = (
        edges.get("last_ack"),
        edges.get("last_rx"),
        edges.get("last_handled"),
    )

    def rel(t: int | None) -> float | None:
        return None if t is None else round((t - t0) / 1e9, 3)

    server_busy = None
    if last_ack:
        busy = [
            t
            for t, c in obs.get("server_cpu") or []
            if t >= last_ack and c >= cfg.observer_server_busy_pct
        ]
        server_busy = max(busy) if busy else last_ack
    drain = {
        "last_ack_s": rel(last_ack),
        "last_frame_read_s": rel(last_rx),
        "last_frame_handled_s": rel(last_handled),
        "server_busy_until_s": rel(server_busy),
        "drain_s": round((last_handled - last_ack) / 1e9, 3) if last_ack and last_handled else None,
        "harness_behind_at_end_s": round((last_handled - last_rx) / 1e9, 3)
        if last_rx and last_handled
        else None,
    }
    behind = drain["harness_behind_at_end_s"]
    if behind is not None and behind > cfg.observer_end_lag_s:
        reasons.append(
            f"the last frame was handled {behind:g} s after it was read "
            f"(bound {cfg.observer_end_lag_s:g} s): the backlog was in the harness"
        )
    measured = bool(subs) or bool(processes)
    verdict = "lost_headroom" if reasons else ("healthy" if measured else "unmeasured")
    backlog_series = []
    for b, enc in sorted((obs.get("buckets") or {}).items(), key=lambda kv: int(kv[0])):
        h = _hist_from(enc, 2)
        if h.get_total_count():
            backlog_series.append(
                [
                    rel(int(b)),
                    round(h.get_value_at_percentile(99) / 1000, 1),
                    round(h.get_max_value() / 1000, 1),
                ]
            )
    return {
        "verdict": verdict,
        "reasons": reasons,
        "rule": {
            "backlog_p99_ms": cfg.observer_backlog_p99_ms,
            "cpu_pct": cfg.observer_cpu_pct,
            "cpu_sustained_s": cfg.observer_cpu_sustained_s,
            "end_lag_s": cfg.observer_end_lag_s,
        },
        "processes": processes,
        "subscribers": subs,
        "drain": drain,
        "series": {
            "backlog": backlog_series,
            "cpu": {
                name: [[rel(int(t)), c] for t, c in entry.get("samples") or []][:4000]
                for name, entry in sorted((obs.get("processes") or {}).items())
            },
            "server_cpu": [[rel(int(t)), c] for t, c in obs.get("server_cpu") or []][::2][:4000],
        },
    }
