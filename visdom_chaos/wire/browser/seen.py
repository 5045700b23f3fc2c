"""When each id first shows in the page: the init script that stamps it, and the poller
that takes the stamps into the journal (`browser_seen`), corrected for the page clock.

Clock: the page clock (`performance.timeOrigin + performance.now()`) and Python's
`time.time_ns()` are the same wall clock here; each poll reads the page clock between two
`time.time_ns()` calls (offset = page - midpoint, uncertain by half the round trip), and the
lowest-round-trip reading of the tab's life is taken off every stamp.
"""

from __future__ import annotations

import json
import time
from typing import Any

from visdom_chaos.ids import ns_from_ms
from visdom_chaos.journal import JournalWriter

# When each tagged id first becomes visible: an init script (it runs in every document the
# tab loads, before Visdom's own scripts) installs a MutationObserver on the document. After
# each batch of DOM mutations (React's commit of a pane, Plotly's redraw of its SVG) it reads
# the changed panes as PANES_JS does — text panes' `[src#seq@send_ns]` tokens, plot panes'
# trace name / x = seq / y = send ms from the graph div's `data` (also on `plotly_afterplot`) —
# and stamps the ids it has not seen before with `performance.timeOrigin + performance.now()`
# (wall clock, ms). `take()` hands the pending stamps to Python (SEEN_POLL_S) and clears them.
# Bounded memory, per window: each source keeps a floor (every seq at or below it was seen)
# and the seqs seen above it; past SEEN_CAP of those (a hole that never fills) the floor
# jumps to the lowest one and the hole counts as `given_up`. Stamps wait for the next poll in
# a list of at most SEEN_PENDING_CAP per window; beyond it they are dropped and counted.
# Text panes are parsed only past the part seen last time (length and tail remembered),
# plot traces only past the points seen last time. Ids sent before `since_ms` (before the
# subscriber started: history, not delivery) are marked seen without a stamp.
SEEN_POLL_S = 0.25
SEEN_CAP = 10_000
SEEN_PENDING_CAP = 20_000
SEEN_CHUNK = 2_000  # ids per `browser_seen` record
LAG_TICK_MS = 50  # the page's headroom tick (its event loop's lateness is measured by it)
LAG_LATE_MS = 50  # a tick this much later than due counts as late (the loop was held up)
LAG_WARM_MS = 500  # from the document's load event on: before, the bundle's start-up
CLOCK_PROBES = 10  # back-to-back page clock readings when the page has loaded
NOW_JS = "() => performance.timeOrigin + performance.now()"
SEEN_INIT_JS = r"""(cfg) => {
  if (window.__vcSeen) return;
  const RE = /\[([A-Za-z0-9_.:-]+)#(\d+)@(\d+)\]/g;
  const now = () => performance.timeOrigin + performance.now();
  const st = {wins: new Map(), pending: new Map(), dropped: 0, givenUp: 0, scanMs: 0, stamped: 0};
  const winCache = new WeakMap();
  function winOf(el) {
    let w = winCache.get(el);
    if (w) return w;
    const k = Object.keys(el).find(k => k.startsWith('__reactInternalInstance$') || k.startsWith('__reactFiber$'));
    let f = k ? el[k] : null;
    for (let n = 0; f && n < 20; n++, f = f.return) { if (f.key != null) { w = String(f.key); break; } }
    if (w) winCache.set(el, w);
    return w || null;
  }
  function win(name) {
    let w = st.wins.get(name);
    if (!w) { w = {srcs: new Map(), textLen: 0, textTail: '', traces: new Map(), hooked: new WeakSet()}; st.wins.set(name, w); }
    return w;
  }
  function mark(name, w, src, seq, send, t, stamp) {
    let s = w.srcs.get(src);
    if (!s) { s = {floor: -1, above: new Set()}; w.srcs.set(src, s); }
    if (seq <= s.floor || s.above.has(seq)) return;
    s.above.add(seq);
    while (s.above.has(s.floor + 1)) { s.above.delete(s.floor + 1); s.floor++; }
    if (s.above.size > cfg.cap) {
      let m = Infinity;
      for (const q of s.above) if (q < m) m = q;
      st.givenUp += m - s.floor - 1;
      s.floor = m - 1;
      while (s.above.has(s.floor + 1)) { s.above.delete(s.floor + 1); s.floor++; }
    }
    if (!stamp) return;
    let p = st.pending.get(name);
    if (!p) { p = []; st.pending.set(name, p); }
    if (p.length >= cfg.pendingCap) { st.dropped++; return; }
    p.push([src, seq, send, t]);
    st.stamped++;
  }
  function scanText(name, w, text, t) {
    let from = 0;
    const tail = w.textTail;
    if (w.textLen && text.length >= w.textLen && text.substr(w.textLen - tail.length, tail.length) === tail) {
      if (text.length === w.textLen) return;
      from = Math.max(0, w.textLen - 128);  // a token is far shorter: none straddles the cut unseen
    }
    w.textLen = text.length;
    w.textTail = text.substr(Math.max(0, text.length - 64));
    RE.lastIndex = from;
    let m;
    while ((m = RE.exec(text)) !== null) {
      mark(name, w, m[1], Number(m[2]), m[3], t, Number(m[3]) / 1e6 >= cfg.sinceMs);
    }
  }
  function scanPlot(name, w, gd, t) {
    const data = gd.data;
    if (!Array.isArray(data)) return;
    data.forEach((tr, i) => {
      if (!tr || typeof tr.name !== 'string' || !tr.x || !tr.y) return;
      const xs = tr.x, ys = tr.y, n = Math.min(xs.length, ys.length), key = i + ':' + tr.name;
      const prev = w.traces.get(key);
      let from = 0;
      if (prev && prev.n && n >= prev.n && xs[prev.n - 1] === prev.x && ys[prev.n - 1] === prev.y) from = prev.n;
      for (let j = from; j < n; j++) {
        const x = xs[j], y = ys[j];
        if (typeof x !== 'number' || typeof y !== 'number' || x !== x) continue;
        mark(name, w, tr.name, Math.trunc(x), y, t, y >= cfg.sinceMs);
      }
      w.traces.set(key, n ? {n: n, x: xs[n - 1], y: ys[n - 1]} : null);
    });
  }
  function scanPane(el, t) {
    const name = winOf(el);
    if (!name) return;
    const w = win(name);
    const gd = el.querySelector('.js-plotly-plot');
    if (gd) {
      if (typeof gd.on === 'function' && !w.hooked.has(gd)) {
        w.hooked.add(gd);
        gd.on('plotly_afterplot', () => { const t0 = now(); scanPlot(name, w, gd, t0); st.scanMs += now() - t0; });
      }
      scanPlot(name, w, gd, t);
    } else {
      const c = el.querySelector('.content');
      if (c) scanText(name, w, c.textContent || '', t);
    }
  }
  function scanAll(t) { document.querySelectorAll('.react-grid-item').forEach(el => scanPane(el, t)); }
  const obs = new MutationObserver(records => {
    const t = now();
    const panes = new Set(), targets = new Set();
    let all = false;
    for (const r of records) {
      let node = r.target;
      if (targets.has(node)) continue;
      targets.add(node);
      if (node.nodeType !== 1) node = node.parentElement;
      const pane = node && node.closest ? node.closest('.react-grid-item') : null;
      if (pane) panes.add(pane); else if (r.addedNodes && r.addedNodes.length) all = true;
    }
    try {
      if (all) scanAll(t); else panes.forEach(el => scanPane(el, t));
    } catch (e) { st.errors = (st.errors || 0) + 1; }
    st.scanMs += now() - t;
  });
  obs.observe(document, {childList: true, subtree: true, characterData: true});
  // The page's own headroom: a tick every cfg.lagMs; a tick later than that by more than
  // cfg.lateMs means the main thread (or the whole renderer) was held up that long. Measured
  // from cfg.warmMs after the document loaded: parsing and running the bundle is start-up.
  const lag = {ticks: 0, late: 0, maxMs: 0};
  let lastTick = now(), measuring = false;
  const warm = () => setTimeout(() => { measuring = true; lastTick = now(); }, cfg.warmMs);
  if (document.readyState === 'complete') warm(); else window.addEventListener('load', warm);
  setInterval(() => {
    const t = now(), late = t - lastTick - cfg.lagMs;
    lastTick = t;
    if (!measuring) return;
    lag.ticks++;
    if (late > cfg.lateMs) lag.late++;
    if (late > lag.maxMs) lag.maxMs = late;
  }, cfg.lagMs);
  window.__vcSeen = {
    take() {
      const out = {now: now(), origin: performance.timeOrigin, wins: {}, dropped: st.dropped, givenUp: st.givenUp,
                   scanMs: st.scanMs, errors: st.errors || 0,
                   lagTicks: lag.ticks, lagLate: lag.late, lagMaxMs: lag.maxMs};
      st.pending.forEach((p, name) => { if (p.length) out.wins[name] = p; });
      st.pending = new Map();
      st.dropped = 0; st.givenUp = 0; st.scanMs = 0; st.errors = 0;
      lag.ticks = 0; lag.late = 0; lag.maxMs = 0;
      return out;
    },
  };
}"""
TAKE_SEEN_JS = (
    "() => window.__vcSeen ? window.__vcSeen.take() : {now: performance.timeOrigin + performance.now(), "
    "origin: performance.timeOrigin, wins: {}, dropped: 0, givenUp: 0, scanMs: 0, errors: 0, missing: true}"
)


