"""Locust users for Visdom: a training job and browser tabs (WebSocket and polling).

    locust -f loadtests/ --host http://127.0.0.1:8097            # web UI
    locust -f loadtests/ --host http://127.0.0.1:8097 --headless -u 12 -r 12 -t 60s

Every knob is a `--vc-…` argument (see `locust -f loadtests/ --help`, docs/locust.md)
and shows in the web UI. The work is done in visdom_chaos.loadgen; this file only
declares the users, as Locust's own examples do.
"""

from locust import User, constant, task
from locust.exception import StopUser

from visdom_chaos.loadgen import hooks  # noqa: F401 - registers the knobs and the stop sequence
from visdom_chaos.loadgen import session as sessions
from visdom_chaos.loadgen.users import BrowserTab, ChromiumTab, TrainingJob


def _session(user: User) -> sessions.Session:
    s = sessions.get(user.environment)
    if s is None:
        raise StopUser()  # no test under way in this process
    return s


class TrainingUser(User):
    """A training loop: creates its windows, then appends at --vc-rate per window."""

    vc_role = "training"
    fixed_count = 2  # --vc-training-users sets it at test start
    wait_time = constant(0)  # the job paces itself on an absolute schedule

    def on_start(self) -> None:
        self.job = TrainingJob(_session(self))
        self.job.start()

    @task
    def train(self) -> None:
        self.job.step()


class _TabUser(User):
    """A subscriber tab: made by `new_tab`, stepped by Locust, stopped with the user."""

    abstract = True  # Locust spawns only the concrete classes below
    wait_time = constant(0)

    def new_tab(self) -> BrowserTab | ChromiumTab:
        raise NotImplementedError

    def on_start(self) -> None:
        self.tab = self.new_tab()
        self.tab.start()

    @task
    def step(self) -> None:
        self.tab.step()

    def on_stop(self) -> None:
        tab = getattr(self, "tab", None)
        if tab is not None:
            tab.stop()


class BrowserUser(_TabUser):
    """A browser tab on the WebSocket (/socket), with the scripted behaviours of --vc-…-every-s."""

    vc_role = "browser"
    transport = "websocket"
    weight = 1

    def new_tab(self) -> BrowserTab:
        return BrowserTab(_session(self), self.transport)


class PollingBrowserUser(BrowserUser):
    """A browser tab polling /socket_wrap (Visdom's -use_frontend_client_polling)."""

    vc_role = "polling"
    transport = "polling"
    fixed_count = 1  # --vc-polling-users sets it; with 0 the class is dropped at start-up


class ChromiumUser(_TabUser):
    """A real headless Chromium tab on the Visdom UI (--vc-browsers N; 0 by default: not spawned)."""

    vc_role = "chromium"
    fixed_count = 1  # --vc-browsers sets it; with 0 (the default) the class is dropped at start-up

    def new_tab(self) -> ChromiumTab:
        return ChromiumTab(_session(self))
