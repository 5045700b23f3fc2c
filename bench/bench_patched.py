"""Patched vs stock Visdom, measured side by side in one run.

1. Fan-out: 20 WebSocket subscribers of one env, one training source appending
   points to a line plot as fast as the server takes them. Delivered updates/s
   (over all subscribers) and p99 latency (send -> first visible at a
   subscriber), patched / stock ratio.
2. Reconnect: a subscriber drops, the source keeps appending for 5 s, the
   subscriber comes back. Bytes it receives to be current again: stock
   re-downloads the env (POST /env), patched resumes from its last seq
   (replay). stock / patched ratio.
3. Slow consumer: one WebSocket subscriber stops reading while 2,500 text
   appends happen; server RSS growth (psutil), stock / patched ratio. On the
   patched target the subscriber says hello as the patched page does.
4. Text appends (#695): one reading WebSocket subscriber, 2,000 appends to one
   text window. Bytes per append (mean frame size of the window's updates) and
   server time per append (median of POST /update in the access log), each
   over appends 1-100 and 1,901-2,000: stock, patched with the patched page's
   hello (text_append deltas), patched with a stock page (no hello: the stock
   whole-text message, built only for it).

    python -m bench patched [--version 0.2.4] [--seconds 6] [--subscribers 20] [--no-rss]
                            [--text-appends 2000] [--no-text | --text-only]
"""

from __future__ import annotations

import argparse
import json
import re
import socket
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests
import websocket

HELLO = {"cmd": "hello", "accept": ["text_append"]}  # the patched page's shim says it
TEXT_UPDATES = ("window", "window_update", "text_append")
X_PATH = re.compile(r"^/content/data/\d+/x(?:/(?:\d+|-))?$")
ACCESS_UPDATE = re.compile(r"POST /update \([^)]*\) ([\d.]+)ms")
HTTP_TIMEOUT = 10


def max_x(msg: dict, win: str) -> float | None:
    """Highest x (= update seq) a window/window_update message makes visible."""
    if msg.get("command") == "window" and msg.get("id") == win:
        data = (msg.get("content") or {}).get("data") or []
        xs = [x for trace in data for x in trace.get("x", []) if isinstance(x, int | float)]
        return max(xs) if xs else None
    if msg.get("command") == "window_update" and msg.get("win") == win:
        best = None
        for op in msg.get("content") or []:
            if op.get("op") in ("add", "replace") and X_PATH.match(op.get("path", "")):
                vals = op["value"] if isinstance(op["value"], list) else [op["value"]]
                for v in vals:
                    if isinstance(v, int | float) and (best is None or v > best):
                        best = v
        return best
    return None


def post_line(session: requests.Session, url: str, eid: str, win: str, xs: list[int]) -> None:
    body = {
        "eid": eid,
        "win": win,
        "name": "s",
        "append": True,
        "opts": {},
        "layout": {},
        "data": [
            {"x": xs, "y": [float(x) for x in xs], "type": "scatter", "mode": "lines", "name": "s"}
        ],
    }
    session.post(f"{url}/update", json=body, timeout=HTTP_TIMEOUT).raise_for_status()


def create_line(url: str, eid: str, win: str, points: int) -> None:
    xs = list(range(-points, 0))
    body = {
        "eid": eid,
        "win": win,
        "opts": {},
        "layout": {},
        "data": [
            {"x": xs, "y": [float(x) for x in xs], "type": "scatter", "mode": "lines", "name": "s"}
        ],
    }
    requests.post(f"{url}/events", json=body, timeout=HTTP_TIMEOUT).raise_for_status()


