"""The observer against what it observes, measured side by side in one run.

1. CPU per update: the default scenario (`mixed`: a line and a text source at 20/s, four
   WebSocket and one polling subscriber) for `--seconds` on each Visdom version, with
   the replica subscribers in one process (one GIL, as before issue 13: `--workers` off)
   and in worker processes (`--workers auto`). Printed: the harness's CPU per delivered
   update (id x subscriber) and per subscriber-second, the server's CPU per acked
   update, the busiest harness process's CPU p90 and the observer's verdict; the
   in-process / workers ratio.
2. Capacity: the default scenario with N WebSocket subscribers (no polling one), N
   rising, until the observer loses headroom (report `observer.verdict`); the largest N
   that kept it, in one process and in workers.

    python -m bench observer [--seconds 20] [--versions 0.2.4,0.3.0] [--ladder 5,10,20,30,40] [--no-capacity]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
from pathlib import Path
from typing import Any

from visdom_chaos.journal import read_journal
from visdom_chaos.orchestrator import Experiment, RunOptions
from visdom_chaos.scenario import load_scenario
from visdom_chaos.targets import TargetError, build_target

MODES = (("one process", None), ("workers", "auto"))


def _window(report: dict[str, Any]) -> tuple[float, float]:
    ph = report.get("phases") or {}
    return float(ph.get("steady") or 0.0), float(
        ph.get("quiescent") or ph.get("end") or report["duration_s"]
    )


def _server_cpu_s(run_dir: Path, t0_ns: int, lo: float, hi: float) -> float | None:
    path = run_dir / "journal" / "monitor.jsonl"
    if not path.exists():
        return None
    samples = [(r["t"], r["cpu_pct"]) for r in read_journal(path) if r.get("type") == "sample"]
    total, prev = 0.0, None
    for t, cpu in samples:
        s = (t - t0_ns) / 1e9
        if prev is not None and lo <= s <= hi:
            total += (
                cpu / 100.0 * (t - prev) / 1e9
            )  # cpu_percent covers the interval since the last call
        prev = t
    return total


def run_once(
    version: str,
    workers: str | None,
    seconds: float,
    ws: int | None = None,
    polling: int | None = None,
) -> dict[str, Any]:
    sc = load_scenario("mixed")
    changes: dict[str, Any] = {"duration_s": seconds, "settle_s": 0.5}
    if ws is not None:
        changes["websocket_subscribers"] = ws
    if polling is not None:
        changes["polling_subscribers"] = polling
    sc = dataclasses.replace(sc, **changes)
    with tempfile.TemporaryDirectory(prefix="bench-observer-") as tmp:
        run_dir = Path(tmp) / "run"
        result = Experiment(
            RunOptions(scenario=sc, target=version, out=run_dir, workers=workers)
        ).run()
        report = result.report or {}
        if result.status != "complete" or not report:
            raise RuntimeError(f"{version} {workers}: run {result.status}: {result.error}")
        meta = json.loads((run_dir / "run.json").read_text())
        lo, hi = _window(report)
        load_s = max(hi - lo, 1e-9)
        obs = report["observer"]
        harness_cpu_s = sum((p["cpu_mean_pct"] or 0.0) / 100.0 * load_s for p in obs["processes"])
        server_cpu_s = _server_cpu_s(run_dir, meta["started_ns"], lo, hi)
    delivered = report["totals"]["delivered"] or 1
    acked = report["totals"]["acked"] or 1
    subs = report["totals"]["subscribers"] or 1
    busiest = max(obs["processes"], key=lambda p: p["cpu_p90_pct"] or 0.0)
    return {
        "version": version,
        "mode": "workers" if workers else "one process",
        "subscribers": subs,
        "verdict": obs["verdict"],
        "reasons": obs["reasons"],
        "load_s": round(load_s, 1),
        "delivered": delivered,
        "acked": acked,
        "harness_ms_per_delivered": 1000.0 * harness_cpu_s / delivered,
        "harness_cpu_per_subscriber_pct": 100.0 * harness_cpu_s / load_s / subs,
        "server_ms_per_update": None if server_cpu_s is None else 1000.0 * server_cpu_s / acked,
        "busiest": f"{busiest['name']} p90 {busiest['cpu_p90_pct']:.0f} %",
        "latency_wire_p99_ms": report["latency_wire_ms"]["p99"],
        "latency_view_p99_ms": report["latency_ms"]["p99"],
    }


def _fmt(v: Any, nd: int = 2) -> str:
    return "n/a" if v is None else (f"{v:.{nd}f}" if isinstance(v, float) else str(v))


def cpu_per_update(versions: list[str], seconds: float) -> int:
    print(
        f"CPU per update, default scenario for {seconds:g} s (harness = orchestrator + workers + proxy)"
    )
    print(
        f"{'version':8} {'mode':12} {'harness ms/delivered':>21} {'harness %/sub':>14} {'server ms/update':>17} "
        f"{'busiest harness process':>26} {'wire p99':>9} {'view p99':>9}  verdict"
    )
    for version in versions:
        rows = []
        for _, workers in MODES:
            r = run_once(version, workers, seconds)
            rows.append(r)
            print(
                f"{version:8} {r['mode']:12} {_fmt(r['harness_ms_per_delivered'], 3):>21} "
                f"{_fmt(r['harness_cpu_per_subscriber_pct'], 1):>14} {_fmt(r['server_ms_per_update'], 3):>17} "
                f"{r['busiest']:>26} {_fmt(r['latency_wire_p99_ms'], 0):>9} {_fmt(r['latency_view_p99_ms'], 0):>9}"
                f"  {r['verdict']}",
                flush=True,
            )
        one, split = rows
        print(
            f"{version:8} ratio one process / workers: harness CPU per delivered update "
            f"x{one['harness_ms_per_delivered'] / split['harness_ms_per_delivered']:.2f}; harness/server CPU per "
            f"update {_ratio(one)} (one process) vs {_ratio(split)} (workers)"
        )
    return 0


def _ratio(r: dict[str, Any]) -> str:
    if not r["server_ms_per_update"]:
        return "n/a"
    per_update = r["harness_ms_per_delivered"] * r["delivered"] / r["acked"]
    return f"{per_update / r['server_ms_per_update']:.2f}"


def capacity(version: str, ladder: list[int], seconds: float) -> int:
    print(
        f"\nCapacity on {version}: WebSocket subscribers the default scenario sustains with the observer healthy"
    )
    best: dict[str, int] = {}
    for label, workers in MODES:
        best[label] = 0
        for n in ladder:
            r = run_once(version, workers, seconds, ws=n, polling=0)
            ok = r["verdict"] == "healthy"
            print(
                f"  {label:12} {n:3} subscribers: {r['verdict']:13} busiest {r['busiest']}"
                + ("" if ok else f" ({'; '.join(r['reasons'])[:140]})"),
                flush=True,
            )
            if not ok:
                break
            best[label] = n
    print(
        f"  largest healthy: one process {best['one process']}, workers {best['workers']} "
        f"(x{best['workers'] / best['one process']:.1f})"
        if best["one process"]
        else f"  largest healthy: one process none of {ladder}, workers {best['workers']}"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m bench observer", description=__doc__.split("\n\n")[0]
    )
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--versions", default="0.2.4,0.3.0")
    ap.add_argument("--ladder", default="5,10,20,30,40")
    ap.add_argument("--capacity-seconds", type=float, default=10.0)
    ap.add_argument("--no-capacity", action="store_true")
    args = ap.parse_args(argv)
    versions = []
    for v in args.versions.split(","):
        try:
            build_target(v.strip())
            versions.append(v.strip())
        except TargetError as exc:
            print(f"skip {v}: {exc}")
    cpu_per_update(versions, args.seconds)
    if not args.no_capacity and versions:
        capacity(versions[0], [int(x) for x in args.ladder.split(",")], args.capacity_seconds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
