"""A probe's JSON document in a run folder (page.json, client_socket.json): read it, or None."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def load_run_doc(run_dir: str | os.PathLike[str], name: str) -> dict[str, Any] | None:
    """The JSON object in `run_dir/name`; None when absent, unreadable or not an object
    (a run cut short must still be reportable)."""
    path = Path(run_dir) / name
    if not path.exists():
        return None
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None
