"""The user's own windows: each tab's final view of a window without toolkit ids, against
the server's truth at quiescence.

A training script's windows (the real `visdom` client's `line(..., update="append")`,
`text(..., append=True)`, `image(...)`) carry no `(source, seq)` ids, so the id checkers
pass over them. Subscribers journal a digest of each such window in their `view` records,
the orchestrator one of the server's in `truth` (`visdom_chaos/wire/digest.py`); this
checker compares them per tab × window:

| detail | when |
|---|---|
| `missing_window` | the server has the window, a tab showing its env does not |
| `missing_points` | a trace of a plot holds fewer points in the tab than on the server |
| `extra_points` | ... more points |
| `diverged` | same count, other points (last point or data hash); other traces; other type; an image with another caption or source |
| `missing_text` | a text window's content is shorter in the tab (a hash mismatch with the server) |
| `closed_on_server` | the tab still shows a window the server no longer has |

Findings are FindingGroups of kind `user_window` (one observation per tab × window ×
detail), so they get evidence lines like every other finding; `summary.user_windows`
holds every verdict (clean ones too), which `user_windows_section` turns into the report's
`user_windows`. Windows of a type the digest does not know are listed as not judged.
"""

from __future__ import annotations

from typing import Any

from visdom_chaos.reports.checkers.base import Checker
from visdom_chaos.reports.checkers.state import RunState

KIND = "user_window"


def _sources(rec: dict[str, Any]) -> frozenset[str]:
    """The sources of the ids read out of a view/truth record (a user's plot has some too:
    its trace names, with its x values read as seqs)."""
    return frozenset(str(item[0]) for item in rec.get("ids") or ())


REPLICA_TRANSPORTS = ("websocket", "polling")


def _label(title: Any, win: str) -> str:
    return f'"{title}" ({win})' if title else f"({win})"


def _pt(point: Any) -> str:
    """A digest's last point ([x, y] as canonical strings) for people: (x, y)."""
    if not isinstance(point, list):
        return str(point)
    return "(" + ", ".join("–" if v is None else str(v) for v in point) + ")"


def compare(view: dict[str, Any], truth: dict[str, Any]) -> list[tuple[str, str]]:
    """(detail, what differs) for one tab's digest of a window against the server's."""
    if view.get("type") != truth.get("type"):
        return [("diverged", f"type: tab {view.get('type')}, server {truth.get('type')}")]
    typ = truth.get("type")
    out: list[tuple[str, str]] = []
    if typ == "plot":
        vt, st = view.get("traces") or [], truth.get("traces") or []
        if len(vt) != len(st):
            out.append(("diverged", f"traces: tab {len(vt)}, server {len(st)}"))
        for i, (a, b) in enumerate(zip(vt, st, strict=False)):
            name = b.get("name") or f"#{i}"
            if a.get("n", 0) < b.get("n", 0):
                out.append(
                    (
                        "missing_points",
                        f"trace {name!r}: tab {a.get('n')} points, server {b.get('n')}; "
                        f"last point tab {_pt(a.get('last'))}, server {_pt(b.get('last'))}",
                    )
                )
            elif a.get("n", 0) > b.get("n", 0):
                out.append(
                    (
                        "extra_points",
                        f"trace {name!r}: tab {a.get('n')} points, server {b.get('n')}",
                    )
                )
            elif a.get("last") != b.get("last") or a.get("h") != b.get("h"):
                out.append(
                    (
                        "diverged",
                        f"trace {name!r}: {b.get('n')} points, other values; last point "
                        f"tab {_pt(a.get('last'))}, server {_pt(b.get('last'))}",
                    )
                )
    elif typ == "text":
        if view.get("h") != truth.get("h"):
            detail = "missing_text" if view.get("len", 0) < truth.get("len", 0) else "diverged"
            out.append(
                (
                    detail,
                    f"text: tab {view.get('len')} chars ending {str(view.get('tail'))[-40:]!r}, "
                    f"server {truth.get('len')} ending {str(truth.get('tail'))[-40:]!r}",
                )
            )
    elif typ == "image":
        if view.get("caption") != truth.get("caption"):
            out.append(
                (
                    "diverged",
                    f"image caption: tab {view.get('caption')!r}, server {truth.get('caption')!r}",
                )
            )
        if view.get("h") != truth.get("h"):
            out.append(
                (
                    "diverged",
                    f"image source: tab {view.get('len')} bytes #{view.get('h')}, "
                    f"server {truth.get('len')} bytes #{truth.get('h')}",
                )
            )
    return out


