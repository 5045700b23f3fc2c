"""The replica of 0.2.4's patched page against the JS it models: js/Delivery.js as
patches/0.2.4 leaves it (laid out from the release's source map, the series' js/ part
applied), run in Node with a fake clock, and the replica's delivery layer
(wire/replica/patched.py, in_source + holds_new_windows) fed the same hand-made
stream at the same times. Both must hand the App the same messages in the same order
and send the same resumes: the hold behind a new window, a window arriving during a
hold, a close behind it, gaps (WebSocket) and conflation skips (polling), a replay
with older updates, a snapshot resume that closes a window, text appends turned into
windows, a text append for an unknown window, a server restart."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from visdom_chaos.wire.replica import REPLICAS, SendSocket
from visdom_chaos.wire.replica.patched import HOLD_S, make_patched_replica

DRIVER = r"""
const { default: Delivery } = await import(process.argv[2]);
const { stream, bySid } = JSON.parse(process.argv[3]);
// a fake clock: timers fire in due order (FIFO for equal times), as the replica's
let now = 0, seq = 0, timers = [];
globalThis.setTimeout = (fn, ms) => { const t = { due: now + ms, n: seq++, fn };
  timers.push(t); return t; };
globalThis.clearTimeout = (t) => { timers = timers.filter((x) => x !== t); };
const advance = (to) => {
  for (;;) {
    timers.sort((a, b) => a.due - b.due || a.n - b.n);
    if (!timers.length || timers[0].due > to + 1e-9) break;
    const t = timers.shift();
    now = t.due;
    t.fn();
  }
  now = to;
};
const app = [], sent = [];
const d = new Delivery((raw) => app.push(JSON.parse(raw)), (cmd) => sent.push(cmd));
d.opened(bySid);
for (const [at, msg] of stream) { advance(at); d.receive(JSON.stringify(msg)); }
advance(now + 60);
console.log(JSON.stringify({ app, sent }));
"""


def _delivery_js(tmp_path: Path) -> Path:
    from conftest import built_or_skip

    from visdom_chaos.patches import apply as patch_apply
    from visdom_chaos.targets.sourcemap import layout_sources

    stock = Path(built_or_skip("0.2.4", "stock").package_dir)
    root = tmp_path / "upstream"
    layout_sources(stock / "static" / "js" / "main.js.map", root / "js")
    patch_apply.apply_js("0.2.4", root)
    module = tmp_path / "Delivery.mjs"
    shutil.copy(root / "js" / "Delivery.js", module)
    return module


def run_js(tmp_path: Path, stream: list[tuple[float, dict]], by_sid: bool) -> dict[str, Any]:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    driver = tmp_path / "driver.mjs"
    driver.write_text(DRIVER)
    ms = [(round(at * 1000, 3), msg) for at, msg in stream]
    proc = subprocess.run(
        [
            node,
            str(driver),
            str(_delivery_js(tmp_path)),
            json.dumps({"stream": ms, "bySid": by_sid}),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run_replica(stream: list[tuple[float, dict]], transport: str) -> dict[str, Any]:
    tab = make_patched_replica(REPLICAS["0.2.4"], env_ids=["e"], transport=transport)
    assert tab.in_source and tab.holds_new_windows
    app: list[dict] = []
    tab._dispatch = lambda msg: app.append(json.loads(json.dumps(msg))) or []  # the App
    sent: list[dict] = []
    for at, msg in stream:
        effects = tab.handle(json.dumps(msg), at)
        sent += [e.message for e in effects if isinstance(e, SendSocket)]
    for effect in tab.settle():
        if isinstance(effect, SendSocket):
            sent.append(effect.message)
    return {"app": app, "sent": sent}


def win(w: str, seq: int, content: str = "x", kind: str = "text", epoch: str = "E") -> dict:
    return {"command": "window", "id": w, "type": kind, "content": content}, seq, epoch


def msg(body: dict, seq: int | None = None, epoch: str = "E") -> dict:
    out = {"eid": "e", **body}
    if seq is not None:
        out |= {"seq": seq, "epoch": epoch}
    return out


HEAD = [
    msg({"command": "register", "data": "s1", "readonly": False}),
    msg({"command": "reload", "data": {}, "snapshot": True, "seq": 1, "epoch": "E"}),
    msg({"command": "window", "id": "a", "type": "text", "content": "a0"}, 1),
    msg({"command": "layout", "snapshot": True, "seq": 1, "epoch": "E"}),
]


def upd(w: str, seq: int, value: str, epoch: str = "E") -> dict:
    body = {"command": "window_update", "win": w, "finalHash": "h"}
    body["content"] = [{"op": "replace", "path": "/content", "value": value}]
    return msg(body, seq, epoch)


def window(w: str, seq: int, content: str, kind: str = "text") -> dict:
    return msg({"command": "window", "id": w, "type": kind, "content": content}, seq)


def append(w: str, seq: int, data: str) -> dict:
    return msg({"command": "text_append", "win": w, "data": data, "contentID": f"c{seq}"}, seq)


STREAMS = {
    # a's updates right behind its first window wait for the hold, in order; b's window
    # during a's hold is not held behind a; a newer a window during the hold queues
    # behind the held updates and restarts the hold when it is handed on
    "hold": [
        upd("a", 2, "a1"),
        window("b", 3, "b0"),
        upd("a", 4, "a2"),
        upd("b", 5, "b1"),
        window("a", 6, "a3"),
        upd("a", 7, "a4"),
        msg({"command": "close", "data": "b"}, 8),
        upd("a", 9, "a5"),
    ],
    # a gap (seq 4 after 2): a resume from 2 on a WebSocket, a skip over polling; the
    # replay then brings 3, 4 again (already applied or not) and an older a update
    "gap": [
        upd("a", 2, "a1"),
        upd("a", 4, "a3"),
        window("c", 5, "c0"),
        msg({"command": "resumed", "mode": "replay", "sid": "s1", "from": 2, "seq": 5})
        | {"epoch": "E"},
        upd("a", 3, "a2"),
        upd("a", 4, "a3"),
        upd("c", 6, "c1"),
        upd("a", 7, "a4"),
    ],
    # text appends become whole windows; an append to a window it does not hold asks
    # for a snapshot; the snapshot's resumed closes a window the server no longer lists
    "text": [
        append("a", 2, "<br>t2"),
        window("p", 3, "{}", kind="plot"),
        append("p", 4, "<br>no"),
        msg({"command": "resumed", "mode": "snapshot", "sid": "s1", "seq": 6})
        | {"epoch": "E", "windows": ["a"]},
        append("a", 7, "<br>t7"),
        upd("a", 8, "a8"),
        append("a", 9, "<br>t9"),
    ],
    # the server restarted (a new epoch): taken as it comes, window watermarks reset
    "restart": [
        upd("a", 2, "a1"),
        window("a", 3, "a2"),
        upd("a", 1, "new-1", epoch="F"),
        upd("a", 2, "new-2", epoch="F"),
        upd("a", 2, "new-2-again", epoch="F"),
    ],
}


@pytest.mark.parametrize("transport", ["websocket", "polling"])
@pytest.mark.parametrize("name", sorted(STREAMS))
def test_replica_hands_the_app_what_delivery_js_does(tmp_path, name, transport):
    # 40 ms apart: several messages fall into one 150 ms hold, none on a hold's expiry
    stream = [(round(0.04 * i + 0.013, 6), m) for i, m in enumerate(HEAD + STREAMS[name])]
    js = run_js(tmp_path, stream, by_sid=transport == "websocket")
    replica = run_replica(stream, transport)
    resumes = [m for m in js["sent"] if m.get("cmd") == "resume"]
    # the App's 'resumed' only updates the connection indicator; the replica swallows it
    assert [m for m in js["app"] if m["command"] != "resumed"] == replica["app"]
    assert resumes == [m for m in replica["sent"] if m.get("cmd") == "resume"]
    assert len(replica["app"]) >= len(HEAD)  # something got through


def test_the_hold_delays_a_new_windows_updates_by_hold_ms():
    stream = [(0.0, m) for m in HEAD] + [(0.05, upd("a", 2, "a1")), (0.1, upd("a", 3, "a2"))]
    tab = make_patched_replica(REPLICAS["0.2.4"], env_ids=["e"], transport="websocket")
    app: list[tuple[float, Any]] = []
    tab._dispatch = lambda m: app.append((tab._now, m.get("seq"))) or []
    for at, m in stream:
        tab.handle(json.dumps(m), at)
    tab.settle()
    updates = [(t, s) for t, s in app if s in (2, 3)]
    assert updates == [(HOLD_S, 2), (HOLD_S, 3)]  # released together, in order
