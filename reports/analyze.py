"""Analyse a run folder into report.json (schema visdom-chaos/report/1, see reports/SCHEMA.md)."""

from __future__ import annotations

import gc
import os
from bisect import bisect_right
from collections.abc import Iterator
from contextlib import contextmanager
from fnmatch import fnmatchcase
from typing import Any, overload

from visdom_chaos.journal import JournalError
from visdom_chaos.reports import stalls
from visdom_chaos.reports.browser import browser_section
from visdom_chaos.reports.checkers import Config
from visdom_chaos.reports.checkers.observer import observer_section
from visdom_chaos.reports.checkers.traffic import traffic_section
from visdom_chaos.reports.checkers.userwin import user_windows_section
from visdom_chaos.reports.checkers.wire import causes_section, odd_one_out, wire_section
from visdom_chaos.reports.client_socket import client_socket_section, load_client_socket
from visdom_chaos.reports.engine import Analyzer
from visdom_chaos.reports.intervals import IntervalSet, union
from visdom_chaos.reports.journals import (
    DEFAULT_SLACK_NS,
    ReadStats,
    RunFolderError,
    load_run_meta,
    run_records,
)
from visdom_chaos.reports.page import load_page, page_section
from visdom_chaos.reports.security import load_security, report_section
from visdom_chaos.reports.serverlog import scan_server_log
from visdom_chaos.reports.summary import (
    CONTROL_KINDS,
    FINDING_KINDS,
    FindingGroup,
    Summary,
    fault_label,
)

SCHEMA = "visdom-chaos/report/1"
MAX_EVIDENCE = 200
LAT_BUCKETS_TARGET = 60  # latency-over-time points in a run


def config_for(meta: dict[str, Any], **overrides: Any) -> Config:
    """Default thresholds; the latency-over-time bucket scales with the planned duration."""
    duration = meta.get("duration_s")
    cfg = Config(**overrides)
    if "lat_bucket_ns" not in overrides and isinstance(duration, int | float) and duration > 0:
        cfg.lat_bucket_ns = max(1, int(duration / LAT_BUCKETS_TARGET)) * 1_000_000_000
    return cfg


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Millions of short-lived, acyclic record dicts make the cyclic GC rescan live objects over
    and over (~15 % of the time); reference counting frees them, so pause it for the pass."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def summarize_run(
    run_dir: str | os.PathLike[str], config: Config | None = None, slack_ns: int = DEFAULT_SLACK_NS
) -> tuple[Summary, dict[str, Any], ReadStats]:
    """One streaming pass over a run folder's journals -> (summary, run.json, read stats)."""
    if not os.path.isdir(run_dir):
        raise RunFolderError(f"{run_dir}: not a directory")
    meta = load_run_meta(run_dir)
    cfg = config or config_for(meta)
    started = meta.get("started_ns")
    analyzer = Analyzer(cfg, t0=started if isinstance(started, int) else None)
    stats = ReadStats()
    with _gc_paused():
        try:
            analyzer.feed_all(run_records(run_dir, stats, slack_ns))
        except JournalError as exc:
            raise RunFolderError(str(exc)) from exc
        summary = analyzer.finish()
    summary.counters["input.records"] = stats.records + stats.skipped
    summary.counters["input.skipped"] = stats.skipped
    summary.counters["input.torn"] = stats.torn
    summary.counters["input.inversions"] = stats.inversions
    if stats.torn:
        where = ", ".join(f"{k}: {v}" for k, v in sorted(stats.torn_files.items()))
        summary.note(
            f"{stats.torn} torn journal line(s) skipped (a writer crashed mid-line: {where})"
        )
    if stats.inversions:
        summary.note(
            f"{stats.inversions} record(s) later than the {slack_ns / 1e6:g} ms merge window"
        )
    return summary, meta, stats


def analyze_run(run_dir: str | os.PathLike[str], config: Config | None = None) -> dict[str, Any]:
    """Analyse a finished or crashed run folder; returns the report.json dict."""
    summary, meta, stats = summarize_run(run_dir, config)
    return assemble_report(run_dir, summary, meta, config or config_for(meta), stats)


