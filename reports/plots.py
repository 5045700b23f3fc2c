"""Plots (matplotlib, Agg) drawn from report.json alone, so any report can be re-plotted."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from visdom_chaos.reports.summary import CONTROL_KINDS, FINDING_KINDS, fault_label  # noqa: E402

FAULT_COLOR = "#d62728"
DPI = 100


def _empty(ax: Any, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="grey")


def _faults(ax: Any, report: dict[str, Any], label: bool = True) -> None:
    faults = report.get("faults") or []
    seen: set[str] = set()
    palette = plt.get_cmap("tab10")
    colors: dict[str, Any] = {}
    for f in faults[:300]:
        kind = (
            fault_label(f) if f.get("kind") != "toxic_attach" else "toxic_attach"
        )  # one per connection
        control = f.get("kind") in CONTROL_KINDS
        if not control and kind not in colors:
            colors[kind] = palette((len(colors) + 3) % 10)
        ax.axvline(
            f["t_s"],
            color="#bbbbbb" if control else colors[kind],
            alpha=0.35 if control else 0.8,
            lw=0.8,
            ls=":" if control else "--",
            label=(f"fault: {kind}" if label and not control and kind not in seen else None),
        )
        seen.add(kind)


def _legend(ax: Any, handles: list[Any] | None = None, labels: list[str] | None = None) -> None:
    if handles is None:
        handles, labels = ax.get_legend_handles_labels()
    if handles:
        ax.legend(
            handles,
            labels,
            loc="upper left",
            bbox_to_anchor=(1.08, 1.0),
            fontsize=8,
            borderaxespad=0,
        )


def _phases(ax: Any, report: dict[str, Any]) -> None:
    ph = report.get("phases") or {}
    if "steady" in ph:
        end = ph.get("sources_stopped") or ph.get("end")
        if end is not None:
            ax.axvspan(ph["steady"], end, color="#2ca02c", alpha=0.06, label="steady phase")


def plot_rss(report: dict[str, Any]) -> Figure:
    fig, ax = plt.subplots(figsize=(12, 4.2), dpi=DPI)
    rss = (report.get("series") or {}).get("rss") or []
    if rss:
        ax.plot(
            [p[0] for p in rss],
            [p[1] for p in rss],
            color="#1f77b4",
            lw=1.5,
            label="server RSS (MiB)",
        )
        mem = report.get("memory") or {}
        ax.set_title(
            f"Server RSS — slope {mem.get('slope_mib_per_min')} MiB/min"
            f"{' (FLAGGED)' if mem.get('growth_flagged') else ''}"
        )
    else:
        _empty(ax, "no server samples")
        ax.set_title("Server RSS")
    _phases(ax, report)
    _faults(ax, report)
    ax.set_xlabel("time since start (s)")
    ax.set_ylabel("RSS (MiB)")
    subs = (report.get("series") or {}).get("subscribers_connected") or []
    if subs:
        ax2 = ax.twinx()
        ax2.step(
            [p[0] for p in subs],
            [p[1] for p in subs],
            where="post",
            color="#ff7f0e",
            lw=1,
            label="subscribers connected",
        )
        slow = (report.get("series") or {}).get("slow_subscribers") or []
        if slow:
            ax2.step(
                [p[0] for p in slow],
                [p[1] for p in slow],
                where="post",
                color="#d62728",
                lw=1.2,
                label="slow / stalled subscribers",
            )
        ax2.set_ylabel("subscribers")
        ax2.set_ylim(bottom=0)
        h2, l2 = ax2.get_legend_handles_labels()
    else:
        h2, l2 = [], []
    h1, l1 = ax.get_legend_handles_labels()
    _legend(ax, h1 + h2, l1 + l2)
    fig.tight_layout()
    return fig


def plot_latency(report: dict[str, Any]) -> Figure:
    fig, ax = plt.subplots(figsize=(12, 4.2), dpi=DPI)
    lat = report.get("latency_ms") or {}
    pts = lat.get("over_time") or []
    if pts:
        xs = [p["t_s"] for p in pts]
        for key, color in (
            ("p50", "#2ca02c"),
            ("p95", "#ff7f0e"),
            ("p99", "#d62728"),
            ("max", "#7f7f7f"),
        ):
            ax.plot(
                xs,
                [max(p[key], 0.001) for p in pts],
                label=key,
                color=color,
                lw=1.2,
                ls="--" if key == "max" else "-",
            )
        ax.set_yscale("log")
        bound = (report.get("config") or {}).get("stale_bound_ms")
        if bound:
            ax.axhline(bound, color="black", lw=0.8, ls="-.", label=f"staleness bound {bound:g} ms")
    else:
        _empty(ax, "no deliveries with a send time")
    _faults(ax, report)
    ax.set_title(
        f"Delivery latency over time — p50 {lat.get('p50')} · p99 {lat.get('p99')} · max {lat.get('max')} ms"
    )
    ax.set_xlabel("time since start (s)")
    ax.set_ylabel("latency (ms)")
    _legend(ax)
    fig.tight_layout()
    return fig


def plot_timeline(report: dict[str, Any]) -> Figure:
    timeline = report.get("timeline") or {}
    clients = sorted(timeline)[:40]
    fig, ax = plt.subplots(figsize=(12, max(3.2, 0.45 * len(clients) + 1.5)), dpi=DPI)
    if not clients:
        _empty(ax, "no subscribers")
    end = report.get("duration_s") or 0
    for row, c in enumerate(clients):
        start = None
        for t, what, _ in timeline[c]:
            end = max(end, t or 0)
            if what == "connect":
                start = t
            elif what == "disconnect" and start is not None:
                ax.barh(
                    row, t - start, left=start, height=0.5, color="#aec7e8", edgecolor="#1f77b4"
                )
                start = None
        if start is not None:
            ax.barh(row, end - start, left=start, height=0.5, color="#aec7e8", edgecolor="#1f77b4")
    labels: set[str] = set()

    def mark(row: int, t: float, marker: str, color: str, label: str) -> None:
        ax.plot(
            [t],
            [row],
            marker=marker,
            color=color,
            ls="none",
            ms=7,
            label=label if label not in labels else None,
        )
        labels.add(label)

    for row, c in enumerate(clients):
        for t, what, _ in timeline[c]:
            if what == "connect":
                mark(row, t, "|", "#2ca02c", "connect")
            elif what == "disconnect":
                mark(row, t, "x", "black", "disconnect")
            elif what == "resync":
                mark(row, t, "o", "#ff7f0e", "resync")
    rows = {c: i for i, c in enumerate(clients)}
    for e in report.get("evidence") or []:
        c = (e.get("clients") or [None])[0]
        if (
            c in rows
            and e["kind"] in ("missing", "reorder", "stale", "duplicate")
            and e.get("t_first_s") is not None
        ):
            label = "gap (transient)" if e["detail"] == "after_gap" else e["kind"]
            color = {"missing": FAULT_COLOR, "stale": "#9467bd", "duplicate": "#8c564b"}.get(
                e["kind"], "#e377c2"
            )
            ax.hlines(
                rows[c] + 0.32,
                e["t_first_s"],
                max(e["t_last_s"], e["t_first_s"] + 0.05),
                color=color,
                lw=4,
                # None: no legend entry. matplotlib's stub types hlines' label as str; at
                # runtime it goes to Artist.set_label, which takes any object and keeps None.
                label=label if label not in labels else None,  # type: ignore[arg-type]
            )
            labels.add(label)
    _faults(ax, report)
    ax.set_yticks(range(len(clients)))
    ax.set_yticklabels(clients, fontsize=8)
    ax.set_ylim(-0.8, max(len(clients), 1) - 0.2)
    ax.set_xlabel("time since start (s)")
    ax.set_title("Subscriber timeline: connections, resyncs, gaps and findings")
    _legend(ax)
    fig.tight_layout()
    return fig


def plot_findings(report: dict[str, Any]) -> Figure:
    fig, ax = plt.subplots(figsize=(10, 3.5), dpi=DPI)
    findings = report.get("findings") or {}
    counts = [findings.get(k, 0) for k in FINDING_KINDS]
    bars = ax.bar(FINDING_KINDS, counts, color=[FAULT_COLOR if n else "#2ca02c" for n in counts])
    ax.bar_label(bars, labels=[str(n) for n in counts], fontsize=9)
    ax.set_ylabel("count")
    ax.set_title("Findings by kind (ids × subscribers; reloads, errors and sockets as counts)")
    ax.tick_params(axis="x", labelsize=8, labelrotation=20)
    ax.set_ylim(0, max(counts + [1]) * 1.2)
    fig.tight_layout()
    return fig


def plot_browser_heap(report: dict[str, Any]) -> Figure:
    """JS heap (used) of each real browser over time, DOM nodes on a second axis."""
    fig, ax = plt.subplots(figsize=(12, 4.2), dpi=DPI)
    browsers = (report.get("browser") or {}).get("browsers") or []
    ax2 = ax.twinx()
    drawn = False
    for i, b in enumerate(browsers):
        pts = [s for s in b.get("samples") or [] if s[1] is not None]
        if not pts:
            continue
        color = plt.get_cmap("tab10")(i % 10)
        ax.plot(
            [p[0] for p in pts],
            [p[1] for p in pts],
            color=color,
            lw=1.5,
            label=f"{b['id']} JS heap (MiB)",
        )
        ax2.plot(
            [p[0] for p in pts],
            [p[3] or 0 for p in pts],
            color=color,
            lw=0.8,
            ls=":",
            label=f"{b['id']} DOM nodes",
        )
        drawn = True
    if not drawn:
        _empty(ax, "no browser samples")
    _faults(ax, report)
    ax.set_title("Real browsers: JS heap used over time (CDP Performance.getMetrics)")
    ax.set_xlabel("time since start (s)")
    ax.set_ylabel("JS heap used (MiB)")
    ax.set_ylim(bottom=0)
    ax2.set_ylabel("DOM nodes")
    ax2.set_ylim(bottom=0)
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    _legend(ax, h1 + h2, l1 + l2)
    fig.tight_layout()
    return fig


def plot_observer(report: dict[str, Any]) -> Figure:
    """The instrument against what it measures: CPU of each harness process beside the server's,
    and the subscribers' receive backlog, over time."""
    obs = report.get("observer") or {}
    series = obs.get("series") or {}
    fig, (ax, ax2) = plt.subplots(2, 1, figsize=(12, 6.0), dpi=DPI, sharex=True)
    for i, (name, pts) in enumerate(sorted((series.get("cpu") or {}).items())):
        if pts:
            ax.plot(
                [p[0] for p in pts],
                [p[1] for p in pts],
                lw=1.2,
                color=plt.get_cmap("tab10")(i % 10),
                label=name,
            )
    server = series.get("server_cpu") or []
    if server:
        ax.plot(
            [p[0] for p in server],
            [p[1] for p in server],
            lw=1.6,
            color="black",
            ls="--",
            label="Visdom server",
        )
    rule = obs.get("rule") or {}
    if rule.get("cpu_pct"):
        ax.axhline(
            rule["cpu_pct"], color=FAULT_COLOR, lw=0.8, ls=":", label=f"{rule['cpu_pct']:g} % bound"
        )
    if not (series.get("cpu") or server):
        _empty(ax, "no CPU samples")
    ax.set_ylabel("CPU (% of one core)")
    ax.set_ylim(bottom=0)
    ax.set_title(
        f"Observer: {obs.get('verdict', 'unmeasured')}"
        + (" — " + "; ".join(obs.get("reasons") or [])[:120] if obs.get("reasons") else "")
    )
    _phases(ax, report)
    _legend(ax)
    backlog = series.get("backlog") or []
    if backlog:
        ax2.plot(
            [p[0] for p in backlog],
            [p[1] for p in backlog],
            color="#1f77b4",
            lw=1.2,
            label="backlog p99",
        )
        ax2.plot(
            [p[0] for p in backlog],
            [p[2] for p in backlog],
            color="#1f77b4",
            lw=0.6,
            ls=":",
            label="backlog max",
        )
        if rule.get("backlog_p99_ms"):
            ax2.axhline(
                rule["backlog_p99_ms"],
                color=FAULT_COLOR,
                lw=0.8,
                ls=":",
                label=f"{rule['backlog_p99_ms']:g} ms bound",
            )
    else:
        _empty(ax2, "no receive backlog measured")
    ax2.set_ylabel("receive backlog (ms)")
    ax2.set_xlabel("time since start (s)")
    ax2.set_ylim(bottom=0)
    _legend(ax2)
    fig.tight_layout()
    return fig


