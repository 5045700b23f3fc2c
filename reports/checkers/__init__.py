"""One checker per property (see reports/checkers/base.py)."""

from __future__ import annotations

from visdom_chaos.reports.checkers.base import Checker
from visdom_chaos.reports.checkers.browser import BrowserChecker
from visdom_chaos.reports.checkers.duplicate import DuplicateChecker
from visdom_chaos.reports.checkers.ghost import GhostChecker
from visdom_chaos.reports.checkers.latency import LatencyChecker, WireLatencyChecker
from visdom_chaos.reports.checkers.memory import MemoryChecker
from visdom_chaos.reports.checkers.missing import MissingChecker
from visdom_chaos.reports.checkers.observer import ObserverChecker
from visdom_chaos.reports.checkers.order import ReorderChecker
from visdom_chaos.reports.checkers.protocol import ProtocolChecker
from visdom_chaos.reports.checkers.reload import ReloadChecker
from visdom_chaos.reports.checkers.stale import StaleChecker
from visdom_chaos.reports.checkers.state import Config
from visdom_chaos.reports.checkers.traffic import TrafficChecker
from visdom_chaos.reports.checkers.userwin import UserWindowChecker
from visdom_chaos.reports.checkers.wire import CauseChecker, WireChecker


def default_checkers() -> list[Checker]:
    return [
        DuplicateChecker(),
        ReorderChecker(),
        StaleChecker(),
        MissingChecker(),
        ReloadChecker(),
        ProtocolChecker(),
        LatencyChecker(),
        WireLatencyChecker(),
        GhostChecker(),
        MemoryChecker(),
        TrafficChecker(),
        ObserverChecker(),
        wire := WireChecker(),
        CauseChecker(wire),
        BrowserChecker(),
        UserWindowChecker(),
    ]


__all__ = ["Checker", "Config", "default_checkers"]