@dataclass
class Subscriber:
    url: str
    eid: str
    win: str
    seen: dict[int, float] = field(default_factory=dict)  # seq -> first time visible
    ws: websocket.WebSocket | None = None
    thread: threading.Thread | None = None
    stop: bool = False
    high: float = -1

    def start(self) -> None:
        self.ws = websocket.create_connection(
            self.url.replace("http://", "ws://") + "/socket", timeout=10
        )
        sid = json.loads(self.ws.recv())["data"]
        requests.post(f"{self.url}/env/{self.eid}", json={"sid": sid}, timeout=HTTP_TIMEOUT)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        assert self.ws is not None
        self.ws.settimeout(0.5)
        while not self.stop:
            try:
                raw = self.ws.recv()
            except websocket.WebSocketTimeoutException:
                continue
            except Exception:
                return
            now = time.perf_counter()
            top = max_x(json.loads(raw), self.win)
            if top is not None and top > self.high:
                for k in range(int(self.high) + 1, int(top) + 1):
                    self.seen.setdefault(k, now)
                self.high = top

    def close(self) -> None:
        self.stop = True
        if self.thread:
            self.thread.join(timeout=5)
        if self.ws:
            self.ws.close()


def fanout(url: str, subscribers: int, seconds: float, round_no: int) -> dict:
    eid, win = f"bench_fanout_{round_no}", "line"
    create_line(url, eid, win, 0)
    subs = [Subscriber(url, eid, win) for _ in range(subscribers)]
    for s in subs:
        s.start()
    time.sleep(0.5)
    sent: dict[int, float] = {}
    session = requests.Session()
    start = time.perf_counter()
    seq = 0
    while time.perf_counter() - start < seconds:
        sent[seq] = time.perf_counter()
        post_line(session, url, eid, win, [seq])
        seq += 1
    deadline = time.perf_counter() + 10
    while time.perf_counter() < deadline and any(s.high < seq - 1 for s in subs):
        time.sleep(0.05)
    end = max([t for s in subs for t in s.seen.values()] or [time.perf_counter()])
    for s in subs:
        s.close()
    lat = [(t - sent[k]) * 1000 for s in subs for k, t in s.seen.items() if k in sent]
    return {"sent": seq, "latencies": lat, "elapsed": end - start}


def merge(rounds: list[dict]) -> dict:
    lat = sorted(x for r in rounds for x in r["latencies"])
    delivered = len(lat)
    return {
        "sent": sum(r["sent"] for r in rounds),
        "delivered": delivered,
        "updates_per_s": delivered / sum(r["elapsed"] for r in rounds),
        "p50_ms": statistics.median(lat) if lat else float("nan"),
        "p99_ms": lat[min(len(lat) - 1, int(len(lat) * 0.99))] if lat else float("nan"),
    }


def _recv_bytes_until(ws: websocket.WebSocket, done, limit_s: float = 30) -> int:
    total = 0
    deadline = time.monotonic() + limit_s
    ws.settimeout(2)
    while time.monotonic() < deadline:
        try:
            raw = ws.recv()
        except websocket.WebSocketTimeoutException:
            break
        total += len(raw.encode() if isinstance(raw, str) else raw)
        if done(json.loads(raw)):
            break
    return total


def reconnect(url: str, patched: bool, gap_s: float, rate_hz: float, history: int) -> dict:
    eid = "bench_reconnect"
    wins = [f"w{i}" for i in range(3)]
    for w in wins:
        create_line(url, eid, w, history)
    ws = websocket.create_connection(url.replace("http://", "ws://") + "/socket", timeout=10)
    sid = json.loads(ws.recv())["data"]
    requests.post(f"{url}/env/{eid}", json={"sid": sid}, timeout=HTTP_TIMEOUT)
    last = {"seq": None, "epoch": None}

    def note(m: dict) -> bool:
        if isinstance(m.get("seq"), int):
            last["seq"], last["epoch"] = m["seq"], m.get("epoch")
        return m.get("command") == "layout"

    _recv_bytes_until(ws, note)
    ws.close()
    session = requests.Session()
    # the training job goes on while the browser is away: the same number of
    # updates for both targets, paced over the gap (longer if the server is slower)
    count = int(gap_s * rate_hz)
    start = time.monotonic()
    for seq in range(count):
        post_line(session, url, eid, wins[seq % 3], [seq])
        time.sleep(max(0.0, start + (seq + 1) / rate_hz - time.monotonic()))
    seq = count
    ws = websocket.create_connection(url.replace("http://", "ws://") + "/socket", timeout=10)
    first = ws.recv()
    total = len(first.encode())
    new_sid = json.loads(first)["data"]
    mode = "env reload"
    if patched:
        ws.send(json.dumps({"cmd": "resume", "sid": sid, "eid": eid, **last}))
        target = {"seq": None}

        def replayed(m: dict) -> bool:
            if m.get("command") == "resumed":
                target["seq"] = m["seq"]
                target["mode"] = m["mode"]
                return m["seq"] == m["from"]
            if m.get("command") == "layout" and m.get("snapshot"):
                return True
            return target["seq"] is not None and m.get("seq") == target["seq"]

        total += _recv_bytes_until(ws, replayed)
        mode = target.get("mode", "?")
    else:
        requests.post(f"{url}/env/{eid}", json={"sid": new_sid}, timeout=HTTP_TIMEOUT)
        total += _recv_bytes_until(ws, lambda m: m.get("command") == "layout")
    ws.close()
    return {"missed_updates": seq, "bytes": total, "mode": mode}


