"""Ground truth for the traffic-growth measures and the server-log scan."""

from __future__ import annotations

import json

from visdom_chaos.journal import JournalWriter
from visdom_chaos.reports.analyze import analyze_run
from visdom_chaos.reports.serverlog import scan_server_log

MS = 1_000_000


def _meta(tmp_path, t0):
    (tmp_path / "run.json").write_text(
        json.dumps(
            {
                "scenario": "t",
                "target": {"version": "0.2.4", "variant": "stock", "url": None},
                "duration_s": 1,
                "started_ns": t0,
                "status": "complete",
            }
        )
    )


def test_growth_is_last_mean_over_first_mean(tmp_path):
    t0 = 1_700_000_000_000_000_000
    _meta(tmp_path, t0)
    j = JournalWriter(tmp_path / "journal" / "clients.jsonl", "clients")
    t = t0
    for seq in range(100):  # server time per append grows linearly 2 ms -> 101 ms
        t += 10 * MS
        j.write(
            "send", "src-0", 0, t=t, seq=seq, env="main", win="w", kind="text", op="append", bytes=1
        )
        j.write(
            "ack",
            "src-0",
            0,
            t=t + MS,
            seq=seq,
            env="main",
            win="w",
            ok=True,
            status=200,
            rtt_ms=2.0 + seq,
        )
    # bytes per update: first 20 messages 1000 B, last 20 messages 8000 B
    j.write(
        "traffic",
        "ws-0",
        1,
        t=t + MS,
        env="main",
        win="w",
        messages=100,
        bytes=0,
        first=[1000] * 20,
        last=[8000] * 20,
    )
    j.close()
    (tmp_path / "server.log").write_text(
        "INFO:tornado.access:200 POST /update (127.0.0.1) 1.00ms\n"
    )
    report = analyze_run(tmp_path)
    assert report["traffic"]["bytes_per_update_growth"] == 8.0
    # first 20 rtts average 11.5 ms (2..21), last 20 average 91.5 ms (82..101)
    assert report["traffic"]["ack_rtt_growth"] == round(91.5 / 11.5, 3)
    assert report["server"]["exceptions"] == 0


LOG = """\
INFO:tornado.access:200 POST /update (127.0.0.1) 6.25ms
ERROR:asyncio:Task exception was never retrieved
future: <Task finished name='Task-1' coro=<WebSocketProtocol13.write_message.<locals>.wrapper() done>
Traceback (most recent call last):
  File "tornado/websocket.py", line 1113, in wrapper
tornado.iostream.StreamClosedError: Stream is closed

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File "tornado/websocket.py", line 1115, in wrapper
    raise WebSocketClosedError()
tornado.websocket.WebSocketClosedError
ERROR:tornado.application:Uncaught exception POST /update (127.0.0.1)
HTTPServerRequest(protocol='http', host='127.0.0.1:41815', method='POST', uri='/update')
Traceback (most recent call last):
  File "visdom/utils/server_utils.py", line 406, in broadcast
tornado.websocket.WebSocketClosedError
ERROR:root:ERROR: 500: {'exc_info': (<class 'tornado.websocket.WebSocketClosedError'>, ...)}
INFO:root:Traceback: ['Traceback (most recent call last):', 'tornado.websocket.WebSocketClosedError']
ERROR:tornado.access:500 POST /update (127.0.0.1) 9.65ms
ERROR:tornado.application:Uncaught exception POST /update (127.0.0.1)
Traceback (most recent call last):
KeyError: 'vc_line_src-0'
"""


def test_server_log_counts_each_escaped_exception_once(tmp_path):
    log = tmp_path / "server.log"
    log.write_text(LOG)
    out = scan_server_log(log)
    assert out["exceptions"] == 3
    assert out["by_type"] == {
        "tornado.websocket.WebSocketClosedError @ unawaited write": 1,
        "tornado.websocket.WebSocketClosedError @ request handler POST /update": 1,
        "KeyError @ request handler POST /update": 1,
    }
    assert out["http_5xx"] == {"500 POST /update": 1}
    assert scan_server_log(tmp_path / "absent.log")["exceptions"] is None