def assemble_report(
    run_dir: str | os.PathLike[str],
    summary: Summary,
    meta: dict[str, Any],
    cfg: Config,
    stats: ReadStats | None = None,
    *,
    browser: bool = True,
) -> dict[str, Any]:
    """The whole report of a run folder's summary: `visdom-chaos run`, `analyze` and every
    Locust process assemble it here, so their reports have the same sections.

    `summary` may be merged from several processes (a distributed Locust master): the
    `input` counts are then the summary's, over every process's journals, and `files`
    the ones read here; `browser=False` leaves out the section built from this folder's
    Chromium journals, which a merged summary's pages are not in."""
    report = build_report(summary, meta, cfg)
    report["input"] = input_section(summary, stats or ReadStats())
    # what the faults made the server throw; null where the run has no server log (external target)
    log = os.path.join(run_dir, "server.log")
    report["server"] = scan_server_log(log) if os.path.exists(log) else {"exceptions": None}
    if (process := external_server_process(meta)) is not None:
        report["server"]["process"] = process
    if browser and (section := browser_section(run_dir, summary, report)) is not None:
        report["browser"] = section
    if (security := load_security(run_dir)) is not None:
        report["security"] = report_section(security)
    if (page := load_page(run_dir)) is not None:
        report["page"] = page_section(page)
    if (client_socket := load_client_socket(run_dir)) is not None:
        report["client_socket"] = client_socket_section(client_socket)
    return report


def external_server_process(meta: dict[str, Any]) -> dict[str, Any] | None:
    """Which process an external target's monitor measured (run.json `server`, found by its
    port: visdom_chaos/localserver.py), or why none was; None for an embedded target."""
    srv = meta.get("server")
    if not isinstance(srv, dict) or not srv.get("external"):
        return None
    keys = ("pid", "port", "found_by", "name", "username", "listen", "cmdline", "note")
    return {k: srv.get(k) for k in keys}


def input_section(summary: Summary, stats: ReadStats) -> dict[str, Any]:
    """What was read: the journal files, records, undecoded (`recv`, counted only), torn lines, inversions."""
    c = summary.counters
    return {
        "files": [os.path.basename(f) for f in stats.files],
        "records": c.get("input.records", stats.records + stats.skipped),
        "undecoded": c.get("input.skipped", stats.skipped),
        "torn": c.get("input.torn", stats.torn),
        "inversions": c.get("input.inversions", stats.inversions),
    }


# -- report building (from a summary, so merged Locust summaries render the same way) ------------


@overload
def _s(t: int, t0: int) -> float: ...
@overload
def _s(t: int | None, t0: int) -> float | None: ...
def _s(t: int | None, t0: int) -> float | None:
    return None if t is None else round((t - t0) / 1e9, 3)


def _ms(us: float) -> float:
    return round(us / 1000.0, 3)


# counted as distinct (id, subscriber) pairs
ID_KINDS = (
    "duplicate",
    "missing",
    "reorder",
    "stale",
    "wire_duplicate",
    "wire_reorder",
    "wire_gap",
)


def counts_by_client(summary: Summary) -> dict[str, dict[str, int]]:
    """`findings` counts per subscriber lineage, in one pass over the groups."""
    sets: dict[tuple[str, str, str, str, str], IntervalSet] = {}
    out: dict[str, dict[str, int]] = {}

    def row(client: str) -> dict[str, int]:
        r = out.get(client)
        if r is None:
            r = out[client] = dict.fromkeys(FINDING_KINDS, 0)
        return r

    for g in summary.groups.values():
        if g.kind in ID_KINDS:  # distinct across details: union per (kind, client, window, source)
            for src, ids in g.ids.items():
                k = (g.kind, g.client, g.env, g.win, src)
                sets[k] = union(sets[k], ids) if k in sets else ids
        elif g.kind in FINDING_KINDS:
            row(g.client)[g.kind] += g.observations
    for (kind, client, *_), ids in sets.items():
        row(client)[kind] += len(ids)
    for gh in summary.ghosts.values():
        row(gh["client"])["ghost_subscribers"] += 1
    return out