def slow_consumer(url: str, pid: int, appends: int, hello: bool = False) -> dict:
    import psutil

    eid, win = "bench_slow", "log"
    requests.post(
        f"{url}/events",
        timeout=HTTP_TIMEOUT,
        json={"eid": eid, "win": win, "opts": {}, "data": [{"content": "start", "type": "text"}]},
    )
    ws = websocket.create_connection(url.replace("http://", "ws://") + "/socket", timeout=10)
    sid = json.loads(ws.recv())["data"]
    if hello:
        ws.send(json.dumps(HELLO))
    requests.post(f"{url}/env/{eid}", json={"sid": sid}, timeout=HTTP_TIMEOUT)
    proc = psutil.Process(pid)
    before = peak = proc.memory_info().rss
    session = requests.Session()
    start = time.perf_counter()
    for i in range(appends):  # the subscriber never reads meanwhile
        session.post(
            f"{url}/update",
            timeout=HTTP_TIMEOUT,
            json={
                "eid": eid,
                "win": win,
                "append": True,
                "opts": {},
                "data": [
                    {
                        "content": f"[src-0#{i}@{time.time_ns()}] training step output",
                        "type": "text",
                    }
                ],
            },
        ).raise_for_status()
        if i % 100 == 0:
            peak = max(peak, proc.memory_info().rss)
    peak = max(peak, proc.memory_info().rss)
    elapsed = time.perf_counter() - start
    ws.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    ws.sock.close()
    return {"growth_mib": (peak - before) / 2**20, "before_mib": before / 2**20, "seconds": elapsed}


