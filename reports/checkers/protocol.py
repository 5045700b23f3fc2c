"""Protocol errors: patch conflicts, hash mismatches, undecodable frames, unknown commands."""

from __future__ import annotations

from typing import Any

from visdom_chaos.reports.checkers.base import Checker
from visdom_chaos.reports.checkers.state import RunState


class ProtocolChecker(Checker):
    name = "protocol_error"
    handles = ("protocol_error",)

    def on_record(self, rec: dict[str, Any], state: RunState) -> None:
        lin = state.lineages.get(rec["client"])
        env = rec.get("env") or (
            lin.env if lin is not None and lin.env else ""
        )  # errors rarely name the env
        g = state.summary.group(
            "protocol_error",
            str(rec.get("kind", "unknown")),
            rec["client"],
            str(env),
            str(rec.get("win") or ""),
        )
        g.touch(rec["t"])
        if "example" not in g.info and rec.get("detail"):
            g.info["example"] = str(rec["detail"])[:200]
