"""report.json's `security` section, from the security probe's `security.json` in a run folder.

`security.json` maps check name -> {"title", "status": "vulnerable"|"ok"|"error", "evidence",
"surface": "visdom"|"toolkit"} (files written before the toolkit checks have no surface:
they are all Visdom's).
The probe (visdom_chaos.security) writes it; the report only reads it, so this side of the
file's contract lives here, where both import it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

SECURITY_FILE = "security.json"
STATUSES = ("vulnerable", "ok", "error")


def load_security(run_dir: str | os.PathLike[str]) -> dict[str, dict[str, Any]] | None:
    path = Path(run_dir) / SECURITY_FILE
    if not path.exists():
        return None
    return json.loads(path.read_text())


def report_section(results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """What report.json's `security` section holds: per-check status and why, plus counts.

    `by_check` maps each check to 1 (vulnerable), 0 (ok) or -1 (error), so scenario
    expectations can say e.g. "security.by_check.origin_socket == 0".
    """
    flag = {"vulnerable": 1, "ok": 0, "error": -1}
    counts = {s: 0 for s in STATUSES}
    for r in results.values():
        counts[r["status"]] += 1
    return {
        "checks": {
            k: {
                "title": v["title"],
                "status": v["status"],
                "why": v["evidence"].get("why", ""),
                "surface": v.get("surface", "visdom"),  # "toolkit": the toolkit's own
            }
            for k, v in results.items()
        },
        "by_check": {k: flag[v["status"]] for k, v in results.items()},  # numbers, for gate rules
        "vulnerable": sorted(k for k, v in results.items() if v["status"] == "vulnerable"),
        "counts": counts,
        "file": SECURITY_FILE,
    }
