"""Analysis throughput (journal records/s) and peak memory at 0.5M, 1M and 2M records.

Generates run folders with the record mix of a real run (per update: send, ack,
and per subscriber recv + apply; monitor samples every 250 ms; phases, truth,
final views), then analyses each in a fresh child process so that its peak RSS
is its own. Memory should stay flat as records grow: the analyzers keep
intervals and per-window state, not events.

    python -m bench analyze            # or: python bench/bench_analyze.py [--sizes 500000,1000000,2000000]
    python -m bench analyze --breakdown --sizes 500000   # where the CPU goes, stage by stage

The breakdown analyses the same run folder several times in one child process: parse only;
read and merge (the time-ordered stream, no analysis); the engine with the shared state and
no checker; each checker alone on top of that state (its own cost: "add-one"); every
checker; the whole analysis with the report. Each row is CPU seconds (the least of three
runs) and records per CPU-second, so the part of the time each stage costs is measured, not
guessed; an "alone" row is a difference of two such figures, so ±0.05 s is noise.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from visdom_chaos.journal import JournalWriter

SUBSCRIBERS = 4
RECORDS_PER_EVENT = 2 + 2 * SUBSCRIBERS  # send, ack, recv + apply per subscriber
T0 = 1_700_000_000_000_000_000
STEP_NS = 5_000_000  # one update every 5 ms
TARGET_RPS = 1_000_000  # issue 18: a million records per CPU-second


def generate(run: Path, records: int, wire: bool = True) -> int:
    """Write a run folder of about `records` journal records; returns the exact count.

    `wire`: recv records carry what a real subscriber journals (rx and the frame's wire ids,
    visdom_chaos.wire.frames); without, the older record of command, bytes and window only."""
    events = max(1, records // RECORDS_PER_EVENT)
    jdir = run / "journal"
    for role in ("clients", "monitor", "orchestrator"):
        JournalWriter(jdir / f"{role}.jsonl", role).close()  # headers via the real writer
    subs = [f"ws-{i}" for i in range(SUBSCRIBERS)]
    n = 0
    end = T0 + (events + 400) * STEP_NS
    with open(jdir / "clients.jsonl", "a", encoding="utf-8") as f:
        for i, c in enumerate(subs):
            f.write(
                f'{{"t":{T0 + i},"type":"connect","client":"{c}","conn":1,"transport":"websocket",'
                f'"url":"ws://127.0.0.1:1/socket","local_port":{41000 + i},"env":"main"}}\n'
            )
            n += 1
        lines = []
        for seq in range(1, events + 1):
            ts = T0 + 1_000_000 + seq * STEP_NS
            lines.append(
                f'{{"t":{ts},"type":"send","client":"src-0","conn":1,"seq":{seq},"env":"main",'
                f'"win":"w","kind":"line","op":"append","bytes":180}}\n'
            )
            lines.append(
                f'{{"t":{ts + 900_000},"type":"ack","client":"src-0","conn":1,"seq":{seq},'
                f'"env":"main","win":"w","ok":true,"status":200,"rtt_ms":0.9}}\n'
            )
            for k, c in enumerate(subs):
                ta = ts + 1_200_000 + k * 10_000
                lines.append(
                    f'{{"t":{ta},"type":"recv","client":"{c}","conn":1,"command":"window_update",'
                    f'"bytes":240,"win":"w"'
                    + (
                        f',"rx":{ta - 300_000},"rxq":0,"kind":"update","heads":{{"src-0":[{seq},{ts}]}},'
                        f'"ids":{{"src-0":[[{seq},{seq + 1}]]}}'
                        if wire
                        else ""
                    )
                    + "}\n"
                )
                lines.append(
                    f'{{"t":{ta + 5_000},"type":"apply","client":"{c}","conn":1,"env":"main",'
                    f'"win":"w","command":"window_update","added":[["src-0",{seq},{ts}]],'
                    f'"removed":[],"dup":[],"size":{seq}}}\n'
                )
            n += RECORDS_PER_EVENT
            if len(lines) > 20000:
                f.writelines(lines)
                lines.clear()
        f.writelines(lines)
        ids = json.dumps([["src-0", s] for s in range(1, events + 1)], separators=(",", ":"))
        for c in subs:
            f.write(
                f'{{"t":{end - 1000},"type":"view","client":"{c}","conn":1,"env":"main","win":"w",'
                f'"ids":{ids},"final":true}}\n'
            )
            n += 1
    with open(jdir / "monitor.jsonl", "a", encoding="utf-8") as f:
        t, k = T0, 0
        while t <= end:
            f.write(
                f'{{"t":{t},"type":"sample","client":"monitor","conn":0,"pid":1,"rss_mib":'
                f'{100 + k * 0.001:.3f},"cpu_pct":5.0,"fds":20,"threads":4,"conns":4,'
                f'"peers":[41000,41001,41002,41003]}}\n'
            )
            t += 250_000_000
            k += 1
            n += 1
    with open(jdir / "orchestrator.jsonl", "a", encoding="utf-8") as f:
        f.write(f'{{"t":{T0},"type":"phase","client":"orchestrator","conn":0,"name":"steady"}}\n')
        f.write(
            f'{{"t":{end - 2000},"type":"truth","client":"orchestrator","conn":0,"env":"main",'
            f'"win":"w","ids":{ids}}}\n'
        )
        f.write(
            f'{{"t":{end - 3000},"type":"phase","client":"orchestrator","conn":0,"name":"sources_stopped"}}\n'
        )
        n += 3
    (run / "run.json").write_text(
        json.dumps(
            {
                "scenario": "bench",
                "target": {"version": "0.2.4", "variant": "stock", "url": None},
                "duration_s": (end - T0) / 1e9,
                "started_ns": T0,
                "ended_ns": end,
                "status": "complete",
            }
        )
    )
    return n


def _child(run_dir: str, heap: bool) -> None:
    """Analyse one run folder; print records, seconds and peak RSS (and Python heap peak) as JSON."""
    from visdom_chaos.reports.analyze import (
        analyze_run,  # imported before measuring the baseline RSS
    )

    heap_peak = None
    if heap:  # a separate, slower pass: tracemalloc's peak of Python allocations
        import tracemalloc

        tracemalloc.start()
        analyze_run(run_dir)
        heap_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()

    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t, cpu = time.perf_counter(), time.process_time()
    report = analyze_run(run_dir)
    secs, cpu = time.perf_counter() - t, time.process_time() - cpu
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # side by side: only parsing the same lines (the floor any Python analysis stands on)
    from visdom_chaos.reports.journals import _loads

    parse = time.process_time()
    for path in sorted(Path(run_dir, "journal").glob("*.jsonl")):
        with open(path, "rb") as f:
            while lines := f.readlines(1 << 20):
                list(map(_loads, lines))
    parse = time.process_time() - parse
    print(
        json.dumps(
            {
                "parse_cpu": parse,
                "records": report["input"]["records"],
                "seconds": secs,
                "cpu": cpu,
                "peak_kib": peak,
                "heap_peak": heap_peak,
                "base_kib": base,
                "findings": report["findings"],
                "delivered": report["totals"]["delivered"],
            }
        )
    )


BREAKDOWN_REPEAT = 3  # each stage's CPU is the least of this many runs (others' load only adds)


def _cpu(fn: Any) -> float:
    best = None
    for _ in range(BREAKDOWN_REPEAT):
        t = time.process_time()
        fn()
        spent = time.process_time() - t
        best = spent if best is None else min(best, spent)
    return best or 0.0


def _breakdown(run_dir: str) -> None:
    """Stage-by-stage CPU of one analysis (module docstring); prints the rows as JSON."""
    import gc
    from itertools import chain

    from visdom_chaos.reports.analyze import analyze_run, config_for, summarize_run
    from visdom_chaos.reports.checkers import default_checkers
    from visdom_chaos.reports.checkers.wire import CauseChecker, WireChecker
    from visdom_chaos.reports.engine import Analyzer
    from visdom_chaos.reports.journals import ReadStats, _loads, load_run_meta, run_records

    meta = load_run_meta(run_dir)
    cfg = config_for(meta)
    paths = sorted(Path(run_dir, "journal").glob("*.jsonl"))

    def parse() -> None:
        for path in paths:
            with open(path, "rb") as f:
                while lines := f.readlines(1 << 20):
                    list(map(_loads, lines))

    def merged() -> None:
        for _ in run_records(run_dir, ReadStats()):
            pass

    def engine(checkers: list[Any]) -> Any:
        def go() -> None:
            a = Analyzer(cfg, checkers=checkers)
            a.feed_all(run_records(run_dir, ReadStats()))
            a.finish()

        return go

    groups: list[tuple[str, list[Any]]] = []
    for c in default_checkers():
        if isinstance(c, CauseChecker):
            continue  # measured with the wire checker it reads
        if isinstance(c, WireChecker):
            groups.append(("WireChecker+CauseChecker", [c, CauseChecker(c)]))
        else:
            groups.append((type(c).__name__, [c]))
    rows: list[tuple[str, float]] = []
    gc.disable()  # as summarize_run does
    try:
        rows.append(("parse only (orjson, dicts)", _cpu(parse)))
        rows.append(("read + merge in time order", _cpu(merged)))
        base = _cpu(engine([]))
        rows.append(("engine + shared state, no checker", base))
        for name, cs in groups:
            rows.append((f"  + {name} alone", _cpu(engine(cs)) - base))
        rows.append(("engine + every checker", _cpu(lambda: summarize_run(run_dir))))
    finally:
        gc.enable()
    rows.append(("the whole analysis (report too)", _cpu(lambda: analyze_run(run_dir))))
    records = sum(1 for _ in chain.from_iterable(open(p, "rb") for p in paths))
    print(json.dumps({"records": records, "rows": rows}))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="bench analyze", description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="500000,1000000,2000000", help="journal sizes in records")
    ap.add_argument("--keep", action="store_true", help="keep the generated run folders")
    ap.add_argument(
        "--heap",
        action="store_true",
        help="also measure the Python heap peak (tracemalloc, slower)",
    )
    ap.add_argument(
        "--no-wire",
        action="store_true",
        help="recv records without wire ids (the older record mix)",
    )
    ap.add_argument(
        "--breakdown",
        action="store_true",
        help="CPU stage by stage (parse, merge, state, each checker) instead of the size table",
    )
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--child-breakdown", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        _child(args.child, args.heap)
        return 0
    if args.child_breakdown:
        _breakdown(args.child_breakdown)
        return 0
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    tmp = Path(tempfile.mkdtemp(prefix="bench-analyze-"))
    rows = []
    try:
        for size in sizes:
            run = tmp / f"run-{size}"
            t = time.perf_counter()
            n = generate(run, size, wire=not args.no_wire)
            gen = time.perf_counter() - t
            mb = sum(p.stat().st_size for p in (run / "journal").iterdir()) / 2**20
            if args.breakdown:
                _print_breakdown(run, n, mb)
                continue
            child = [sys.executable, os.path.abspath(__file__), "--child", str(run)] + (
                ["--heap"] if args.heap else []
            )
            out = subprocess.run(child, capture_output=True, text=True, timeout=900, check=True)
            res = json.loads(out.stdout.strip().splitlines()[-1])
            expected = {k: 0 for k in res["findings"]}
            assert res["findings"] == expected, res[
                "findings"
            ]  # a clean generated run has no findings
            rows.append((n, mb, gen, res))
            print(
                f"generated {n:,} records ({mb:,.0f} MiB) in {gen:.1f} s; analysed in {res['seconds']:.1f} s",
                flush=True,
            )
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"kept {tmp}")
    if args.breakdown:
        return 0
    print()
    print(
        f"{'records':>10} {'journal MiB':>11} {'wall s':>7} {'CPU s':>6} {'records/s wall':>14} "
        f"{'records/CPU-s':>13} {'parse-only/CPU-s':>16} {'ratio':>5} {'peak RSS MiB':>12} {'analysis MiB':>12} "
        f"{'heap peak MiB':>13}"
    )
    for _n, mb, _, res in rows:
        print(
            f"{res['records']:>10,} {mb:>11,.0f} {res['seconds']:>7.2f} {res['cpu']:>6.2f} "
            f"{res['records'] / res['seconds']:>14,.0f} {res['records'] / res['cpu']:>13,.0f} "
            f"{res['records'] / res['parse_cpu']:>16,.0f} {res['parse_cpu'] / res['cpu']:>5.2f} "
            f"{res['peak_kib'] / 1024:>12.1f} {(res['peak_kib'] - res['base_kib']) / 1024:>12.1f} "
            f"{'-' if res.get('heap_peak') is None else format(res['heap_peak'] / 2**20, '.1f'):>13}"
        )
    if rows:
        print(
            f"(wall time includes waiting for a CPU: load average {os.getloadavg()[0]:.1f} on "
            f"{os.cpu_count()} CPUs; records/CPU-s is what the analyzer itself sustains)"
        )
        worst = min(r[3]["records"] / r[3]["cpu"] for r in rows)
        peaks = [r[3]["peak_kib"] / 1024 for r in rows]
        print(
            f"\nslowest {worst:,.0f} records per CPU-second (target >= {TARGET_RPS:,}): "
            f"{'met' if worst >= TARGET_RPS else 'NOT met'}; peak RSS {min(peaks):.1f}–{max(peaks):.1f} MiB "
            f"across {rows[0][0]:,}–{rows[-1][0]:,} records (ratio {max(peaks) / min(peaks):.2f})"
        )
    return 0


def _print_breakdown(run: Path, n: int, mb: float) -> None:
    child = [sys.executable, os.path.abspath(__file__), "--child-breakdown", str(run)]
    out = subprocess.run(child, capture_output=True, text=True, timeout=1800, check=True)
    res = json.loads(out.stdout.strip().splitlines()[-1])
    records = res["records"]
    print(f"\n{n:,} records generated ({mb:,.0f} MiB); {records:,} journal lines analysed")
    print(f"{'stage':<44} {'CPU s':>7} {'records/CPU-s':>14}")
    for name, cpu in res["rows"]:
        rate = f"{records / cpu:>14,.0f}" if cpu > 0.005 else f"{'-':>14}"
        print(f"{name:<44} {cpu:>7.2f} {rate}")
    print(
        f"(one process, least CPU of {BREAKDOWN_REPEAT} runs each; an 'alone' row is that checker's CPU "
        f"on top of the engine row; target for the whole analysis >= {TARGET_RPS:,} records/CPU-s)"
    )


if __name__ == "__main__":
    sys.exit(main())