def seen_init_script(
    since_ms: float, cap: int = SEEN_CAP, pending_cap: int = SEEN_PENDING_CAP
) -> str:
    """SEEN_INIT_JS as an init script: ids sent before `since_ms` (wall clock) are not stamped;
    `cap` seqs remembered per window and source above its floor, `pending_cap` stamps per
    window between two polls."""
    cfg = {
        "sinceMs": float(since_ms),
        "cap": int(cap),
        "pendingCap": int(pending_cap),
        "lagMs": LAG_TICK_MS,
        "lateMs": LAG_LATE_MS,
        "warmMs": LAG_WARM_MS,
    }
    return f"({SEEN_INIT_JS})({json.dumps(cfg)})"


def seen_stamps(stamps: Any, offset_ns: int = 0) -> list[list[Any]]:
    """The page's stamps `[src, seq, send, seen_ms]` as `[src, seq, send_ns, seen_ns]`.

    `send` is a text token's send time in ns as a string (it exceeds a double's 53 bits) or a
    plot point's y in ms (read like ids_in_traces does); `seen_ms` is the page's
    `performance.timeOrigin + performance.now()`, and `offset_ns` (page clock minus
    Python's `time.time_ns()`) is taken off it. Malformed stamps are skipped, never raised.
    """
    out: list[list[Any]] = []
    if not isinstance(stamps, list):
        return out
    for st in stamps:
        if not isinstance(st, list | tuple) or len(st) != 4:
            continue
        src, seq, send, seen = st
        if (
            not isinstance(src, str)
            or isinstance(seq, bool)
            or not isinstance(seq, int | float)
            or seq != seq
        ):
            continue
        try:
            send_ns = int(send) if isinstance(send, str) else ns_from_ms(send)
            seen_ns = (
                ns_from_ms(seen) - offset_ns
            )  # via µs: a double holds ms since 1970 to ~0.2 µs
        except (TypeError, ValueError, OverflowError):
            continue
        out.append([src, int(seq), send_ns, seen_ns])
    return out


