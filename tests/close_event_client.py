"""The real `visdom` Python client waiting for the close event of one window.

Run with a Python that has the released client (a Visdom target's own venv), by
tests/test_close_event_pane_data.py:

    python close_event_client.py PORT ENV WIN

Connects (the client's own /vis_socket), creates a text window WIN in ENV, registers
`viz.register_event_handler(cb, WIN)`, prints {"ready": true}, then waits up to 20 s
for events on WIN and prints {"events": [...]}: every event the callback received,
as it received it.
"""

import json
import sys
import threading
import time

import visdom

TEXT, TITLE = "close me", "pane to close"


def main(argv):
    port, env, win = int(argv[1]), argv[2], argv[3]
    viz = visdom.Visdom(server="http://127.0.0.1", port=port, env=env, raise_exceptions=True)
    deadline = time.monotonic() + 20
    while not viz.socket_alive and time.monotonic() < deadline:
        time.sleep(0.05)
    if not viz.socket_alive:
        print(json.dumps({"error": "the client's /vis_socket never came up"}), flush=True)
        return 1
    if viz.text(TEXT, win=win, env=env, opts={"title": TITLE}) != win:
        print(json.dumps({"error": "viz.text did not answer the window id"}), flush=True)
        return 1
    events, got = [], threading.Event()

    def on_event(event):
        events.append(event)
        got.set()

    viz.register_event_handler(on_event, win)
    print(json.dumps({"ready": True}), flush=True)
    got.wait(20)
    time.sleep(0.3)  # a second event for the same close would show here
    print(json.dumps({"events": events}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