CAUSE_COLORS = {
    "wire_gap": "#d62728",
    "wire_reorder": "#e377c2",
    "wire_duplicate": "#8c564b",
    "wire_undecodable": "#7f7f7f",
    "render_writeback": "#1f77b4",
    "relayout": "#17becf",
    "render_batch_race": "#9467bd",
    "version_gap": "#ff7f0e",
    "user_action": "#2ca02c",
    "unknown": "#000000",
    "not_observed": "#c7c7c7",
}


def plot_reload_causes(report: dict[str, Any]) -> Figure:
    """Reloads (and protocol errors) per subscriber, stacked by cause: who reloads, and why."""
    causes = report.get("causes") or {}
    by = causes.get("by_subscriber") or {}
    clients = sorted(by)[:40]
    singled = {s["client"] for s in report.get("singled_out") or []}
    fig, axes = plt.subplots(
        1, 2, figsize=(12, max(3.2, 0.4 * len(clients) + 1.6)), dpi=DPI, sharey=True
    )
    for ax, klass, title in (
        (axes[0], "reload", "Reloads by cause"),
        (axes[1], "protocol_error", "Protocol errors by cause"),
    ):
        order = [c for c in CAUSE_COLORS if (causes.get(klass) or {}).get(c)]
        order += sorted(c for c in (causes.get(klass) or {}) if c not in CAUSE_COLORS)
        left = [0] * len(clients)
        for cause in order:
            vals = [(by[c].get(klass) or {}).get(cause, 0) for c in clients]
            ax.barh(
                range(len(clients)),
                vals,
                left=left,
                color=CAUSE_COLORS.get(cause, "#bcbd22"),
                label=cause,
            )
            left = [a + b for a, b in zip(left, vals, strict=True)]
        if not order:
            _empty(ax, "none")
        ax.set_title(title)
        ax.set_xlabel("count")
    axes[0].set_yticks(range(len(clients)))
    axes[0].set_yticklabels(
        [c + (" ◀ singled out" if c in singled else "") for c in clients], fontsize=8
    )
    handles, labels = [], []
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    _legend(axes[1], handles, labels)
    fig.tight_layout()
    return fig


