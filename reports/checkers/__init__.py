"""One checker per property (see reports/checkers/base.py)."""

from __future__ import annotations

from reports.checkers.base import Checker
from reports.checkers.duplicate import DuplicateChecker
from reports.checkers.ghost import GhostChecker
from reports.checkers.latency import LatencyChecker, WireLatencyChecker
from reports.checkers.memory import MemoryChecker
from reports.checkers.missing import MissingChecker
from reports.checkers.observer import ObserverChecker
from reports.checkers.order import ReorderChecker
from reports.checkers.protocol import ProtocolChecker
from reports.checkers.reload import ReloadChecker
from reports.checkers.stale import StaleChecker
from reports.checkers.state import Config
from reports.checkers.traffic import TrafficChecker
from reports.checkers.wire import CauseChecker, WireChecker


def default_checkers() -> list[Checker]:
    return [
        DuplicateChecker(), ReorderChecker(), StaleChecker(), MissingChecker(), ReloadChecker(),
        ProtocolChecker(), LatencyChecker(), WireLatencyChecker(), GhostChecker(), MemoryChecker(),
        TrafficChecker(), ObserverChecker(), wire := WireChecker(), CauseChecker(wire),
    ]


__all__ = ["Checker", "Config", "default_checkers"]
