"""The user's own windows judged against server truth (reports/checkers/userwin.py), on
synthetic journals: each tab's digest of a window without toolkit ids against the server's."""

from __future__ import annotations

import copy

from visdom_chaos.reports.analyze import build_report
from visdom_chaos.reports.checkers import Config
from visdom_chaos.reports.checkers.userwin import compare
from visdom_chaos.reports.engine import Analyzer
from visdom_chaos.reports.summary import Summary, merge
from visdom_chaos.wire.digest import window_digest

T0 = 1_800_000_000_000_000_000


def line(n: int, title: str = "loss") -> dict:
    xs = list(range(n))
    return {
        "type": "plot",
        "title": title,
        "content": {
            "data": [{"x": xs, "y": [1.0 / (x + 1) for x in xs], "name": "1", "type": "scatter"}],
            "layout": {},
        },
    }


def text(m: int) -> dict:
    return {"type": "text", "title": "log", "content": "<br>".join(f"step {i}" for i in range(m))}


def image(caption: str, src: str = "data:image/png;base64,AAAA") -> dict:
    return {"type": "image", "title": "sample", "content": {"src": src, "caption": caption}}


def ids_of(window: dict) -> list:
    from visdom_chaos.ids import ids_in_window

    return [[i.source, i.seq] for i in ids_in_window(window)]


def journal(server: dict, tabs: dict[str, dict], *, tagged_source: bool = True) -> list[dict]:
    """Records of one run: a toolkit source writing vc_line_src-0, tabs' final views, truth."""
    recs: list[dict] = []
    t = T0
    if tagged_source:
        recs.append(
            {"t": t, "type": "send", "client": "src-0", "seq": 0, "env": "main", "win": "vc_line"}
        )
        recs.append({"t": t + 1, "type": "ack", "client": "src-0", "seq": 0, "ok": True})
    for c in tabs:
        t += 10
        recs.append(
            {
                "t": t,
                "type": "connect",
                "client": c,
                "conn": 1,
                "transport": "websocket",
                "env": "main",
            }
        )
    t += 1_000_000_000
    for win, window in server.items():
        t += 1
        recs.append(
            {
                "t": t,
                "type": "truth",
                "client": "orchestrator",
                "env": "main",
                "win": win,
                "ids": ids_of(window),
                "digest": window_digest(window),
            }
        )
    for c, wins in tabs.items():
        for win, window in wins.items():
            t += 1
            recs.append(
                {
                    "t": t,
                    "type": "view",
                    "client": c,
                    "conn": 1,
                    "env": "main",
                    "win": win,
                    "ids": ids_of(window),
                    "final": True,
                    "digest": window_digest(window),
                }
            )
    return recs


def analyse(recs: list[dict]) -> tuple[Summary, dict]:
    a = Analyzer(Config())
    a.feed_all(copy.deepcopy(recs))
    summary = a.finish()
    return summary, build_report(summary, {"scenario": "t"}, Config())


SERVER = {
    "win_loss": line(200),
    "win_log": text(40),
    "sample": image("step 3"),
    "vc_line": {
        "type": "plot",
        "content": {"data": [{"x": [0], "y": [T0 / 1e6], "name": "src-0", "type": "scatter"}]},
    },
}


def test_a_clean_run_judges_every_user_window_clean():
    summary, report = analyse(journal(SERVER, {"ws-0": dict(SERVER), "ws-1": dict(SERVER)}))
    uw = report["user_windows"]
    assert uw["clean"] is True and uw["verdicts"] == {"clean": 6}
    titles = {w["title"] for w in uw["windows"]}
    assert titles == {"loss", "log", "sample"}  # the toolkit's own vc_line is not among them
    assert all(w["judged"] for w in uw["windows"])
    assert "user_window" not in report["findings_detail"]