PLOTS = {
    "rss": plot_rss,
    "latency": plot_latency,
    "timeline": plot_timeline,
    "findings": plot_findings,
}
OPTIONAL_PLOTS = {
    "reload_causes": (
        plot_reload_causes,
        lambda r: bool((r.get("causes") or {}).get("by_subscriber")),
    ),
    "browser_heap": (plot_browser_heap, lambda r: bool(r.get("browser"))),
    "observer": (
        plot_observer,
        lambda r: (r.get("observer") or {}).get("verdict", "unmeasured") != "unmeasured",
    ),
}


def write_plots(run_dir: str | os.PathLike[str], report: dict[str, Any]) -> list[Path]:
    out_dir = Path(run_dir) / "plots"
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    plots = dict(PLOTS)
    plots.update({name: fn for name, (fn, wanted) in OPTIONAL_PLOTS.items() if wanted(report)})
    # Client, window, toxic and process names are the user's: drawn as typed, never as mathtext
    # (`$\\bogus$` would raise and lose every plot) or LaTeX; no label here uses either. Tick
    # labels are made as a figure is saved, so the saving is inside too.
    with plt.rc_context({"text.parse_math": False, "text.usetex": False}):
        for name, fn in plots.items():
            fig = fn(report)
            path = out_dir / f"{name}.png"
            fig.savefig(path)
            plt.close(fig)
            written.append(path)
    return written