def finding_counts(summary: Summary, client: str | None = None) -> dict[str, int]:
    by_client = counts_by_client(summary)
    if client is not None:
        return by_client.get(client, dict.fromkeys(FINDING_KINDS, 0))
    total = dict.fromkeys(FINDING_KINDS, 0)
    for r in by_client.values():
        for k, v in r.items():
            total[k] += v
    return total


def _details(summary: Summary) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for g in summary.groups.values():
        n = g.count() if g.ids else g.observations
        d = out.setdefault(g.kind, {})
        d[g.detail] = d.get(g.detail, 0) + n
    storms = sorted(
        {g.client for g in summary.groups.values() if g.kind == "reload" and g.info.get("storm")}
    )
    out.setdefault("reload", {})["storm_subscribers"] = len(storms)
    return out


class FaultIndex:
    def __init__(self, faults: list[dict[str, Any]], t0: int, window_s: float) -> None:
        self.all = sorted(faults, key=lambda f: f["t"])
        self.faults = [
            f for f in self.all if f.get("kind") not in CONTROL_KINDS
        ]  # what can explain a finding
        self.ts = [f["t"] for f in self.faults]
        self.t0 = t0
        self.window_ns = int(window_s * 1e9)

    def near(
        self, t_first: int | None, t_last: int | None, limit: int = 3, client: str | None = None
    ) -> list[dict[str, Any]]:
        """The nearest fault at or before t_first (within the window), then faults during the span.

        With `client`, faults another client's connection took (a toxic aimed at it: the
        fault's `client`) are passed over: they cannot explain this client's finding."""
        if t_first is None or not self.ts:
            return []
        t_last = t_first if t_last is None else t_last

        def mine(f: dict[str, Any]) -> bool:
            c = f.get("client")
            if client is None or c == client:
                return True
            if c not in (None, "", "proxy"):
                return False  # it touched another client's connection
            detail = f.get("detail")
            if isinstance(detail, dict) and isinstance(detail.get("args"), dict):
                detail = detail["args"]  # a schedule step: its toxic's attributes are in its args
            attrs = detail.get("attributes") if isinstance(detail, dict) else None
            globs = attrs.get("clients") if isinstance(attrs, dict) else None
            # adding or changing a toxic aimed at other clients explains nothing about this one
            return not isinstance(globs, list) or any(fnmatchcase(client, str(g)) for g in globs)

        out = []
        i = bisect_right(self.ts, t_first) - 1
        while i >= 0 and t_first - self.ts[i] <= self.window_ns:
            if mine(self.faults[i]):
                out.append(self.faults[i])
                break
            i -= 1
        j = bisect_right(self.ts, t_first)
        while j < len(self.ts) and self.ts[j] <= t_last and len(out) < limit:
            if mine(self.faults[j]):
                out.append(self.faults[j])
            j += 1
        return [
            {
                "t_s": _s(f["t"], self.t0),
                "label": fault_label(f),
                "kind": f.get("kind"),
                "toxic": f.get("toxic"),
                "proxy": f.get("proxy"),
                "stream": f.get("stream"),
                "detail": f.get("detail"),
                "client": f.get("client") if f.get("client") not in (None, "", "proxy") else None,
                "ms_before_first": round((t_first - f["t"]) / 1e6, 1),
            }
            for f in out
        ]


def _message(
    kind: str,
    detail: str,
    count: int,
    who: str,
    span: tuple[float | None, float | None],
    near: list[dict[str, Any]],
) -> str:
    a, b = span
    when = f"t={a:.1f} s" if a == b or b is None else f"t={a:.1f}–{b:.1f} s"
    text = f"{count} {kind} ({detail}) for {who}, {when}"
    if near:
        f = near[0]
        rel = f["ms_before_first"]
        label = f["label"] + (f" ({f['toxic']}, aimed at {f['client']})" if f.get("client") else "")
        text += (
            f"; {rel:.0f} ms after {label} at t={f['t_s']:.1f} s"
            if rel >= 0
            else f"; during {label} at t={f['t_s']:.1f} s"
        )
    return text


