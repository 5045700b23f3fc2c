"""Each version's delivery path (0.2.4: js/Delivery.js of patches/0.2.4, under the App
in js/main.js; 0.3.0: js/api/Delivery.js of patches/0.3.0, under ApiProvider.js), laid
out from the release's source map with the series' js/ part applied, run in Node
against a real patched server over both transports the bundle uses: a WebSocket on
/socket and the polling fallback on /socket_wrap. The connection drops mid-stream and
a new one is opened, as the App / ApiProvider.js does; the app must see one `register`, a `resumed`
(replay), and every update once, in seq order, with text appends turned back into
whole windows equal to the server's."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import requests

from visdom_chaos.ids import ids_in_window

pytestmark = [pytest.mark.visdom]

# The transport halves of main.js or ApiProvider.js and Legacy.js, reduced to what
# Delivery needs.
DRIVER = r"""
const { default: Delivery } = await import(process.argv[2]);
const [url, eid, transport] = process.argv.slice(3);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const app = [];  // what the app's handleMessage got
let appSid = null;
let conn = null;  // {send(obj), close()}
const delivery = new Delivery(
  (raw) => {
    const m = JSON.parse(raw);
    app.push(m);
    if (m.command === 'register') {
      appSid = m.data;  // main.js: sendEnvQuery after registration
      fetch(url + '/env/' + eid, { method: 'POST', body: JSON.stringify({ sid: appSid }) });
    }
    if (m.command === 'resumed') appSid = m.sid;
  },
  (cmd) => conn.send(cmd),
  () => {},
);

function openSocket() {
  return new Promise((resolve) => {
    const ws = new WebSocket(url.replace('http://', 'ws://') + '/socket');
    const c = { send: (cmd) => ws.send(JSON.stringify(cmd)), close: () => ws.close() };
    ws.onmessage = (ev) => delivery.receive(ev.data);
    ws.onopen = () => { conn = c; delivery.opened(true); resolve(c); };
  });
}

async function openPoller() {
  // a page keeps its cookies: the patched server binds the sid to one
  const res = await fetch(url + '/socket_wrap');
  const cookie = (res.headers.get('set-cookie') || '').split(';')[0];
  const { sid } = await res.json();
  const post = (body) => fetch(url + '/socket_wrap', {
    method: 'POST', headers: { cookie }, body: JSON.stringify({ sid, ...body }),
  }).then((r) => r.json());
  const c = { stopped: false, inFlight: 0, maxInFlight: 0 };
  c.send = (cmd) => post({ message_type: 'send', message: JSON.stringify(cmd) });
  c.close = () => { c.stopped = true; };
  (async () => {  // Legacy.js: one query at a time
    while (!c.stopped) {
      c.inFlight += 1;
      c.maxInFlight = Math.max(c.maxInFlight, c.inFlight);
      const r = await post({ message_type: 'query' });
      c.inFlight -= 1;
      if (c.stopped) break;
      for (const m of r.messages || []) delivery.receive(m);
      await sleep(100);
    }
  })();
  conn = c;
  delivery.opened(false);
  return c;
}

const open = transport === 'polling' ? openPoller : openSocket;
const append = (i) => fetch(url + '/update', { method: 'POST', body: JSON.stringify({
  eid, win: 't', append: true, opts: {},
  data: [{ content: `[src-0#${i}@1]`, type: 'text' }] }) });
conn = await open();
await sleep(1500);
for (let i = 0; i < 3; i++) await append(i);
await sleep(800);
conn.close();  // the connection is lost under the page
for (let i = 3; i < 8; i++) await append(i);
conn = await open();  // ApiProvider.js reconnects
await sleep(2000);
for (let i = 8; i < 10; i++) await append(i);
await sleep(1500);
conn.close();
console.log(JSON.stringify({ app, appSid, state: { sid: delivery.sid, seq: delivery.seq } }));
process.exit(0);
"""


# where each version's series puts Delivery.js (0.2.4 has no js/api/)
DELIVERY_JS = {"0.2.4": Path("js") / "Delivery.js", "0.3.0": Path("js") / "api" / "Delivery.js"}


def _delivery_js(tmp_path: Path, version: str) -> Path:
    """Delivery.js as the patched series leaves it, from the release's own map."""
    from conftest import built_or_skip

    from visdom_chaos.patches import apply as patch_apply
    from visdom_chaos.targets.sourcemap import layout_sources

    stock = Path(built_or_skip(version, "stock").package_dir)
    root = tmp_path / "upstream"
    layout_sources(stock / "static" / "js" / "main.js.map", root / "js")
    applied = patch_apply.apply_js(version, root)
    assert any("resume" in name for name in applied), applied
    module = tmp_path / "Delivery.mjs"  # Node reads .mjs as an ES module
    shutil.copy(root / DELIVERY_JS[version], module)
    return module


@pytest.mark.parametrize("transport", ["websocket", "polling"])
def test_delivery_resumes_over_both_transports(visdom_factory, version, transport, tmp_path):
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    module = _delivery_js(tmp_path, version)
    target = visdom_factory(version, "patched")
    requests.post(
        f"{target.url}/events",
        timeout=10,
        json={"eid": "dl", "win": "t", "opts": {}, "data": [{"content": "start", "type": "text"}]},
    )
    driver = tmp_path / "driver.mjs"
    driver.write_text(DRIVER)
    proc = subprocess.run(
        [node, "--experimental-websocket", "--no-warnings", str(driver), str(module)]
        + [target.url, "dl", transport],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    commands = [m["command"] for m in out["app"]]
    assert commands.count("register") == 1, "the app saw a second register (an env reload)"
    resumed = [m for m in out["app"] if m["command"] == "resumed"]
    assert [m["mode"] for m in resumed] == ["replay"], resumed
    snapshot = next(m["seq"] for m in out["app"] if m["command"] == "layout" and m.get("snapshot"))
    updates = [
        m
        for m in out["app"]
        if m["command"] in ("window", "window_update") and m.get("seq", 0) > snapshot
    ]
    # every append once, in order, as whole windows (text_append turned back into one)
    assert [m["seq"] for m in updates] == list(range(snapshot + 1, snapshot + 11)), updates
    assert {m["command"] for m in updates} == {"window"}
    truth = requests.post(f"{target.url}/win_data", json={"eid": "dl", "win": "t"}, timeout=10)
    assert ids_in_window(updates[-1]) == ids_in_window(truth.json())
    assert [e.seq for e in ids_in_window(updates[-1])] == list(range(10))
    # the app's sid is the one the session goes on with: the old one over a WebSocket
    # (the new socket took it over), the new poller's over polling
    assert out["appSid"] == resumed[0]["sid"] == out["state"]["sid"]
    if transport == "websocket":
        first = next(m for m in out["app"] if m["command"] == "register")
        assert resumed[0]["sid"] == first["data"]
