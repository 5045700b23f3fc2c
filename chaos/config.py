"""Proxy definitions from a file: Toxiproxy's JSON config (a list) or TOML `[[proxies]]`."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

from .spec import ChaosError


def load_proxies(path: str | Path) -> list[dict[str, Any]]:
    path = Path(path)
    try:
        text = path.read_bytes()
    except OSError as e:
        raise ChaosError(f"{path}: {e.strerror or e}") from None
    try:
        if path.suffix == ".json":
            doc: Any = json.loads(text)
        else:
            doc = tomllib.loads(text.decode("utf-8")).get("proxies", [])
    except (ValueError, tomllib.TOMLDecodeError) as e:
        raise ChaosError(f"{path}: cannot parse: {e}") from None
    if not isinstance(doc, list) or not all(isinstance(p, dict) for p in doc):
        raise ChaosError(
            f"{path}: expected a list of proxies (JSON list, or TOML [[proxies]] tables)"
        )
    return doc