def test_one_tab_behind_is_named_by_title_and_id_the_other_clean():
    behind = {"win_loss": line(180), "win_log": text(31), "sample": image("step 2"), **{}}
    behind["vc_line"] = SERVER["vc_line"]
    _, report = analyse(journal(SERVER, {"ws-0": dict(SERVER), "ws-1": behind}))
    uw = report["user_windows"]
    by_win = {w["win"]: w for w in uw["windows"]}
    assert all(w["tabs"]["ws-0"]["verdict"] == "clean" for w in uw["windows"])
    assert [f["detail"] for f in by_win["win_loss"]["tabs"]["ws-1"]["findings"]] == [
        "missing_points"
    ]
    assert [f["detail"] for f in by_win["win_log"]["tabs"]["ws-1"]["findings"]] == ["missing_text"]
    assert {f["detail"] for f in by_win["sample"]["tabs"]["ws-1"]["findings"]} == {"diverged"}
    assert report["findings_detail"]["user_window"] == {
        "missing_points": 1,
        "missing_text": 1,
        "diverged": 1,
    }
    ev = [e for e in report["evidence"] if e["kind"] == "user_window"]
    assert {e["clients"][0] for e in ev} == {"ws-1"}
    loss = next(e for e in ev if e["detail"] == "missing_points")
    assert loss["windows"] == ["main/win_loss"]
    assert (
        '"loss" (win_loss)' in loss["message"] and "tab 180 points, server 200" in loss["message"]
    )
    assert uw["clean"] is False


def test_missing_window_unknown_type_and_closed_on_server():
    server = {**SERVER, "props": {"type": "properties", "title": "knobs", "content": []}}
    tab = {k: v for k, v in SERVER.items() if k != "sample"}
    tab["gone"] = text(3)
    _, report = analyse(journal(server, {"ws-0": tab}))
    uw = report["user_windows"]
    by_win = {w["win"]: w for w in uw["windows"]}
    assert by_win["sample"]["tabs"]["ws-0"]["findings"][0]["detail"] == "missing_window"
    assert by_win["props"]["judged"] is False
    assert uw["not_judged"] == ["\"knobs\" (props) in main: type 'properties'"]
    assert by_win["gone"]["tabs"]["ws-0"]["findings"][0]["detail"] == "closed_on_server"


def test_compare_plots_by_trace_count_points_and_values():
    a, b = window_digest(line(10)), window_digest(line(10))
    assert compare(a, b) == []
    other = line(10)
    other["content"]["data"][0]["y"][-1] = 5.0
    diffs = compare(window_digest(other), b)
    assert [d for d, _ in diffs] == ["diverged"] and "last point" in diffs[0][1]
    assert [d for d, _ in compare(window_digest(line(12)), b)] == ["extra_points"]
    two = line(10)
    two["content"]["data"].append(dict(two["content"]["data"][0], name="2"))
    assert [d for d, _ in compare(window_digest(two), b)] == ["diverged"]
    assert [d for d, _ in compare(window_digest(text(3)), b)] == ["diverged"]  # type


def test_digest_is_the_same_for_js_and_python_numbers_and_ignores_render_writebacks():
    py = line(5)
    js = copy.deepcopy(py)
    js["content"]["data"][0]["x"] = [float(x) for x in js["content"]["data"][0]["x"]]
    js["content"]["data"][0]["opacity"] = 1.0  # 0.2.4's PlotPane writes this into the pane
    js["content"]["layout"] = {"xaxis": {"autorange": True, "range": [0, 4]}}
    assert window_digest(js) == window_digest(py)


def test_user_windows_merge_across_processes():
    s1, _ = analyse(journal(SERVER, {"ws-0": dict(SERVER)}))
    s2, _ = analyse(journal(SERVER, {"ws-1": dict(SERVER)}))
    merged = Summary.from_dict(merge(s1, s2).to_dict())
    report = build_report(merged, {"scenario": "t"}, Config())
    assert report["user_windows"]["verdicts"] == {"clean": 6}


def test_no_digests_no_section():
    recs = [r for r in journal(SERVER, {"ws-0": dict(SERVER)}) if r["type"] not in ("view",)]
    for r in recs:
        r.pop("digest", None)
    _, report = analyse(recs)
    assert "user_windows" not in report


def test_an_env_without_truth_is_named_not_judged():
    """The user deleted the env mid-run: /win_data fails, the tabs' windows are not judged."""
    recs = [r for r in journal(SERVER, {"ws-0": dict(SERVER)}) if r["type"] != "truth"]
    recs.append(
        {
            "t": recs[-1]["t"] + 1,
            "type": "truth",
            "client": "orchestrator",
            "env": "main",
            "win": None,
            "ids": [],
            "error": "HTTP 500 (no such env: deleted?)",
        }
    )
    recs.sort(key=lambda r: r["t"])
    _, report = analyse(recs)
    assert "user_windows" not in report
    assert any("user windows of env 'main' not judged" in n for n in report["notes"])
    assert any("HTTP 500" in n for n in report["notes"])