def text_appends(url: str, log_path: Path, hello: bool, appends: int, window: int = 100) -> dict:
    """Bytes and server time per text append early (appends 1..window) and late (the
    last `window`), with one subscriber that reads everything (says hello if `hello`)."""
    eid, win = f"bench_text_{'hello' if hello else 'plain'}", "log"
    requests.post(
        f"{url}/events",
        timeout=HTTP_TIMEOUT,
        json={"eid": eid, "win": win, "opts": {}, "data": [{"content": "start", "type": "text"}]},
    ).raise_for_status()
    ws = websocket.create_connection(url.replace("http://", "ws://") + "/socket", timeout=10)
    sid = json.loads(ws.recv())["data"]
    if hello:
        ws.send(json.dumps(HELLO))
    requests.post(f"{url}/env/{eid}", json={"sid": sid}, timeout=HTTP_TIMEOUT)
    _recv_bytes_until(ws, lambda m: m.get("command") == "layout")
    sizes: list[int] = []
    commands: set[str] = set()
    stop = threading.Event()

    def read() -> None:
        ws.settimeout(0.5)
        while not stop.is_set():
            try:
                raw = ws.recv()
            except websocket.WebSocketTimeoutException:
                continue
            except Exception:
                return
            msg = json.loads(raw)
            command = msg.get("command")
            if command in TEXT_UPDATES and win in (msg.get("win"), msg.get("id")):
                sizes.append(len(raw.encode() if isinstance(raw, str) else raw))
                commands.add(command)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    offset = log_path.stat().st_size
    session = requests.Session()
    for i in range(appends):
        session.post(
            f"{url}/update",
            timeout=HTTP_TIMEOUT,
            json={
                "eid": eid,
                "win": win,
                "append": True,
                "opts": {},
                "data": [{"content": f"[src-0#{i}@{time.time_ns()}] " + "x" * 40, "type": "text"}],
            },
        ).raise_for_status()
    deadline = time.monotonic() + 30
    while len(sizes) < appends and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    reader.join(timeout=5)
    ws.close()
    with open(log_path, "rb") as f:
        f.seek(offset)
        times = [float(x) for x in ACCESS_UPDATE.findall(f.read().decode(errors="replace"))]
    return {
        "received": len(sizes),
        "commands": sorted(commands),
        "bytes_early": statistics.mean(sizes[:window]) if sizes else float("nan"),
        "bytes_late": statistics.mean(sizes[-window:]) if sizes else float("nan"),
        "ms_early": statistics.median(times[:window]) if times else float("nan"),
        "ms_late": statistics.median(times[-window:]) if times else float("nan"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench patched", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--version", default="0.2.4")
    parser.add_argument(
        "--seconds", type=float, default=6.0, help="fan-out load duration per target"
    )
    parser.add_argument("--subscribers", type=int, default=20)
    parser.add_argument(
        "--gap", type=float, default=5.0, help="seconds the reconnecting subscriber is away"
    )
    parser.add_argument(
        "--history", type=int, default=3000, help="points per window before the gap"
    )
    parser.add_argument("--no-rss", action="store_true", help="skip the slow-consumer RSS part")
    parser.add_argument(
        "--appends", type=int, default=2500, help="text appends in the slow-consumer part"
    )
    parser.add_argument(
        "--text-appends", type=int, default=2000, help="appends in the text-append part"
    )
    parser.add_argument("--no-text", action="store_true", help="skip the text-append part")
    parser.add_argument(
        "--text-only", action="store_true", help="only the text-append part (4. above)"
    )
    args = parser.parse_args(argv)

    from visdom_chaos.targets import TargetError, start_target

    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="bench-patched-") as tmp:
        try:
            stock = start_target(args.version, "stock", Path(tmp) / "stock")
        except TargetError as exc:
            print(f"bench patched: skipped, {exc}")
            return 0
        try:
            patched = start_target(args.version, "patched", Path(tmp) / "patched")
        except TargetError as exc:
            stock.stop()
            print(f"bench patched: skipped, {exc}")
            return 0
        try:
            # ABBA order so warm-up and machine load drift hit both alike
            rounds: dict[str, list[dict]] = {"stock": [], "patched": []}
            order = [("stock", stock), ("patched", patched), ("patched", patched), ("stock", stock)]
            for i, (name, target) in enumerate([] if args.text_only else order):
                rounds[name].append(fanout(target.url, args.subscribers, args.seconds / 2, i))
            for name, target in () if args.text_only else (("stock", stock), ("patched", patched)):
                results[name] = {"fanout": merge(rounds[name])}
                # server-side handling time of each POST /update (broadcast to all
                # subscribers included), from tornado's access log: less exposed to
                # the load of the client threads on a shared machine than updates/s
                times = sorted(
                    float(x)
                    for x in ACCESS_UPDATE.findall(target.log_path.read_text(errors="replace"))
                )
                results[name]["fanout"]["server_ms"] = (
                    statistics.median(times) if times else float("nan")
                )
            for name, target in () if args.text_only else (("stock", stock), ("patched", patched)):
                results[name]["reconnect"] = reconnect(
                    target.url, name == "patched", args.gap, rate_hz=20, history=args.history
                )
            if not args.no_rss and not args.text_only:
                for name, target in (("stock", stock), ("patched", patched)):
                    results[name]["slow"] = slow_consumer(
                        target.url, target.pid, args.appends, hello=name == "patched"
                    )
            if not args.no_text:
                for name, target, hello in (
                    ("stock", stock, False),
                    ("patched", patched, True),
                    ("patched, stock page", patched, False),
                ):
                    results.setdefault("text", {})[name] = text_appends(
                        target.url, target.log_path, hello, args.text_appends
                    )
        finally:
            stock.stop()
            patched.stop()

    if not args.text_only:
        print_parts(args, results)
    if not args.no_text:
        print_text(args.text_appends, results["text"])
    return 0


