"""The end of a run's load: wait until nothing moves, then read the server's truth.

Shared by the orchestrator and the Locust stop sequence, so both judge the same way.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

import requests

from visdom_chaos.ids import ids_in_window
from visdom_chaos.journal import JournalWriter
from visdom_chaos.wire.digest import window_digest
from visdom_chaos.wire.protocol import Subscriber

QUIET_S = 1.5  # no message to any subscriber for this long = quiescent
QUIESCENCE_TIMEOUT_S = 30.0


def wait_quiescent(
    subscribers: Iterable[Subscriber],
    phase: Callable[..., None],
    quiet_s: float = QUIET_S,
    timeout_s: float = QUIESCENCE_TIMEOUT_S,
) -> bool:
    """No message to any subscriber and none of them busy (frames read but not handled, env
    requests in flight, replica timers pending) for `quiet_s` (bounded)."""
    subscribers = list(subscribers)
    deadline = time.monotonic() + timeout_s
    last_total, quiet_since = -1, time.monotonic()
    while time.monotonic() < deadline:
        total = sum(s.received for s in subscribers)
        if total != last_total or any(s.busy for s in subscribers):
            last_total, quiet_since = total, time.monotonic()
        elif time.monotonic() - quiet_since >= quiet_s:
            phase("quiescent")
            return True
        time.sleep(0.1)
    phase("quiescent", timed_out=True)
    return False


def fetch_truth(base_url: str, envs: Iterable[str], journal: JournalWriter) -> None:
    """`truth` records: the ids of every window of each env, from /win_data at quiescence."""
    for env in sorted(set(envs)):
        try:
            resp = requests.post(f"{base_url}/win_data", json={"eid": env, "win": None}, timeout=30)
            if resp.status_code != 200:  # 0.2.4 answers 500 for an env it does not have
                raise ValueError(f"HTTP {resp.status_code} (no such env: deleted?)")
            windows = resp.json()
        except (requests.RequestException, ValueError) as exc:
            journal.write(
                "truth", "orchestrator", 0, env=env, win=None, ids=[], error=str(exc)[:200]
            )
            continue
        if not isinstance(windows, dict):
            continue
        for win, window in sorted(windows.items()):
            ids = [[i.source, i.seq] for i in ids_in_window(window)]
            digest = window_digest(window)  # judges the window if no toolkit source wrote it
            journal.write("truth", "orchestrator", 0, env=env, win=win, ids=ids, digest=digest)