class UserWindowChecker(Checker):
    name = "user_windows"
    handles = ("view", "truth", "traffic", "phase")

    def __init__(self) -> None:
        # (env, win) -> (t, digest, sources of the ids read out of it)
        self.truth: dict[tuple[str, str], tuple[int, dict[str, Any], frozenset[str]]] = {}
        self.truth_envs: set[str] = set()
        # (client, env, win) -> (t, final, digest, sources); a final view is never replaced
        # by a non-final one
        self.views: dict[
            tuple[str, str, str], tuple[int, bool, dict[str, Any], frozenset[str]]
        ] = {}
        self.messages: dict[tuple[str, str, str], int] = {}
        self.moving = False  # quiescence timed out: the truth was read while something wrote

    def on_record(self, rec: dict[str, Any], state: RunState) -> None:
        typ = rec["type"]
        if typ == "phase":
            detail = rec.get("detail")
            if (
                rec.get("name") == "quiescent"
                and isinstance(detail, dict)
                and detail.get("timed_out")
            ):
                self.moving = True
            return
        env, win = str(rec.get("env") or ""), rec.get("win")
        if typ == "truth":
            if win is None:
                return  # this env's truth could not be fetched (RunState notes it)
            self.truth_envs.add(env)
            digest = rec.get("digest")
            if isinstance(digest, dict):
                self.truth[(env, str(win))] = (rec["t"], digest, _sources(rec))
        elif typ == "view":
            digest = rec.get("digest")
            if not isinstance(digest, dict):
                return
            key = (str(rec.get("client", "")), env, str(win))
            final = bool(rec.get("final"))
            old = self.views.get(key)
            if old is None or not old[1] or final:
                self.views[key] = (rec["t"], final, digest, _sources(rec))
        elif typ == "traffic" and win is not None:
            key = (str(rec.get("client", "")), env, str(win))
            self.messages[key] = self.messages.get(key, 0) + int(rec.get("messages") or 0)

    def _tabs(self, state: RunState) -> dict[str, str]:
        """Replica tabs that journal digests, and the env each showed at the end."""
        digesting = {c for c, _, _ in self.views}
        return {
            c: str(lin.env or "main")
            for c, lin in state.lineages.items()
            if lin.is_subscriber and (lin.transport in REPLICA_TRANSPORTS or c in digesting)
        }

    def finish(self, state: RunState) -> None:
        if not self.truth and not self.views:
            return
        s = state.summary
        tabs = self._tabs(state)
        toolkit = set(state.sources)  # sources that journaled sends: the toolkit's own
        out: dict[str, dict[str, Any]] = {}
        for (env, win), (t_truth, truth, sources) in sorted(self.truth.items()):
            if sources & toolkit:
                continue  # the id checkers judge it
            title = truth.get("title")
            for client, tab_env in sorted(tabs.items()):
                if tab_env != env:
                    continue
                row: dict[str, Any] = {
                    "client": client,
                    "env": env,
                    "win": win,
                    "title": title,
                    "type": truth.get("type"),
                    "messages": self.messages.get((client, env, win)),
                    "sources": sorted(sources),
                    "findings": [],
                }
                out[f"{client}|{env}|{win}"] = row
                if truth.get("judged") is False:
                    row["verdict"] = "not_judged"
                    continue
                seen = self.views.get((client, env, win))
                if seen is None:
                    diffs = [("missing_window", "the server has it, the tab shows none")]
                    t = t_truth
                elif not seen[1]:
                    row["verdict"] = "left_early"  # judged on what it had when it left: no final
                    continue
                else:
                    t = seen[0]
                    diffs = compare(seen[2], truth)
                self._record(s, row, diffs, t)
        for (client, env, win), (t, final, digest, sources) in sorted(self.views.items()):
            if (
                not final
                or client not in tabs
                or env not in self.truth_envs
                or (env, win) in self.truth
                or sources & toolkit
            ):
                continue
            row = {
                "client": client,
                "env": env,
                "win": win,
                "title": digest.get("title"),
                "type": digest.get("type"),
                "messages": self.messages.get((client, env, win)),
                "sources": sorted(sources),
                "findings": [],
            }
            out[f"{client}|{env}|{win}"] = row
            self._record(s, row, [("closed_on_server", "the server no longer has it")], t)
        untruthed = sorted({e for c, e, _ in self.views if c in tabs} - self.truth_envs)
        for env in untruthed:
            s.note(f"user windows of env {env!r} not judged: no server truth of that env")
        if out and self.moving:
            s.note(
                "user windows judged on a moving target: quiescence timed out (something kept "
                "writing, e.g. a training script still running), so points or text written "
                "around the truth read may show as missing or extra"
            )
        s.user_windows.update(out)

    @staticmethod
    def _record(s: Any, row: dict[str, Any], diffs: list[tuple[str, str]], t: int) -> None:
        row["verdict"] = "clean" if not diffs else "finding"
        label = _label(row["title"], row["win"])
        by_detail: dict[str, list[str]] = {}
        for detail, says in diffs:
            by_detail.setdefault(detail, []).append(says)
        for detail, lines in by_detail.items():
            says = "; ".join(lines)
            row["findings"].append({"detail": detail, "says": says})
            g = s.group(KIND, detail, row["client"], row["env"], row["win"])
            g.touch(t)
            g.info.update(title=row["title"], type=row["type"], says=f"{label}: {says}")


