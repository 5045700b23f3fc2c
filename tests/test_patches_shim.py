"""The browser resume shim (static/js/visdom-resume.js of the patched 0.2.4 target; 0.3.0's
fix is in its rebuilt bundle, tests/test_patches_delivery.py), run
in Node's WebSocket against a real patched server: the page's socket object
survives a dropped connection, the shim reconnects and resumes, and the page
gets every update once, in order, without a second `register` (no env reload)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from visdom_chaos.ids import ids_in_window

pytestmark = [pytest.mark.visdom]

DRIVER = r"""
globalThis.window = globalThis;
require(process.argv[2]);  // replaces window.WebSocket, as the page's <script> does
const url = process.argv[3], eid = process.argv[4];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const app = {messages: [], closed: false, opened: 0};
let sid = null;
const sock = new WebSocket(url.replace('http://', 'ws://') + '/socket');
sock.onopen = () => { app.opened += 1; };
sock.onclose = () => { app.closed = true; };
sock.onmessage = (ev) => {
  const m = JSON.parse(ev.data);
  app.messages.push(m);
  if (m.command === 'register' && sid === null) {
    sid = m.data;  // what main.js does: postForEnv
    fetch(url + '/env/' + eid, {method: 'POST', body: JSON.stringify({sid})});
  }
};
const post = (i) => fetch(url + '/update', {method: 'POST', body: JSON.stringify({
  eid, win: 't', append: true, opts: {}, data: [{content: `[src-0#${i}@1]`, type: 'text'}]})});
(async () => {
  await sleep(1500);
  for (let i = 0; i < 3; i++) await post(i);
  await sleep(500);
  sock._ws.close();  // the connection drops under the page
  for (let i = 3; i < 8; i++) await post(i);
  await sleep(3000);
  for (let i = 8; i < 10; i++) await post(i);
  await sleep(1000);
  console.log(JSON.stringify({app, readyState: sock.readyState, sid, resumeSid: sock.resume.sid}));
  process.exit(0);
})();
"""


def test_shim_reconnects_and_resumes_in_node(visdom_factory, tmp_path):
    version = "0.2.4"
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    from conftest import built_or_skip

    shim = (
        Path(built_or_skip(version, "patched").package_dir) / "static" / "js" / "visdom-resume.js"
    )
    assert shim.is_file(), "the patched target serves no resume shim"
    target = visdom_factory(version, "patched")
    import requests

    requests.post(
        f"{target.url}/events",
        timeout=10,
        json={
            "eid": "shim",
            "win": "t",
            "opts": {},
            "data": [{"content": "start", "type": "text"}],
        },
    )
    driver = tmp_path / "driver.js"
    driver.write_text(DRIVER)
    proc = subprocess.run(
        [
            node,
            "--experimental-websocket",
            "--no-warnings",
            str(driver),
            str(shim),
            target.url,
            "shim",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    app = out["app"]
    assert not app["closed"] and out["readyState"] == 1 and app["opened"] == 1
    assert [m["command"] for m in app["messages"]].count("register") == 1, "page saw a re-register"
    assert out["resumeSid"] == out["sid"], "the session did not keep its sid"
    snapshot = next(
        m["seq"] for m in app["messages"] if m["command"] == "layout" and m.get("snapshot")
    )
    # text appends reach the shim as text_append (it said hello) and the page as the
    # whole window with the text appended (patches 0.2.4/0014, 0.3.0/0011)
    updates = [
        m
        for m in app["messages"]
        if m["command"] in ("window", "window_update") and m.get("seq", 0) > snapshot
    ]
    assert [m["seq"] for m in updates] == list(range(snapshot + 1, snapshot + 11)), updates
    assert {m["command"] for m in updates} == {"window"}
    assert [e.seq for e in ids_in_window(updates[-1])] == list(range(10))
    assert "resumed" not in [m["command"] for m in app["messages"]]  # the shim swallows markers
