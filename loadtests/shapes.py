"""The one LoadTestShape of this folder: steady, ramp, spike or soak, picked with --vc-shape.

Locust uses a shape class whenever one is found, so there is exactly one, and it
honours -u, -r and -t (use_common_options) like a run without a shape would.
"""

from locust import LoadTestShape

from visdom_chaos.loadgen.knobs import Knobs
from visdom_chaos.loadgen.shapes import shape_tick


class VisdomShape(LoadTestShape):
    use_common_options = True

    def tick(self):
        # Locust's Environment gives the shape its runner when it creates the runner, before
        # any tick (LoadTestShape.runner is None only until then)
        assert self.runner is not None
        opts = self.runner.environment.parsed_options
        return shape_tick(
            Knobs.from_options(opts),
            self.get_run_time(),
            getattr(opts, "num_users", None) or 1,
            getattr(opts, "spawn_rate", None) or 1.0,
            getattr(opts, "run_time", None),
        )