def clock_sample(page_ms: float, before_ns: int, after_ns: int) -> tuple[int, int]:
    """(offset_ns, rtt_ns) of one page clock reading taken between two time.time_ns() calls:
    the page's clock minus Python's at the midpoint, uncertain by rtt / 2."""
    return ns_from_ms(page_ms) - (before_ns + after_ns) // 2, after_ns - before_ns


class SeenPoller:
    """Takes one tab's first-seen stamps into the journal every `poll_s` (worker thread).

    Keeps no ids: each poll is journalled as `browser_seen` records and forgotten; `stats`
    counts them. `clock` is the best (lowest round trip) reading of the page clock against
    time.time_ns() over the tab's life: {offset_ns (page minus Python), rtt_ns, samples}.
    """

    def __init__(self, journal: JournalWriter, client_id: str, poll_s: float = SEEN_POLL_S) -> None:
        self.journal = journal
        self.client_id = client_id
        self.poll_s = poll_s
        self.next_at = 0.0  # time.monotonic() of the next poll
        self.clock: dict[str, Any] | None = None
        self.stats = {
            "stamped": 0,
            "dropped": 0,
            "given_up": 0,
            "page_ms": 0.0,
            "polls": 0,
            "errors": 0,
        }

    def due(self, now: float) -> bool:
        return now >= self.next_at

    def _clock_update(self, page_ms: float, before: int, after: int) -> dict[str, Any]:
        """Keep the lowest-round-trip reading of the page clock against time.time_ns().

        One reading for the tab's life, not per document: the page clock is the wall clock
        (offsets per document agree within 0.1 ms, timeOrigin's own resolution), and a
        document's first readings can take tens of ms while it loads."""
        offset, rtt = clock_sample(page_ms, before, after)
        c = self.clock
        if c is None or rtt < c["rtt_ns"]:
            self.clock = c = {
                "offset_ns": offset,
                "rtt_ns": rtt,
                "samples": 1 + (c["samples"] if c else 0),
            }
        else:
            c["samples"] += 1
        return c

    def probe_clock(self, page: Any, n: int = CLOCK_PROBES) -> None:
        """A few back-to-back readings, so the first stamps are corrected by a good one."""
        for _ in range(n):
            before = time.time_ns()
            try:
                page_ms = page.evaluate(NOW_JS)
            except Exception:
                return
            self._clock_update(float(page_ms), before, time.time_ns())

    def poll(self, page: Any, conn: int, env: str) -> None:
        """Take the page's pending first-seen stamps, correct them for the page clock's offset
        (measured by the same call) and journal them as `browser_seen`. Keeps no ids."""
        self.next_at = time.monotonic() + self.poll_s
        before = time.time_ns()
        try:
            got = page.evaluate(TAKE_SEEN_JS)
        except Exception:  # navigating: the next poll (or the one before a navigation) takes them
            return
        after = time.time_ns()
        if not isinstance(got, dict) or not isinstance(got.get("now"), int | float):
            return
        c = self._clock_update(got["now"], before, after)
        stats = self.stats
        stats["polls"] += 1
        extra: dict[str, Any] = {}
        for key, field in (("dropped", "dropped"), ("givenUp", "given_up"), ("errors", "errors")):
            n = got.get(key)
            if isinstance(n, int) and n > 0:
                extra[field] = n
                stats[field] += n
        page_ms = got.get("scanMs")
        if isinstance(page_ms, int | float) and page_ms > 0:
            extra["page_ms"] = round(page_ms, 3)
            stats["page_ms"] += page_ms
        ticks, late, lag_max = got.get("lagTicks"), got.get("lagLate"), got.get("lagMaxMs")
        if isinstance(ticks, int) and ticks > 0 and isinstance(late, int):
            extra["lag_ticks"], extra["lag_late"] = ticks, late
            if isinstance(lag_max, int | float):
                extra["lag_max_ms"] = round(max(0.0, float(lag_max)), 1)
        wins = got.get("wins")
        if not isinstance(wins, dict):
            wins = {}
        clock = {"clock_offset_ns": c["offset_ns"], "clock_rtt_ns": c["rtt_ns"]}
        for win, raw in wins.items():
            ids = seen_stamps(raw, c["offset_ns"])
            stats["stamped"] += len(ids)
            for k in range(0, len(ids), SEEN_CHUNK):
                self.journal.write(
                    "browser_seen",
                    self.client_id,
                    conn,
                    env=env,
                    win=str(win),
                    ids=ids[k : k + SEEN_CHUNK],
                    **clock,
                    **extra,
                )
                extra = {}
        if extra:  # counters with no stamp to carry them
            self.journal.write(
                "browser_seen", self.client_id, conn, env=env, win=None, ids=[], **clock, **extra
            )
