"""The mergeable result of analysing some journals.

Every part merges associatively and commutatively (sets as interval unions,
counts as sums, times as min/max, histograms added, regressions by Chan's
parallel co-moment formula), so Locust workers can each analyse their own
clients and the master merges their summaries: merge(a, merge(b, c)) ==
merge(merge(a, b), c). `to_dict`/`from_dict` carry a summary over the wire.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

from hdrh.histogram import HdrHistogram

from visdom_chaos.reports.intervals import IntervalSet, union

# kinds reported in report.json `findings` (issue 2 schema v1), in display order
FINDING_KINDS = (
    "duplicate",
    "missing",
    "reorder",
    "stale",
    "protocol_error",
    "reload",
    "ghost_subscribers",
    # the wire level (issue 14): what each connection received, before the replica
    "wire_duplicate",
    "wire_reorder",
    "wire_gap",
    "undecodable",
)
LAT_MAX_US = 3_600_000_000  # 1 h: anything slower is clamped
SAMPLE_IDS = 20
MAX_SERIES = 4000
MAX_TIMELINE = 400
MAX_FAULTS = 2000


# fault-journal kinds that are the proxy's bookkeeping, not a fault acting on traffic
CONTROL_KINDS = frozenset({"proxy_create", "proxy_delete", "toxic_remove", "toxic_update"})


def fault_label(f: dict[str, Any]) -> str:
    """A short name for a fault record: its kind, or for a scheduled step the operation and toxic."""
    kind = str(f.get("kind") or f.get("toxic") or "fault")
    detail = f.get("detail")
    if isinstance(detail, dict) and detail.get("op"):
        args = detail.get("args")
        if not isinstance(args, dict):
            args = {}
        typ = args.get("type")
        return f"{detail['op']} {f.get('toxic') or ''}".strip() + (f" ({typ})" if typ else "")
    if kind.startswith("toxic_") and f.get("toxic"):
        return f"{kind} {f['toxic']}"
    return kind


def new_hist(digits: int = 3) -> HdrHistogram:
    return HdrHistogram(1, LAT_MAX_US, digits)


def _hist_to(h: HdrHistogram) -> str:
    if h.get_total_count() == 0:
        return ""
    data = h.encode()
    return data.decode("ascii") if isinstance(data, bytes) else data


def _hist_from(s: str, digits: int) -> HdrHistogram:
    h = new_hist(digits)
    if s:
        h.add(HdrHistogram.decode(s.encode("ascii") if isinstance(s, str) else s))
    return h


GroupKey = tuple[str, str, str, str, str]  # kind, detail, client, env, win


@dataclass
class FindingGroup:
    """Ids affected by one kind of finding for one subscriber lineage and window."""

    kind: str
    detail: str
    client: str
    env: str
    win: str
    ids: dict[str, IntervalSet] = field(default_factory=dict)
    t_first: int | None = None
    t_last: int | None = None
    observations: int = 0  # how many records showed it (>= len(ids))
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> GroupKey:
        return (self.kind, self.detail, self.client, self.env, self.win)

    def count(self) -> int:
        return sum(len(s) for s in self.ids.values())

    def add(self, src: str, seq: int, t: int) -> bool:
        s = self.ids.get(src)
        if s is None:
            s = self.ids[src] = IntervalSet()
        self.touch(t)
        return s.add(seq)

    def touch(self, t: int | None) -> None:
        self.observations += 1
        if t is None:
            return
        if self.t_first is None or t < self.t_first:
            self.t_first = t
        if self.t_last is None or t > self.t_last:
            self.t_last = t

    def sample(self, k: int = SAMPLE_IDS) -> list[list[Any]]:
        out: list[list[Any]] = []
        for src in sorted(self.ids):
            for seq in self.ids[src].first(k - len(out)):
                out.append([src, seq])
            if len(out) >= k:
                break
        return out

    def merge(self, other: FindingGroup) -> FindingGroup:
        ids = {src: s.copy() for src, s in self.ids.items()}
        for src, s in other.ids.items():
            ids[src] = union(ids[src], s) if src in ids else s.copy()
        firsts = [t for t in (self.t_first, other.t_first) if t is not None]
        lasts = [t for t in (self.t_last, other.t_last) if t is not None]
        info = dict(self.info)
        for k, v in other.info.items():
            info[k] = (
                info.get(k, 0) + v if isinstance(v, int | float) and not isinstance(v, bool) else v
            )
        return FindingGroup(
            self.kind,
            self.detail,
            self.client,
            self.env,
            self.win,
            ids,
            min(firsts) if firsts else None,
            max(lasts) if lasts else None,
            self.observations + other.observations,
            info,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "detail": self.detail,
            "client": self.client,
            "env": self.env,
            "win": self.win,
            "ids": {k: v.ranges() for k, v in self.ids.items()},
            "t_first": self.t_first,
            "t_last": self.t_last,
            "observations": self.observations,
            "info": self.info,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FindingGroup:
        return cls(
            d["kind"],
            d["detail"],
            d["client"],
            d["env"],
            d["win"],
            {k: IntervalSet.from_ranges(v) for k, v in d["ids"].items()},
            d["t_first"],
            d["t_last"],
            d["observations"],
            dict(d.get("info") or {}),
        )


@dataclass
class Regression:
    """Least-squares sufficient statistics (n, means, co-moments), mergeable (Chan et al.)."""

    n: int = 0
    mx: float = 0.0
    my: float = 0.0
    cxx: float = 0.0
    cxy: float = 0.0

    def add(self, x: float, y: float) -> None:
        self.n += 1
        dx = x - self.mx
        self.mx += dx / self.n
        self.my += (y - self.my) / self.n
        self.cxx += dx * (x - self.mx)
        self.cxy += dx * (y - self.my)

    def merge(self, o: Regression) -> Regression:
        if self.n == 0:
            return Regression(o.n, o.mx, o.my, o.cxx, o.cxy)
        if o.n == 0:
            return Regression(self.n, self.mx, self.my, self.cxx, self.cxy)
        n = self.n + o.n
        dx, dy = o.mx - self.mx, o.my - self.my
        return Regression(
            n,
            self.mx + dx * o.n / n,
            self.my + dy * o.n / n,
            self.cxx + o.cxx + dx * dx * self.n * o.n / n,
            self.cxy + o.cxy + dx * dy * self.n * o.n / n,
        )

    def span(self) -> float | None:
        """Width of the x range, estimated as sqrt(12 * variance) (exact for evenly spaced x)."""
        return (12 * self.cxx / self.n) ** 0.5 if self.n >= 2 else None

    def slope(self) -> float | None:
        return self.cxy / self.cxx if self.n >= 2 and self.cxx > 0 else None


@dataclass
class Summary:
    t0: int | None = None  # run start (ns)
    t_end: int | None = None
    groups: dict[GroupKey, FindingGroup] = field(default_factory=dict)
    # client -> {transport, env, conns, connected_ns, first_t, last_t, delivered, resyncs{reason:n}, protocol{kind:n}}
    subscribers: dict[str, dict[str, Any]] = field(default_factory=dict)
    sent: dict[str, IntervalSet] = field(default_factory=dict)
    acked: dict[str, IntervalSet] = field(default_factory=dict)
    ghosts: dict[str, dict[str, Any]] = field(default_factory=dict)  # "client/conn" -> evidence
    latency: HdrHistogram = field(default_factory=new_hist)
    lat_bucket_ns: int = 1_000_000_000
    lat_buckets: dict[int, HdrHistogram] = field(default_factory=dict)  # bucket start ns -> hist
    latency_wire: HdrHistogram = field(
        default_factory=new_hist
    )  # send -> bytes read off the socket
    observer: dict[str, Any] = field(default_factory=dict)  # reports/checkers/observer.py
    browser: dict[str, Any] = field(
        default_factory=dict
    )  # real Chromium tabs: reports/checkers/browser.py
    rss_all: Regression = field(default_factory=Regression)
    rss_steady: Regression = field(default_factory=Regression)
    rss_first: tuple[int, float] | None = None
    rss_last: tuple[int, float] | None = None
    rss_peak: float | None = None
    rss_series: list[tuple[Any, ...]] = field(default_factory=list)
    phases: dict[str, int] = field(default_factory=dict)
    timeline: dict[str, list[tuple[int, str, str]]] = field(default_factory=dict)
    faults: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    counters: dict[str, int] = field(default_factory=dict)  # records, torn, ...
    traffic: dict[str, dict[str, Any]] = field(
        default_factory=dict
    )  # "client/win" -> growth figures
    wire: dict[str, dict[str, Any]] = field(
        default_factory=dict
    )  # client -> wire frame counts (checkers/wire.py)
    causes: dict[str, dict[str, dict[str, int]]] = field(
        default_factory=dict
    )  # client -> class -> cause -> n
    # "client|env|win" -> a tab's verdict on a user's own window (checkers/userwin.py)
    user_windows: dict[str, dict[str, Any]] = field(default_factory=dict)

    def group(self, kind: str, detail: str, client: str, env: str, win: str) -> FindingGroup:
        key = (kind, detail, client, env, win)
        g = self.groups.get(key)
        if g is None:
            g = self.groups[key] = FindingGroup(kind, detail, client, env, win)
        return g

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def count(self, kind: str, client: str | None = None) -> int:
        """Affected (id, subscriber) pairs of a kind (distinct across details)."""
        per: dict[tuple[str, str, str, str], IntervalSet] = {}
        for g in self.groups.values():
            if g.kind != kind or (client is not None and g.client != client):
                continue
            for src, s in g.ids.items():
                k = (g.client, g.env, g.win, src)
                per[k] = union(per[k], s) if k in per else s
        return sum(len(s) for s in per.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "t0": self.t0,
            "t_end": self.t_end,
            "groups": [g.to_dict() for g in self.groups.values()],
            "subscribers": self.subscribers,
            "sent": {k: v.ranges() for k, v in self.sent.items()},
            "acked": {k: v.ranges() for k, v in self.acked.items()},
            "ghosts": self.ghosts,
            "latency": _hist_to(self.latency),
            "lat_bucket_ns": self.lat_bucket_ns,
            "lat_buckets": {str(k): _hist_to(v) for k, v in self.lat_buckets.items()},
            "latency_wire": _hist_to(self.latency_wire),
            "observer": self.observer,
            "browser": self.browser,
            "rss_all": vars(self.rss_all),
            "rss_steady": vars(self.rss_steady),
            "rss_first": self.rss_first,
            "rss_last": self.rss_last,
            "rss_peak": self.rss_peak,
            "rss_series": self.rss_series,
            "phases": self.phases,
            "timeline": self.timeline,
            "faults": self.faults,
            "notes": self.notes,
            "counters": self.counters,
            "traffic": self.traffic,
            "wire": self.wire,
            "causes": self.causes,
            "user_windows": self.user_windows,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Summary:
        s = cls(
            t0=d["t0"],
            t_end=d["t_end"],
            subscribers={k: dict(v) for k, v in d["subscribers"].items()},
            sent={k: IntervalSet.from_ranges(v) for k, v in d["sent"].items()},
            acked={k: IntervalSet.from_ranges(v) for k, v in d["acked"].items()},
            ghosts=dict(d["ghosts"]),
            latency=_hist_from(d["latency"], 3),
            lat_bucket_ns=d["lat_bucket_ns"],
            lat_buckets={int(k): _hist_from(v, 2) for k, v in d["lat_buckets"].items()},
            latency_wire=_hist_from(d.get("latency_wire") or "", 3),
            observer=dict(d.get("observer") or {}),
            browser=dict(d.get("browser") or {}),
            rss_all=Regression(**d["rss_all"]),
            rss_steady=Regression(**d["rss_steady"]),
            rss_first=tuple(d["rss_first"]) if d["rss_first"] else None,
            rss_last=tuple(d["rss_last"]) if d["rss_last"] else None,
            rss_peak=d["rss_peak"],
            rss_series=[tuple(p) for p in d["rss_series"]],
            phases=dict(d["phases"]),
            timeline={k: [tuple(e) for e in v] for k, v in d["timeline"].items()},
            faults=list(d["faults"]),
            notes=list(d["notes"]),
            counters=dict(d["counters"]),
            traffic=dict(d.get("traffic") or {}),
            wire={k: dict(v) for k, v in (d.get("wire") or {}).items()},
            causes={
                k: {c: dict(n) for c, n in v.items()} for k, v in (d.get("causes") or {}).items()
            },
            user_windows=dict(d.get("user_windows") or {}),
        )
        for gd in d["groups"]:
            g = FindingGroup.from_dict(gd)
            s.groups[g.key] = g
        return s


def _min(a: int | None, b: int | None) -> int | None:
    vals = [v for v in (a, b) if v is not None]
    return min(vals) if vals else None


def _max(a: int | None, b: int | None) -> int | None:
    vals = [v for v in (a, b) if v is not None]
    return max(vals) if vals else None


def _merge_counts(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    out = dict(a)
    for k, v in b.items():
        if k not in out:
            out[k] = v
        elif isinstance(v, dict):
            out[k] = _merge_counts(out[k], v)
        elif isinstance(v, bool) or not isinstance(v, int | float):
            out[k] = out[k] if out[k] is not None else v
        elif k in ("first_t",):
            out[k] = min(out[k], v)
        elif k in ("last_t",):
            out[k] = max(out[k], v)
        else:
            out[k] = out[k] + v
    return out


def _merge_sets(a: dict[str, IntervalSet], b: dict[str, IntervalSet]) -> dict[str, IntervalSet]:
    out = {k: v.copy() for k, v in a.items()}
    for k, v in b.items():
        out[k] = union(out[k], v) if k in out else v.copy()
    return out


def _decimate(series: list[Any], cap: int) -> list[Any]:
    while len(series) > cap:
        series = series[::2]
    return series


def merge(a: Summary, b: Summary) -> Summary:
    """Associative, commutative merge of two summaries (e.g. two Locust workers)."""
    if a.lat_bucket_ns != b.lat_bucket_ns:
        raise ValueError("cannot merge summaries with different latency bucket widths")
    out = Summary(t0=_min(a.t0, b.t0), t_end=_max(a.t_end, b.t_end), lat_bucket_ns=a.lat_bucket_ns)
    for src in (a, b):
        for key, g in src.groups.items():
            out.groups[key] = (
                out.groups[key].merge(g) if key in out.groups else g.merge(FindingGroup(*key))
            )
    out.groups = dict(sorted(out.groups.items()))
    out.subscribers = {k: v for k, v in sorted(_merge_counts(a.subscribers, b.subscribers).items())}
    out.sent = _merge_sets(a.sent, b.sent)
    out.acked = _merge_sets(a.acked, b.acked)
    out.ghosts = dict(sorted({**a.ghosts, **b.ghosts}.items()))
    out.latency = new_hist(3)
    out.latency.add(a.latency)
    out.latency.add(b.latency)
    out.latency_wire = new_hist(3)
    out.latency_wire.add(a.latency_wire)
    out.latency_wire.add(b.latency_wire)
    from visdom_chaos.reports.checkers.browser import merge_browser
    from visdom_chaos.reports.checkers.observer import merge_observer

    out.observer = merge_observer(a.observer, b.observer)
    out.browser = merge_browser(a.browser, b.browser)
    for k in sorted(set(a.lat_buckets) | set(b.lat_buckets)):
        h = new_hist(2)
        for src in (a, b):
            if k in src.lat_buckets:
                h.add(src.lat_buckets[k])
        out.lat_buckets[k] = h
    out.rss_all = a.rss_all.merge(b.rss_all)
    out.rss_steady = a.rss_steady.merge(b.rss_steady)
    firsts = [p for p in (a.rss_first, b.rss_first) if p]
    lasts = [p for p in (a.rss_last, b.rss_last) if p]
    out.rss_first = min(firsts) if firsts else None
    out.rss_last = max(lasts) if lasts else None
    peaks = [p for p in (a.rss_peak, b.rss_peak) if p is not None]
    out.rss_peak = max(peaks) if peaks else None
    out.rss_series = _decimate(sorted(set(a.rss_series) | set(b.rss_series)), MAX_SERIES)
    out.phases = {
        k: min(v for v in (a.phases.get(k), b.phases.get(k)) if v is not None)
        for k in sorted(set(a.phases) | set(b.phases))
    }
    out.timeline = {
        c: sorted(set(a.timeline.get(c, [])) | set(b.timeline.get(c, [])))[:MAX_TIMELINE]
        for c in sorted(set(a.timeline) | set(b.timeline))
    }
    seen: dict[tuple[Any, ...], dict[str, Any]] = {}
    for f in a.faults + b.faults:
        seen.setdefault((f["t"], f.get("kind"), f.get("toxic"), f.get("stream")), f)
    out.faults = [seen[k] for k in sorted(seen, key=lambda k: (k[0], str(k[1:])))][:MAX_FAULTS]
    out.notes = sorted(set(a.notes) | set(b.notes))
    out.counters = _merge_counts(a.counters, b.counters)
    # keys name a client or a source, each of which lives in one worker: a union
    out.traffic = dict(sorted({**b.traffic, **a.traffic}.items()))
    out.wire = dict(sorted(_merge_counts(a.wire, b.wire).items()))
    out.causes = dict(sorted(_merge_counts(a.causes, b.causes).items()))
    out.user_windows = dict(sorted({**b.user_windows, **a.user_windows}.items()))
    return out


def encode_b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
