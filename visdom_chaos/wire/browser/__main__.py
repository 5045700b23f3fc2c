"""`python -m visdom_chaos.wire.browser URL [--env E] [--watch S] [--run-dir D]`: open one
Chromium tab on a Visdom, watch it, print what it shows."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from visdom_chaos.journal import JournalWriter
from visdom_chaos.wire.browser.subscriber import BrowserSubscriber
from visdom_chaos.wire.browser.worker import DEFAULT_CHROMIUM, BrowserError


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m visdom_chaos.wire.browser", description=__doc__)
    ap.add_argument("url", help="Visdom base URL, e.g. http://127.0.0.1:8097")
    ap.add_argument("--env", default="main")
    ap.add_argument("--watch", type=float, default=5.0, help="seconds to watch (default 5)")
    ap.add_argument("--run-dir", type=Path, default=Path("reports/runs/browser-check"))
    ap.add_argument("--chromium", type=Path, default=DEFAULT_CHROMIUM)
    args = ap.parse_args(argv)
    try:
        with JournalWriter(
            args.run_dir / "journal" / "browser.jsonl", role="clients", url=args.url
        ) as journal:
            sub = BrowserSubscriber(
                args.url,
                "br-0",
                journal,
                args.env,
                args.chromium,
                run_dir=args.run_dir,
                sample_interval_s=0.5,
            )
            sub.start()
            try:
                time.sleep(max(0.0, min(args.watch, 3600.0)))
                views = sub.snapshot_views(final=True)
            finally:
                sub.stop()
    except BrowserError as exc:
        print(f"error: {exc}")
        return 1
    for win, ids in sorted(views.items()):
        print(f"{win}: {len(ids)} ids")
    heap = sub.sampler.heap
    if heap:
        print(
            f"JS heap MiB: first {heap['first']:.1f}, max {heap['max']:.1f}, last {heap['last']:.1f} "
            f"({heap['samples']} samples)"
        )
    errors = sub.events.errors
    print(
        f"console errors: {errors.get('console_error', 0)}, page errors: {errors.get('page_error', 0)}"
    )
    st, clock = sub.seen_stats, sub.clock or {}
    print(
        f"first-seen stamps: {st['stamped']} ({st['dropped']} dropped, page time {st['page_ms']:.1f} ms); "
        f"page clock - time.time_ns(): {clock.get('offset_ns', 0) / 1e6:+.3f} ms "
        f"(round trip {clock.get('rtt_ns', 0) / 1e6:.3f} ms)"
    )
    print(f"screenshot: {sub.screenshot_path}\njournal: {journal.path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