def user_windows_section(summary: Any) -> dict[str, Any] | None:
    """report.json `user_windows`: every user window by title and id, each tab's verdict."""
    toolkit = set(getattr(summary, "sent", {}) or {})  # a merged summary: every process's sources
    rows = {
        k: r
        for k, r in (getattr(summary, "user_windows", None) or {}).items()
        if not set(r.get("sources") or ()) & toolkit
    }
    if not rows:
        return None
    windows: dict[tuple[str, str], dict[str, Any]] = {}
    counts: dict[str, int] = {}
    verdicts: dict[str, int] = {}
    for row in sorted(rows.values(), key=lambda r: (r["env"], r["win"], r["client"])):
        w = windows.setdefault(
            (row["env"], row["win"]),
            {
                "env": row["env"],
                "win": row["win"],
                "title": row.get("title"),
                "type": row.get("type"),
                "judged": row.get("verdict") != "not_judged",
                "tabs": {},
            },
        )
        w["tabs"][row["client"]] = {
            "verdict": row.get("verdict"),
            "findings": row.get("findings") or [],
            "messages": row.get("messages"),
        }
        verdicts[row.get("verdict") or "?"] = verdicts.get(row.get("verdict") or "?", 0) + 1
        for f in row.get("findings") or []:
            counts[f["detail"]] = counts.get(f["detail"], 0) + 1
    for w in windows.values():
        msgs = [t["messages"] for t in w["tabs"].values() if isinstance(t["messages"], int)]
        w["messages_max"] = max(msgs) if msgs else None
    listed = list(windows.values())
    return {
        "windows": listed,
        "verdicts": verdicts,
        "findings": counts,
        "not_judged": [
            f"{_label(w['title'], w['win'])} in {w['env']}: type {w['type']!r}"
            for w in listed
            if not w["judged"]
        ],
        "clean": all(not t["findings"] for w in listed for t in w["tabs"].values()),
    }
