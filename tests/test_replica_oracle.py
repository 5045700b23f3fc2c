"""The 0.2.4 replica step by step against visdom 0.2.4's own main.js under node.

tests/fixtures/replica/js/oracle024.mjs evaluates the App methods of the shipped main.js
(_handleMessage, _checkWindow, addPaneBatched, processBatchedPanes, processPane,
closePane, relayout, ...) with the real fast-json-patch / json-stable-stringify / md5 /
layout-bin-packer on a fake clock. After every message (and timers due before it) the
replica must have made the same env posts and socket sends, logged/thrown as often, and
hold the same panes, consistent_pane_copy and layout order.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
from pathlib import Path

import pytest

from visdom_chaos.ids import text_token
from visdom_chaos.wire.replica import ProtocolError, RequestEnv, SendSocket, make_replica
from visdom_chaos.wire.replica.fake_server import FakeServer
from visdom_chaos.wire.replica.stablejson import stable_stringify

FIXTURES = Path(__file__).parent / "fixtures" / "replica"
JS_DIR = Path()  # the session's replica_js_dir (tests/conftest.py), set below


@pytest.fixture(autouse=True)
def _js_dir(replica_js_dir: Path) -> None:
    global JS_DIR
    JS_DIR = replica_js_dir


NODE = shutil.which("node")

pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed")

THROWS = {"patch_conflict", "render_error", "undecodable"}


def oracle(steps: list[dict], env_ids: list[str]) -> list[dict]:
    lines = (
        [json.dumps({"env_ids": env_ids})]
        + [json.dumps(s) for s in steps]
        + [json.dumps({"settle": True})]
    )
    proc = subprocess.run(
        [NODE, str(JS_DIR / "oracle024.mjs")],
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ, NODE_PATH=str(JS_DIR / "vendor")),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return [json.loads(line) for line in proc.stdout.split("\n") if line]


def compare(steps: list[dict], env_ids: list[str] | None = None) -> None:
    env_ids = env_ids or ["main"]
    expected = oracle(steps, env_ids)
    r = make_replica("0.2.4", env_ids=env_ids)
    # the oracle runs main.js's App without React or Plotly: compare the App's logic only
    # (what a plot render writes back is checked against real Chromium, test_plot_render.py)
    r.render_writeback = False
    assert len(expected) == len(steps) + 1
    for k, js in enumerate(expected):
        effects = r.settle() if k == len(steps) else r.handle(steps[k]["frame"], steps[k]["t"])
        where = f"step {k}: {steps[k]['frame'][:160] if k < len(steps) else 'settle'}"
        js_posts = ["/" + r.request(e)[0] for e in effects if isinstance(e, RequestEnv)]
        assert js_posts == [ev[1] for ev in js["events"] if ev[0] == "post"], where
        sends = [e.message for e in effects if isinstance(e, SendSocket)]
        assert sends == [ev[1] for ev in js["events"] if ev[0] == "send"], where
        kinds = [e.kind for e in effects if isinstance(e, ProtocolError)]
        assert sum(k in THROWS for k in kinds) == sum(ev[0] == "throw" for ev in js["events"]), (
            where
        )
        assert kinds.count("unknown_command") == sum(
            ev[0] == "console_error" for ev in js["events"]
        ), where
        assert stable_stringify(r.panes) == js["panes"], where
        assert stable_stringify(r.consistent) == js["consistent"], where
        assert stable_stringify(r._layout) == js["layout"], where
        assert stable_stringify(r._storage) == js["storage"], where
        assert r.sid == js["sid"], where


@pytest.mark.parametrize("scenario", ["basic", "race", "divergent", "close"])
def test_real_captures_step_by_step(scenario: str) -> None:
    steps = [
        json.loads(line) for line in (FIXTURES / f"0.2.4-{scenario}.jsonl").read_text().splitlines()
    ]
    compare(steps)


def random_session(seed: int) -> list[dict]:
    """A FakeServer session with creates, appends (some reordered or dropped), closes,
    env reloads, layout messages and a few broken frames, at random times."""
    rng = random.Random(seed)
    srv = FakeServer("0.2.4")
    frames = [srv.register(f"sid-{seed}", readonly=rng.random() < 0.1)]
    seqs: dict[str, int] = {}
    held: list[str] = []
    for _ in range(rng.randint(20, 60)):
        roll = rng.random()
        live = list(srv.windows)
        if roll < 0.12 or not live:
            win = rng.choice(["p1", "p2", "t1", "t2", "t3"])
            seqs[win] = 0
            if win.startswith("p"):
                frames.append(srv.create_line(win, "src-" + win, [0], [NS]))
            else:
                frames.append(srv.create_text(win, text_token("src-" + win, 0, NS)))
        elif roll < 0.72:
            win = rng.choice(live)
            seqs[win] = seqs.get(win, 0) + 1
            if srv.windows[win]["type"] == "plot":
                frame = srv.append_line(win, "src-" + win, seqs[win], NS + seqs[win])
            else:
                frame = srv.append_text(win, "src-" + win, seqs[win], NS + seqs[win])
            fate = rng.random()
            if fate < 0.08:
                held.append(frame)  # delivered later: out of order
            elif fate < 0.11:
                pass  # lost
            else:
                frames.append(frame)
        elif roll < 0.78 and held:
            frames.append(held.pop(0))
        elif roll < 0.84:
            frames += srv.env_frames()
        elif roll < 0.88:
            frames.append(srv.close(rng.choice(live)))
        elif roll < 0.91:
            frames.append(json.dumps({"command": "layout"}))
        elif roll < 0.93:
            frames.append(rng.choice(["{not json", '{"command": "alive"}', "null", '{"y": NaN}']))
        elif roll < 0.95:
            win = rng.choice(live)
            bad = [{"op": "test", "path": "/title", "value": "x"}]
            frames.append(
                json.dumps(
                    {"command": "window_update", "win": win, "content": bad, "finalHash": "0"}
                )
            )
        else:
            frames.append(srv.window_frame(rng.choice(live)))  # a stale or current full window
    steps = []
    t = 0.0
    for frame in frames:
        t = round(t + rng.choice([0.0, 0.001, 0.02, 0.05, 0.099, 0.1, 0.101, 0.15, 0.2, 0.35]), 6)
        steps.append({"t": t, "frame": frame})
    return steps


NS = 1_763_900_000_000_000_000


@pytest.mark.parametrize("seed", range(40))
def test_random_sessions_step_by_step(seed: int) -> None:
    compare(random_session(seed))


def test_compare_mode_step_by_step() -> None:
    srv = FakeServer("0.2.4")
    frames = [srv.register("s"), srv.create_text("t", "[a#0@1]")]
    msg = json.loads(srv.create_text("u", "[b#0@1]")) | {"has_compare": True}
    frames += [json.dumps(msg), srv.append_text("t", "a", 1, 2)]
    compare([{"t": 0.05 * k, "frame": f} for k, f in enumerate(frames)], env_ids=["a", "b"])
