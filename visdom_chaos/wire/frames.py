"""Placeholder until the wire reader lands: frames carry no wire ids yet."""

from __future__ import annotations

from typing import Any


class WireReader:
    def read(self, msg: Any) -> dict[str, Any]:
        return {}

    def reset(self) -> None:
        pass