def _evidence(summary: Summary, t0: int, faults: FaultIndex) -> tuple[list[dict[str, Any]], int]:
    order = {k: i for i, k in enumerate(FINDING_KINDS)}
    groups: list[FindingGroup] = sorted(
        summary.groups.values(), key=lambda g: (order.get(g.kind, 99), g.t_first or 0, g.client)
    )
    out: list[dict[str, Any]] = []
    for g in groups:
        count = g.count() if g.ids else g.observations
        if count == 0:
            continue
        near = faults.near(g.t_first, g.t_last, client=g.client)
        span = (_s(g.t_first, t0), _s(g.t_last, t0))
        where = "/".join(x for x in (g.env, g.win) if x)
        who = g.client + (f" in {where}" if where else "")
        out.append(
            {
                "kind": g.kind,
                "detail": g.detail,
                "clients": [g.client],
                "windows": [where] if g.win else [],
                "count": count,
                "ids": g.sample(),
                "ids_total": g.count(),
                "t_first_s": span[0],
                "t_last_s": span[1],
                "faults_near": near,
                "info": g.info,
                "message": _message(g.kind, g.detail, count, who, span, near)
                + (f" — {g.info['says']}" if g.info.get("says") else ""),
            }
        )
    for key, gh in summary.ghosts.items():
        near = faults.near(gh["disconnect_t"], gh["still_there_t"])
        span = (_s(gh["disconnect_t"], t0), _s(gh["still_there_t"], t0))
        out.append(
            {
                "kind": "ghost_subscribers",
                "detail": "socket_outlived_client",
                "clients": [gh["client"]],
                "windows": [],
                "count": 1,
                "ids": [],
                "ids_total": 0,
                "t_first_s": span[0],
                "t_last_s": span[1],
                "faults_near": near,
                "info": {"connection": key, **{k: gh[k] for k in ("peer_port", "local_port")}},
                "message": _message(
                    "ghost subscriber",
                    f"server peer port {gh['peer_port']}",
                    1,
                    f"{gh['client']} conn {gh['conn']}",
                    span,
                    near,
                ),
            }
        )
    return out[:MAX_EVIDENCE], len(out)


def _percentiles(h: Any) -> dict[str, Any]:
    """p50/p95/p99/max (ms) and the count of one HdrHistogram of µs; None where it is empty."""
    n = h.get_total_count()
    out: dict[str, Any] = {"p50": None, "p95": None, "p99": None, "max": None, "count": n}
    if n:
        out.update(
            p50=_ms(h.get_value_at_percentile(50)),
            p95=_ms(h.get_value_at_percentile(95)),
            p99=_ms(h.get_value_at_percentile(99)),
            max=_ms(h.get_max_value()),
        )
    return out


def _latency(summary: Summary, t0: int) -> dict[str, Any]:
    out = _percentiles(summary.latency)
    out["over_time"] = [
        {"t_s": _s(b, t0), "n": p["count"], **{k: p[k] for k in ("p50", "p95", "p99", "max")}}
        for b, bh in sorted(summary.lat_buckets.items())
        if (p := _percentiles(bh))["count"]
    ]
    return out


# What an observer without headroom cannot vouch for: figures made of its own timestamps.
TIMING_METRICS = (
    "latency_ms",
    "latency_wire_ms",
    "findings.stale",
    "findings_detail.stale.lag",
    "memory.slow_subscribers",
    "memory.slow_subscriber_ids",
    "memory.slope_per_slow_subscriber_mib_per_min",
    "memory.growth_while_slow_mib_per_min",
    "memory.growth_while_none_slow_mib_per_min",
)


