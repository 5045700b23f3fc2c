"""Ground truth for `reorder/older_after_newer`: an apply that takes a window back to an older update.

Modelled on 0.2.4 polling, which hands a batch back newest-first: updates 4..6 are
applied as 6, 5, 4, so 5 and 4 are applied after 6 (exactly 2 out of ack order).
"""

from __future__ import annotations

import json

from visdom_chaos.journal import JournalWriter
from visdom_chaos.reports.analyze import analyze_run

MS = 1_000_000


T0 = 1_700_000_000_000_000_000


def seven_acked_updates(run_dir) -> tuple[JournalWriter, int]:
    """A run folder where src-0 sent and got acks for seqs 0..6 of window w; poll-0 is connected."""
    (run_dir / "run.json").write_text(
        json.dumps(
            {
                "scenario": "t",
                "target": {"version": "0.2.4", "variant": "stock", "url": None},
                "duration_s": 1,
                "started_ns": T0,
                "status": "complete",
            }
        )
    )
    j = JournalWriter(run_dir / "journal" / "clients.jsonl", "clients")
    t = T0
    j.write("connect", "poll-0", 1, t=t, transport="polling", url="x", local_port=None, env="main")
    for seq in range(7):
        t += 10 * MS
        j.write(
            "send", "src-0", 0, t=t, seq=seq, env="main", win="w", kind="text", op="append", bytes=1
        )
        j.write(
            "ack", "src-0", 0, t=t + MS, seq=seq, env="main", win="w", ok=True, status=200, rtt_ms=1
        )
    return j, t


def test_head_going_back_counts_each_older_update_once(tmp_path):
    t0 = T0
    j, t = seven_acked_updates(tmp_path)
    view: list[int] = []

    def apply(seqs_in_view: list[int]) -> None:
        nonlocal t, view
        t += 5 * MS
        added = [s for s in seqs_in_view if s not in view]
        removed = [s for s in view if s not in seqs_in_view]
        j.write(
            "apply",
            "poll-0",
            1,
            t=t,
            env="main",
            win="w",
            command="window_update",
            added=[["src-0", s, t0] for s in added],
            removed=[["src-0", s] for s in removed],
            dup=[],
            size=len(seqs_in_view),
            head={"src-0": max(seqs_in_view)},
        )
        view = seqs_in_view

    for k in range(4):  # 0..3 in order
        apply(list(range(k + 1)))
    for k in (6, 5, 4):  # one polling batch, newest first
        apply(list(range(k + 1)))
    apply(list(range(7)))  # the next batch brings the window back to the newest
    j.write(
        "view",
        "poll-0",
        1,
        t=t + MS,
        env="main",
        win="w",
        ids=[["src-0", s] for s in range(7)],
        final=True,
    )
    j.write(
        "truth",
        "orchestrator",
        0,
        t=t + 2 * MS,
        env="main",
        win="w",
        ids=[["src-0", s] for s in range(7)],
    )
    j.close()
    report = analyze_run(tmp_path)
    assert report["findings"]["reorder"] == 2
    assert report["findings"]["missing"] == 0
    assert report["findings"]["duplicate"] == 0


def test_accepts_out_of_order_count_even_when_the_render_hides_them(tmp_path):
    """0.2.4 batches renders: a newest-first poll is accepted as 6, 5, 4 but rendered once."""
    t0 = T0
    j, t = seven_acked_updates(tmp_path)
    for head in (0, 1, 2, 3, 6, 5, 4):  # accepted states, one batch newest-first
        t += MS
        j.write("accept", "poll-0", 1, t=t, env="main", win="w", head={"src-0": head})
    t += MS  # one render of the whole batch: the view goes 0..3 -> 0..4, nothing visibly reordered
    j.write(
        "apply",
        "poll-0",
        1,
        t=t,
        env="main",
        win="w",
        command="window_update",
        added=[["src-0", s, t0] for s in range(5)],
        removed=[],
        dup=[],
        size=5,
        head={"src-0": 4},
    )
    ids = [["src-0", s] for s in range(7)]
    j.write("view", "poll-0", 1, t=t + MS, env="main", win="w", ids=ids[:5], final=True)
    j.write("truth", "orchestrator", 0, t=t + 2 * MS, env="main", win="w", ids=ids)
    j.close()
    report = analyze_run(tmp_path)
    assert report["findings"]["reorder"] == 2  # 5 and 4 taken after 6
    assert (
        report["findings"]["missing"] + report["findings"]["stale"] > 0
    )  # the view ends behind the server
