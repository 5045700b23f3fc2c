"""Scripted browser behaviour: which connection action is due when.

Each behaviour with a period > 0 fires every period, starting at a random phase
(`jitter` x period) so a hundred tabs do not reconnect in the same millisecond.
Behaviours combine freely; the script only says *what* is due, the user does it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from visdom_chaos.loadgen.knobs import Knobs

ACTIONS = ("abrupt", "clean", "refresh", "stall", "flap", "switch_env")
_PERIOD_KNOB = {
    "abrupt": "abrupt_every_s",
    "clean": "clean_every_s",
    "refresh": "refresh_every_s",
    "stall": "stall_every_s",
    "flap": "flap_every_s",
    "switch_env": "switch_env_every_s",
}


@dataclass
class Script:
    periods: dict[str, float]
    next_due: dict[str, float] = field(default_factory=dict)

    @classmethod
    def from_knobs(cls, knobs: Knobs, start: float, rng: random.Random) -> Script:
        periods = {
            a: float(getattr(knobs, k))
            for a, k in _PERIOD_KNOB.items()
            if float(getattr(knobs, k)) > 0
        }
        jitter = max(0.0, min(1.0, float(knobs.jitter)))
        due = {a: start + p * (1.0 + jitter * rng.random()) for a, p in periods.items()}
        return cls(periods, due)

    @property
    def active(self) -> bool:
        return bool(self.periods)

    def next_time(self) -> float | None:
        return min(self.next_due.values()) if self.next_due else None

    def due(self, now: float) -> list[str]:
        """Actions due by `now` (in ACTIONS order), each rescheduled one period on."""
        out = []
        for action in ACTIONS:
            t = self.next_due.get(action)
            if t is not None and t <= now:
                out.append(action)
                # Skip missed periods rather than bursting to catch up.
                p = self.periods[action]
                while t <= now:
                    t += p
                self.next_due[action] = t
        return out