def _trust(report: dict[str, Any]) -> dict[str, Any]:
    """Mark the timing findings untrusted when the observer lost headroom (reports/README.md)."""
    obs = report["observer"]
    verdict = obs["verdict"]
    if verdict != "lost_headroom":
        return {
            "timing": "trusted" if verdict == "healthy" else "unmeasured",
            "untrusted_metrics": [],
            "reason": None if verdict == "healthy" else "no observer figures in the journals",
        }
    lag = (report.get("findings_detail", {}).get("stale") or {}).get("lag", 0)
    metrics = [m for m in TIMING_METRICS if not (m == "findings.stale" and not lag)]
    reason = "observer lost headroom: " + "; ".join(obs["reasons"])
    report["latency_ms"]["trusted"] = report["latency_wire_ms"]["trusted"] = False
    report["memory"]["slow_subscribers_trusted"] = False
    for e in report.get("evidence") or []:
        if e["kind"] == "stale" and e["detail"] == "lag":
            e["info"]["untrusted"] = True
            e["message"] += " [untrusted: observer lost headroom]"
    report["notes"].append(
        reason + "; latency, stale lag and slow-subscriber figures are untrusted"
    )
    return {"timing": "untrusted", "untrusted_metrics": metrics, "reason": reason}


def _memory(summary: Summary, cfg: Config, slow: int) -> dict[str, Any]:
    steady = summary.rss_steady.n >= 2
    reg = summary.rss_steady if steady else summary.rss_all
    slope = reg.slope()
    # what the fit says the steady phase added; short runs must also clear this before being flagged
    growth = (slope or 0.0) * (reg.span() or 0.0)
    out: dict[str, Any] = {
        "rss_start_mib": summary.rss_first[1] if summary.rss_first else None,
        "rss_end_mib": summary.rss_last[1] if summary.rss_last else None,
        "rss_peak_mib": summary.rss_peak,
        "slope_mib_per_min": None if slope is None else round(slope, 3),
        "growth_flagged": bool(
            slope is not None
            and slope > cfg.memory_bound_mib_per_min
            and growth > cfg.memory_min_growth_mib
        ),
        "fitted_growth_mib": round(growth, 3),
        "min_growth_mib": cfg.memory_min_growth_mib,
        "implied_mib_per_hour": None if slope is None else round(slope * 60, 1),
        "bound_mib_per_min": cfg.memory_bound_mib_per_min,
        "slope_phase": "steady" if steady else "all",
        "samples": reg.n,
        "slow_subscribers": slow,
        "slope_per_slow_subscriber_mib_per_min": (
            round(slope / slow, 3) if slope is not None and slow else None
        ),
    }
    return out


def _connected_series(summary: Summary, t0: int) -> list[list[float]]:
    events = []
    for tl in summary.timeline.values():
        for t, what, _ in tl:
            if what == "connect":
                events.append((t, 1))
            elif what == "disconnect":
                events.append((t, -1))
    n, out = 0, []
    for t, d in sorted(events):
        n += d
        out.append([_s(t, t0), n])
    return out


