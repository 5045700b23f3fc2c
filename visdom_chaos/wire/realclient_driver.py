"""Drive the real `visdom` Python client: run by visdom_chaos.wire.realclient in a Python
that has `visdom` (and numpy) installed, typically the Visdom target's own venv.

Standalone on purpose: it imports only the standard library, numpy and visdom (the
interpreter running it has no visdom_chaos). One JSON command per stdin line:
{"op": "create"|"append", "seq": n, "send_ns": ns}; one JSON reply per line on stdout:
{"ok": bool, "win": str|null, "error": str|null}. Ids travel where the client lets them:

- line / scatter: trace name = source, x = seq, y = send time in ms (update="append");
- text: a token `[source#seq@send_ns]` per append (append=True);
- image / images: the token is the caption (each call replaces the pane);
- bar / heatmap: each call replaces the pane with values made of seq; no id travels in
  them (Visdom's bar/heatmap data have no free field), so reports judge those windows
  by what they show against the server's (reports/checkers/userwin.py).

    python realclient_driver.py URL ENV SOURCE KIND WIN
"""

import json
import sys
import traceback
from urllib.parse import urlsplit

import numpy as np
import visdom


def token(source, seq, send_ns):
    return f"[{source}#{seq}@{send_ns}]"


def main(argv):
    url, env, source, kind, win = argv[1:6]
    parts = urlsplit(url)
    viz = visdom.Visdom(
        server=f"{parts.scheme}://{parts.hostname}",
        port=parts.port or 80,
        base_url=parts.path or "/",
        env=env,
        raise_exceptions=True,
        use_incoming_socket=False,
    )
    rng = np.random.RandomState(0)

    def call(op, seq, send_ns):
        ms = round(send_ns / 1e6, 3)
        title = {"title": win}
        if kind in ("line", "scatter"):
            if op == "create":
                opts = {**title, "legend": [source], "showlegend": True}
                if kind == "line":
                    return viz.line(X=np.array([seq]), Y=np.array([ms]), win=win, opts=opts)
                return viz.scatter(X=np.array([[seq, ms]]), win=win, opts=opts)
            if kind == "line":
                return viz.line(
                    X=np.array([seq]), Y=np.array([ms]), win=win, name=source, update="append"
                )
            return viz.scatter(X=np.array([[seq, ms]]), win=win, name=source, update="append")
        if kind == "text":
            return viz.text(token(source, seq, send_ns), win=win, append=op != "create", opts=title)
        if kind == "image":
            img = rng.rand(3, 16, 16)
            return viz.image(img, win=win, opts={**title, "caption": token(source, seq, send_ns)})
        if kind == "images":
            batch = rng.rand(4, 3, 8, 8)
            return viz.images(
                batch, nrow=2, win=win, opts={**title, "caption": token(source, seq, send_ns)}
            )
        if kind == "bar":
            return viz.bar(X=np.array([seq, seq + 1, seq + 2]), win=win, opts=title)
        if kind == "heatmap":
            return viz.heatmap(X=np.outer(np.arange(4), np.arange(4)) + seq, win=win, opts=title)
        raise ValueError(f"unknown kind {kind!r}")

    for line in sys.stdin:
        if not line.strip():
            continue
        cmd = json.loads(line)
        try:
            got = call(cmd["op"], int(cmd["seq"]), int(cmd["send_ns"]))
            reply = {"ok": got == win, "win": got, "error": None if got == win else repr(got)}
        except Exception as exc:  # the client raised: the update failed, the job goes on
            reply = {"ok": False, "win": None, "error": f"{type(exc).__name__}: {exc}"[:200]}
            traceback.print_exc(file=sys.stderr)
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main(sys.argv)
