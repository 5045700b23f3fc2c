"""Load shapes as pure functions of elapsed time (the LoadTestShape in loadtests/ calls this).

users = -u (all users, training ones included: those are fixed_count and spawn first).
- steady: -u users for the whole run
- ramp:   from the training users up to -u, linearly over --vc-ramp-s, then hold
- spike:  -u users; from --vc-spike-at-s for --vc-spike-s, --vc-spike-users more browsers
- soak:   ramp over --vc-ramp-s, then hold until --run-time (or --vc-soak-s without one)
None means: stop the test.
"""

from __future__ import annotations

import math

from visdom_chaos.loadgen.knobs import Knobs


def shape_tick(
    knobs: Knobs, elapsed: float, users: int, spawn_rate: float, run_time: float | None
) -> tuple[int, float] | None:
    users = max(int(knobs.users) or int(users), 0)
    run_time = float(knobs.duration_s) or run_time
    rate = max(float(spawn_rate), 0.1)
    shape = knobs.shape
    if shape == "soak" and not run_time:
        run_time = float(knobs.soak_s)
    if run_time and elapsed >= run_time:
        return None
    floor = min(users, max(int(knobs.training_users), 0))
    if shape == "steady":
        return users, rate
    if shape in ("ramp", "soak"):
        ramp = max(float(knobs.ramp_s), 0.001)
        frac = min(elapsed / ramp, 1.0)
        return floor + math.floor((users - floor) * frac), rate
    if shape == "spike":
        extra = int(knobs.spike_users) or users
        start, length = float(knobs.spike_at_s), float(knobs.spike_s)
        if start <= elapsed < start + length:
            # The spike arrives at once: that is what makes it a spike.
            return users + extra, max(rate, float(extra))
        return users, max(rate, float(extra))
    raise ValueError(f"unknown shape {shape!r}")
