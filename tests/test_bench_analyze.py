"""`python -m bench analyze` runs from a checkout, both the size table and the breakdown (small
sizes: this checks the commands the README names work and print their figures, not speed)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _bench(*args: str) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "bench", "analyze", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return out.stdout


def test_size_table_prints_throughput_against_the_target() -> None:
    text = _bench("--sizes", "5000,10000")
    assert re.search(
        r"slowest [\d,]+ records per CPU-second \(target >= 1,000,000\): (met|NOT met)", text
    )
    assert len(re.findall(r"^\s+[\d,]+ +\d+ ", text, re.M)) == 2  # one row per size


def test_breakdown_names_every_stage_and_checker() -> None:
    text = _bench("--breakdown", "--sizes", "5000")
    for stage in (
        "parse only",
        "read + merge in time order",
        "engine + shared state, no checker",
        "+ ObserverChecker alone",
        "+ WireChecker+CauseChecker alone",
        "engine + every checker",
        "the whole analysis (report too)",
    ):
        assert stage in text, (stage, text)
    assert "CauseChecker alone" not in text.replace("WireChecker+CauseChecker alone", "")
