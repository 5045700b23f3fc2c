"""Capacity of one Locust process: update requests/s with N WebSocket subscribers, CPU vs the server.

    python -m bench locust                      # or: python bench/bench_locust.py --help

Starts a Visdom target, runs one headless Locust process (training users + WebSocket
browsers, each browser a full replica) and samples the CPU time of both processes
with psutil over the same steady window. Prints the achieved update rate (acks in the
window, from the journal) and the ratio generator CPU / server CPU. The targets
(>= 1,000 updates/s, ratio < 1) are printed next to the measurement, never assumed.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
TARGET_RATE = 1000.0


def _cpu(p: psutil.Process) -> float:
    t = p.cpu_times()
    return t.user + t.system


def _acks_between(run_dir: Path, t0_ns: int, t1_ns: int) -> tuple[int, int]:
    """(ok acks, failed acks) journaled in [t0, t1)."""
    from visdom_chaos.journal import read_journal

    ok = bad = 0
    for rec in read_journal(run_dir / "journal" / "clients.jsonl"):
        if rec["type"] == "ack" and t0_ns <= rec["t"] < t1_ns:
            if rec.get("ok"):
                ok += 1
            else:
                bad += 1
    return ok, bad


def run(args: argparse.Namespace) -> dict:
    from visdom_chaos.targets import start_target, stop_pid

    os.environ.setdefault("VISDOM_CHAOS_CACHE", str(REPO / ".cache"))
    work = Path(tempfile.mkdtemp(prefix="bench-locust-"))
    windows = args.training_users * args.windows
    rate_per_window = args.rate / windows
    duration = int(args.warmup + args.measure + 2)
    with start_target(args.target, "stock", work / "visdom") as target:
        out = work / "run"
        cmd = [
            sys.executable,
            "-m",
            "locust",
            "-f",
            str(REPO / "loadtests"),
            "--host",
            target.url,
            "--headless",
            "-u",
            str(args.training_users + args.subscribers),
            "-r",
            str(args.training_users + args.subscribers),
            "-t",
            f"{duration}s",
            "--stop-timeout",
            "10",
            "--only-summary",
            "--vc-out",
            str(out),
            "--vc-settle-s",
            "0",
            "--vc-training-users",
            str(args.training_users),
            "--vc-windows",
            str(args.windows),
            "--vc-rate",
            f"{rate_per_window:g}",
            "--vc-kinds",
            "line",
            "--vc-envs",
            str(args.envs),
            "--vc-journal-recv",
            "false",
            "--vc-visdom-version",
            args.target,
            # as a worker in distributed mode: the server monitor runs elsewhere (the master)
            "--vc-monitor",
            "false",
        ]
        log = open(work / "locust.log", "wb")  # noqa: SIM115 - closed below
        proc = subprocess.Popen(
            cmd,
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            gen, srv = psutil.Process(proc.pid), psutil.Process(target.pid)
            time.sleep(args.warmup)
            g0, s0, t0 = _cpu(gen), _cpu(srv), time.time_ns()
            time.sleep(args.measure)
            g1, s1, t1 = _cpu(gen), _cpu(srv), time.time_ns()
            rc = proc.wait(timeout=duration + 180)
            if not (out / "journal" / "clients.jsonl").exists():
                raise SystemExit(f"locust wrote no journal; see {work / 'locust.log'}")
        finally:
            if proc.poll() is None:
                stop_pid(proc.pid, proc, group=True)
            log.close()
        ok, bad = _acks_between(out, t0, t1)
    secs = (t1 - t0) / 1e9
    gen_cpu, srv_cpu = (g1 - g0) / secs, (s1 - s0) / secs
    return {
        "target": args.target,
        "subscribers": args.subscribers,
        "training_users": args.training_users,
        "windows": windows,
        "envs": args.envs,
        "offered_rate": args.rate,
        "window_s": round(secs, 2),
        "updates_per_s": ok / secs,
        "failed_updates": bad,
        "generator_cpu": gen_cpu,
        "server_cpu": srv_cpu,
        "ratio": gen_cpu / srv_cpu if srv_cpu > 0 else float("inf"),
        "locust_rc": rc,
        "work": str(work),
        "cores": psutil.cpu_count(),
        "load_avg": os.getloadavg()[0],
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench locust", description=__doc__.splitlines()[0])
    p.add_argument("--target", default="0.2.4", help="Visdom version to load (default 0.2.4)")
    p.add_argument(
        "--subscribers", type=int, default=100, help="WebSocket browser users (default 100)"
    )
    p.add_argument("--training-users", type=int, default=50)
    p.add_argument("--windows", type=int, default=4, help="windows per training user")
    p.add_argument(
        "--envs", type=int, default=100, help="envs the windows and browsers spread over"
    )
    p.add_argument(
        "--rate", type=float, default=1200.0, help="offered updates/s in total (default 1200)"
    )
    p.add_argument("--warmup", type=float, default=10.0, help="seconds before the measured window")
    p.add_argument("--measure", type=float, default=20.0, help="seconds of the measured window")
    args = p.parse_args(argv)
    r = run(args)
    print(
        f"visdom {r['target']}: {r['subscribers']} WebSocket subscribers (full replicas), "
        f"{r['training_users']} training users x {r['windows'] // r['training_users']} windows over {r['envs']} envs; "
        f"{r['cores']} cores, load average {r['load_avg']:.1f}"
    )
    print(f"  measured window      {r['window_s']} s")
    print(
        f"  update requests/s    {r['updates_per_s']:.0f}  (offered {r['offered_rate']:.0f}; "
        f"failed {r['failed_updates']}; target >= {TARGET_RATE:.0f})"
    )
    print(f"  generator CPU        {r['generator_cpu']:.2f} cores")
    print(f"  server CPU           {r['server_cpu']:.2f} cores")
    print(f"  ratio gen/server CPU {r['ratio']:.2f}  (target < 1)")
    if r["updates_per_s"] > 0:
        # CPU per update does not depend on how much of a core the scheduler gave each side.
        per = 1000.0 / r["updates_per_s"]
        print(
            f"  CPU per update       generator {r['generator_cpu'] * per:.2f} ms, "
            f"server {r['server_cpu'] * per:.2f} ms"
        )
    verdict = "met" if r["updates_per_s"] >= TARGET_RATE and r["ratio"] < 1 else "NOT met"
    print(f"  capacity target {verdict}; locust exit code {r['locust_rc']}; files in {r['work']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