def print_parts(args: argparse.Namespace, results: dict[str, dict]) -> None:
    s, p = results["stock"], results["patched"]
    print(
        f"Visdom {args.version}: {args.subscribers} WebSocket subscribers, "
        f"{args.seconds:.0f} s of line appends per target (2 rounds, ABBA)"
    )
    print(f"{'':10}{'sent':>7}{'delivered':>11}{'updates/s':>11}{'p50 ms':>9}{'p99 ms':>9}")
    for name, r in (("stock", s["fanout"]), ("patched", p["fanout"])):
        print(
            f"{name:10}{r['sent']:>7}{r['delivered']:>11}{r['updates_per_s']:>11.0f}"
            f"{r['p50_ms']:>9.1f}{r['p99_ms']:>9.1f}"
        )
    print(
        f"ratio patched/stock: updates/s x{p['fanout']['updates_per_s'] / s['fanout']['updates_per_s']:.2f}, "
        f"p99 latency x{p['fanout']['p99_ms'] / s['fanout']['p99_ms']:.2f} (lower is better)"
    )
    print(
        f"server time per POST /update (median, access log): stock {s['fanout']['server_ms']:.2f} ms, "
        f"patched {p['fanout']['server_ms']:.2f} ms, ratio x{p['fanout']['server_ms'] / s['fanout']['server_ms']:.2f}"
    )
    print(
        f"reconnect after {args.gap:.0f} s away (3 windows x {args.history} points, "
        f"{int(args.gap * 20)} updates at 20/s missed):"
    )
    for name, r in (("stock", s["reconnect"]), ("patched", p["reconnect"])):
        print(f"  {name:8} {r['bytes']:>10} bytes  ({r['mode']})")
    print(
        f"ratio stock/patched bytes: x{s['reconnect']['bytes'] / max(1, p['reconnect']['bytes']):.1f}"
    )
    if not args.no_rss:
        print(f"slow consumer: 1 subscriber not reading, {args.appends} text appends:")
        for name in ("stock", "patched"):
            r = results[name]["slow"]
            print(
                f"  {name:8} server RSS {r['before_mib']:.0f} MiB -> +{r['growth_mib']:.1f} MiB "
                f"in {r['seconds']:.1f} s"
            )
        print(
            f"ratio stock/patched RSS growth: "
            f"x{s['slow']['growth_mib'] / max(0.1, p['slow']['growth_mib']):.1f}"
        )


def print_text(n: int, text: dict[str, dict]) -> None:
    print(
        f"text appends (#695): 1 reading subscriber, {n} appends of ~90 B; "
        f"appends 1-100 vs {n - 99}-{n}:"
    )
    print(f"  {'':22}{'bytes/append':>14}{'':>9}{'server ms/append':>18}{'':>8}  frames")
    print(f"  {'':22}{'early':>9}{'late':>9}{'':>5}{'early':>9}{'late':>9}{'':>8}")
    for name, r in text.items():
        print(
            f"  {name:22}{r['bytes_early']:>9.0f}{r['bytes_late']:>9.0f}"
            f"{'':>5}{r['ms_early']:>9.2f}{r['ms_late']:>9.2f}"
            f"  x{r['ms_late'] / r['ms_early']:.2f}  {','.join(r['commands'])} "
            f"({r['received']}/{n})"
        )
    st, pt = text["stock"], text["patched"]
    print(
        f"bytes per append at {n}, patched/stock: x{pt['bytes_late'] / st['bytes_late']:.3f} "
        f"({pt['bytes_late']:.0f} vs {st['bytes_late']:.0f} B); "
        f"server time per append, appends {n - 99}-{n} / 1-100: "
        f"stock x{st['ms_late'] / st['ms_early']:.2f}, patched x{pt['ms_late'] / pt['ms_early']:.2f}"
    )


if __name__ == "__main__":
    raise SystemExit(main())