def build_report(summary: Summary, meta: dict[str, Any], cfg: Config) -> dict[str, Any]:
    t0 = summary.t0 or 0
    faults = FaultIndex(summary.faults, t0, cfg.fault_window_s)
    per_client = counts_by_client(summary)
    counts = dict.fromkeys(FINDING_KINDS, 0)
    for r in per_client.values():
        for k, v in r.items():
            counts[k] += v
    notes = list(summary.notes)
    notes += [
        n for n in meta.get("notes") or [] if isinstance(n, str) and n not in notes
    ]  # what the run noted
    if not summary.subscribers:
        notes.append(
            "no subscriber connections in the journals: per-subscriber findings not measured"
        )
    if summary.rss_first is None:
        notes.append("no server samples in the journals: memory not measured")
    if summary.latency.get_total_count() == 0:
        notes.append("no deliveries carrying a send time: latency not measured")
    stall_faults = sum(1 for f in summary.faults if stalls.is_stall(f))
    # slow subscribers: a fault stalled them by name, or ids reached them late
    spans = stalls.slow_intervals(summary)
    slow_clients = set(spans)
    slow = len(slow_clients)
    slow_series = stalls.slow_count_series(spans)
    evidence, n_evidence = _evidence(summary, t0, faults)
    if n_evidence > len(evidence):
        notes.append(f"evidence truncated to {len(evidence)} of {n_evidence} entries")
    target = meta.get("target")
    if not isinstance(target, dict):
        target = {}
    end = summary.t_end or t0
    duration = meta.get("duration_s")
    if meta.get("started_ns") and meta.get("ended_ns"):
        duration = round((meta["ended_ns"] - meta["started_ns"]) / 1e9, 3)
    elif duration is None:
        duration = round((end - t0) / 1e9, 3)
    if meta.get("status") and meta.get("status") != "complete":
        notes.append(
            f"run status: {meta.get('status')}"
            + (f" ({meta['error']})" if meta.get("error") else "")
        )
    memory = _memory(summary, cfg, slow)
    if memory["rss_start_mib"] is not None and memory["rss_peak_mib"] is not None:
        memory["growth_mib"] = round(memory["rss_peak_mib"] - memory["rss_start_mib"], 3)
    memory["stall_faults"] = stall_faults
    memory["slow_subscriber_ids"] = sorted(slow_clients)[:50]
    memory.update(stalls.rss_vs_slow(summary, slow_series))
    report: dict[str, Any] = {
        "schema": SCHEMA,
        "scenario": meta.get("scenario", "unknown"),
        "target": {k: target.get(k) for k in ("version", "variant", "url")},
        "duration_s": duration,
        "status": meta.get("status", "unknown"),
        "totals": {
            "sent": sum(len(s) for s in summary.sent.values()),
            "acked": sum(len(s) for s in summary.acked.values()),
            "delivered": sum(int(s.get("delivered", 0)) for s in summary.subscribers.values()),
            "subscribers": len(summary.subscribers),
            # updates the server did not answer OK (an HTTP error, a timeout): the job was told no
            "not_acked": sum(len(s) for s in summary.sent.values())
            - sum(len(s) for s in summary.acked.values()),
            # connections the server closed under a subscriber (it did not leave): it went offline
            "server_closed": sum(
                int((s.get("disconnects") or {}).get("server_closed", 0))
                for s in summary.subscribers.values()
            ),
        },
        "findings": counts,
        "findings_detail": _details(summary),
        "memory": memory,
        "latency_ms": _latency(summary, t0),
        "latency_wire_ms": _percentiles(summary.latency_wire),
        "traffic": traffic_section(summary.traffic),
        "subscribers": [
            {
                "id": c,
                "transport": s.get("transport") or "unknown",
                "findings": per_client.get(c, dict.fromkeys(FINDING_KINDS, 0)),
                "conns": s.get("conns", 0),
                "connected_s": round(s.get("connected_ns", 0) / 1e9, 3),
                "delivered": s.get("delivered", 0),
                "resyncs": s.get("resyncs", {}),
                "disconnects": s.get("disconnects", {}),
                "ended_connected": s.get("ended_connected"),
            }
            for c, s in sorted(summary.subscribers.items())
        ],
        "evidence": evidence,
        "ghosts": [
            {
                **{k: v for k, v in g.items() if not k.endswith("_t")},
                "disconnect_s": _s(g["disconnect_t"], t0),
                "still_there_s": _s(g["still_there_t"], t0),
            }
            for g in summary.ghosts.values()
        ],
        "faults": [
            {
                "t_s": _s(f["t"], t0),
                **{k: f.get(k) for k in ("client", "proxy", "toxic", "kind", "stream", "detail")},
            }
            for f in faults.all
        ],
        "phases": {k: _s(v, t0) for k, v in sorted(summary.phases.items(), key=lambda kv: kv[1])},
        "series": {
            "rss": [[_s(p[0], t0), *p[1:]] for p in summary.rss_series],
            "subscribers_connected": _connected_series(summary, t0),
            "slow_subscribers": [[_s(t, t0), n] for t, n in slow_series],
        },
        "timeline": {
            c: [[_s(t, t0), what, detail] for t, what, detail in tl]
            for c, tl in sorted(summary.timeline.items())
        },
        "config": {
            "stale_bound_ms": cfg.stale_bound_ms,
            "ghost_settle_s": cfg.ghost_settle_s,
            "memory_bound_mib_per_min": cfg.memory_bound_mib_per_min,
            "memory_min_growth_mib": cfg.memory_min_growth_mib,
            "reload_storm_per_min": cfg.reload_storm_per_min,
            "fault_window_s": cfg.fault_window_s,
            "latency_bucket_s": cfg.lat_bucket_ns / 1e9,
        },
        "notes": notes,
    }
    window = (
        summary.phases.get("steady"),
        summary.phases.get("quiescent") or summary.phases.get("end"),
    )
    replica_clients = {
        c for c, s in summary.subscribers.items() if s.get("transport") in ("websocket", "polling")
    }
    report["observer"] = observer_section(summary.observer, cfg, t0, window, replica_clients)
    if isinstance(meta.get("workers"), list):
        report["observer"]["workers"] = meta["workers"]
    report["trust"] = _trust(report)
    _wire_sections(report, summary, cfg, per_client)
    if (user_windows := user_windows_section(summary)) is not None:
        report["user_windows"] = user_windows
    return report


