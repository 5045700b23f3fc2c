"""Run the real `visdom` Python client as a callback listener (visdom #796, #450): run by
visdom_chaos.wire.clientsocket in the Visdom target's own Python (the patched overlay on
PYTHONPATH for a patched target), so the socket thread is exactly the released one.

Standalone on purpose: only the standard library and visdom. It creates a text window,
registers an event handler on it (`viz.register_event_handler`, which the client serves
from its `/vis_socket` thread) and prints one JSON line per thing it sees on stdout:

- {"ev": "ready", "alive": bool, "t_ns": ns}       the window exists, the handler is registered
- {"ev": "cb", "key": str, "t_ns": ns}              a callback ran (key: the event's `key`)
- {"ev": "alive", "alive": bool, "t_ns": ns}        `viz.socket_alive` changed (polled, 50 ms)
- {"ev": "log", "level": str, "msg": str, "t_ns": ns}  the client logged (info and up: its
  socket thread says "successfully connected" on every (re)connect, errors on a dead link)
- {"ev": "error", "msg": str}                       the client could not start

It stops when stdin closes.

    python callback_driver.py URL ENV WIN
"""

import json
import logging
import sys
import threading
import time
from urllib.parse import urlsplit

import visdom

POLL_S = 0.05
_out_lock = threading.Lock()


def emit(ev, **fields):
    with _out_lock:
        sys.stdout.write(json.dumps({"ev": ev, "t_ns": time.time_ns(), **fields}) + "\n")
        sys.stdout.flush()


class _Relay(logging.Handler):
    """The socket thread reports its links only through the `visdom` logger."""

    def emit(self, record):
        emit("log", level=record.levelname, msg=record.getMessage()[:300])


def watch_alive(viz, stop):
    last = None
    while not stop.is_set():
        alive = bool(getattr(viz, "socket_alive", False))
        if alive != last:
            emit("alive", alive=alive)
            last = alive
        stop.wait(POLL_S)


def main(argv):
    url, env, win = argv[1:4]
    parts = urlsplit(url)
    client_log = logging.getLogger("visdom")
    client_log.setLevel(logging.INFO)
    client_log.addHandler(_Relay(level=logging.INFO))
    try:
        viz = visdom.Visdom(
            server=f"{parts.scheme}://{parts.hostname}",
            port=parts.port or 80,
            base_url=parts.path or "/",
            env=env,
            raise_exceptions=True,
            use_incoming_socket=True,
        )
        got = viz.text("callbacks arrive here", win=win)
        if got != win:
            raise RuntimeError(f"text window not created: {got!r}")
        viz.register_event_handler(lambda msg: emit("cb", key=str(msg.get("key"))), win)
    except Exception as exc:  # the client could not start: say so, do not hang
        emit("error", msg=f"{type(exc).__name__}: {exc}"[:300])
        return 1
    stop = threading.Event()
    threading.Thread(target=watch_alive, args=(viz, stop), daemon=True).start()
    emit("ready", alive=bool(viz.socket_alive))
    for _ in sys.stdin:  # no commands: stdin closing is the signal to stop
        pass
    stop.set()
    viz.use_socket = False  # the socket thread ends after its current connection
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
