"""Reload storms: full env reloads (resyncs other than the initial one) per subscriber-minute."""

from __future__ import annotations

from typing import Any

from visdom_chaos.reports.checkers.base import Checker
from visdom_chaos.reports.checkers.state import RunState

# a page's first load, a user's refresh and an env switch are loads the user asked for, not reloads
USER_DRIVEN = frozenset({"initial", "refresh", "switch_env"})


class ReloadChecker(Checker):
    name = "reload"
    handles = ("resync",)

    def on_record(self, rec: dict[str, Any], state: RunState) -> None:
        reason = str(rec.get("reason", ""))
        if reason in USER_DRIVEN:
            return
        g = state.summary.group("reload", reason, rec["client"], str(rec.get("env", "")), "")
        g.touch(rec["t"])

    def finish(self, state: RunState) -> None:
        per_client: dict[str, int] = {}
        for g in state.summary.groups.values():
            if g.kind == "reload":
                per_client[g.client] = per_client.get(g.client, 0) + g.observations
        bound = state.config.reload_storm_per_min
        for client, n in per_client.items():
            lin = state.lineages.get(client)
            if lin is None:
                continue
            connected = lin.connected_ns + (state.t_last - lin.connect_t if lin.connected else 0)
            minutes = max(
                connected / 60e9, 1 / 60
            )  # at least a second, so one reload is not a storm
            rate = n / minutes
            for g in state.summary.groups.values():
                if g.kind == "reload" and g.client == client:
                    g.info["per_min"] = round(rate, 2)
                    g.info["storm"] = rate > bound and n >= state.config.reload_storm_min