def _wire_sections(
    report: dict[str, Any], summary: Summary, cfg: Config, per_client: dict[str, dict[str, int]]
) -> None:
    """`wire`, `causes`, `singled_out`, `normal_behaviour` (reports/SCHEMA.md, issue 14)."""
    measured = bool(summary.wire)
    gap = report["findings_detail"].setdefault("wire_gap", {})  # both always there for the gate
    gap.setdefault("healed", 0)
    gap.setdefault("unhealed", 0)
    report["wire"] = wire_section(summary.wire, per_client, report["findings_detail"], measured)
    causes = causes_section(summary.causes, cfg.unknown_cause_share, cfg.unknown_cause_min)
    report["causes"] = causes
    report["config"]["unknown_cause_share"] = cfg.unknown_cause_share
    for sub in report["subscribers"]:
        sub["causes"] = causes["by_subscriber"].get(sub["id"], {})
        sub["wire"] = report["wire"]["subscribers"].get(sub["id"])
    if causes["unknown_flagged"]:
        text = (
            f"{causes['unknown']} of {causes['attributed']} protocol errors and reloads "
            f"({causes['unknown_share']:.1%}) have no known cause (bound {cfg.unknown_cause_share:.0%})"
        )
        report["notes"].append(text)
        whom = sorted(
            c
            for c, per in causes["by_subscriber"].items()
            if any(v.get("unknown") for v in per.values())
        )
        report["evidence"].append(
            {
                "kind": "unknown_cause",
                "detail": "share",
                "clients": whom,
                "windows": [],
                "count": causes["unknown"],
                "ids": [],
                "ids_total": 0,
                "t_first_s": None,
                "t_last_s": None,
                "faults_near": [],
                "info": {"share": causes["unknown_share"], "bound": cfg.unknown_cause_share},
                "message": text,
            }
        )
    rows: dict[str, dict[str, Any]] = {}
    for sub in report["subscribers"]:
        counts = {k: v for k, v in sub["findings"].items() if k != "ghost_subscribers"}
        for klass, label in (("reload", "reloads_by_cause"), ("protocol_error", "errors_by_cause")):
            for cause, n in (sub["causes"].get(klass) or {}).items():
                if cause not in ("user_action", "not_observed"):
                    counts[f"{label}.{cause}"] = n
        rows[sub["id"]] = {"transport": sub["transport"], "counts": counts}
    # timing findings of an observer without headroom say nothing about one tab against another
    exclude = frozenset({"stale"}) if report["trust"].get("timing") == "untrusted" else frozenset()
    singled, normal, normal_why = odd_one_out(rows, exclude)
    report["singled_out"] = singled
    report["normal_behaviour"] = normal
    report["normal_behaviour_detail"] = normal_why
