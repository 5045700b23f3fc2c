"""Wire-level truth on real Visdom processes (issue 14): the chaos proxy's own WebSocket toxics
aimed at ONE subscriber's connection (the fault journal is the truth), on stock 0.2.4, stock
0.3.0 and patched 0.2.4: exactly that subscriber is singled out, with the injected counts of
wire duplicates / reorders / gaps (N in, N found), its reloads laid at them; the other
subscribers of the same run show no wire finding. With no toxic, nobody is singled out.
Polling on stock 0.2.4 (newest-first) shows wire reorders, on 0.3.0 none. Seconds of load each.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from visdom_chaos.journal import read_journal
from visdom_chaos.orchestrator import Experiment, RunOptions
from visdom_chaos.scenario import Scenario, SourceSpec

WIRE = ("wire_duplicate", "wire_reorder", "wire_gap", "undecodable")
WIRE_CAUSES = {"wire_gap", "wire_reorder", "wire_duplicate", "wire_undecodable"}
TARGETS = [("0.2.4", "stock"), ("0.3.0", "stock"), ("0.2.4", "patched")]
# which line updates (by seq: the plot op's index) each toxic touches, on ws-1 only
PLAN = {"ws_drop": [8, 20], "ws_duplicate": [12, 24], "ws_reorder": [16, 28]}
FOUND = {"ws_drop": "wire_gap", "ws_duplicate": "wire_duplicate", "ws_reorder": "wire_reorder"}


def faults_for(client: str) -> list[dict]:
    """One toxic per touched update, each at most once (`limit`: a patched server replays a lost
    frame after the tab's resume, and the replay must pass)."""
    out = []
    for typ, seqs in PLAN.items():
        for k in seqs:
            attrs = {
                "clients": [client],
                "match": {"command": "window_update"},
                "contains": f'/content/data/0/x/{k}"',
                "limit": 1,
            }
            if typ == "ws_reorder":  # held while the next updates pass (10 Hz: 2 of them)
                attrs.update(after=1000, max_hold=250)
            out.append(
                {
                    "action": "add",
                    "at": 0,
                    "proxy": "visdom",
                    "name": f"{typ}-{k}",
                    "type": typ,
                    "attributes": attrs,
                }
            )
    return out


def run(tmp_path: Path, version: str, variant: str, **load) -> tuple[Path, dict]:
    from conftest import built_or_skip

    built_or_skip(version, variant)
    load.setdefault("sources", [SourceSpec("line", 10.0), SourceSpec("text", 10.0)])
    load.setdefault("websocket_subscribers", 3)
    load.setdefault("polling_subscribers", 0)
    scenario = Scenario(
        "wire-truth", "one subscriber's frames touched", duration_s=3.5, settle_s=1.0, **load
    )
    result = Experiment(
        RunOptions(scenario=scenario, target=version, variant=variant, out=tmp_path / "run")
    ).run()
    assert result.status == "complete", result.error
    return result.run_dir, result.report


def injected(run_dir: Path) -> dict[str, list[str]]:
    """The fault journal: kind -> the client of each touched connection."""
    out: dict[str, list[str]] = {}
    for rec in read_journal(run_dir / "journal" / "faults.jsonl"):
        if rec["type"] == "fault" and rec["kind"] in PLAN:
            out.setdefault(rec["kind"], []).append(rec["detail"].get("client"))
    return out


@pytest.mark.visdom
@pytest.mark.parametrize(("version", "variant"), TARGETS)
def test_toxics_aimed_at_one_subscriber_single_it_out_n_in_n_found(tmp_path, version, variant):
    run_dir, report = run(tmp_path, version, variant, via_proxy=True, faults=faults_for("ws-1"))
    truth = injected(run_dir)
    assert {k: sorted(v) for k, v in truth.items()} == {
        k: ["ws-1"] * len(v) for k, v in PLAN.items()
    }
    rows = {s["id"]: s for s in report["subscribers"]}
    for typ, clients in truth.items():  # N in, N found
        assert rows["ws-1"]["findings"][FOUND[typ]] == len(clients), (typ, rows["ws-1"]["findings"])
    assert rows["ws-1"]["findings"]["undecodable"] == 0
    for other in ("ws-0", "ws-2"):
        assert {k: rows[other]["findings"][k] for k in WIRE} == dict.fromkeys(WIRE, 0), other
        assert not WIRE_CAUSES & set(rows[other]["causes"].get("reload") or {}), other
    assert [s["client"] for s in report["singled_out"]] == ["ws-1"]
    assert {"wire_gap", "wire_duplicate", "wire_reorder"} <= set(report["singled_out"][0]["kinds"])
    # its reloads are laid at the faults (a patched page resumes instead of reloading)
    reloads = rows["ws-1"]["causes"].get("reload") or {}
    if variant == "stock":
        assert sum(n for c, n in reloads.items() if c in WIRE_CAUSES) >= 1, reloads
    else:
        assert reloads == {}
    assert report["causes"]["unknown_flagged"] is False
    # the evidence names the tab, the window, the ids and the toxic that touched them
    for typ, kind in FOUND.items():
        ev = [e for e in report["evidence"] if e["kind"] == kind]
        assert ev and all(e["clients"] == ["ws-1"] for e in ev), kind
        assert sorted(i[1] for e in ev for i in e["ids"]) == PLAN[typ], kind
        assert "aimed at ws-1" in ev[0]["message"], ev[0]["message"]


@pytest.mark.visdom
@pytest.mark.parametrize(("version", "variant"), TARGETS)
def test_no_toxic_no_one_singled_out(tmp_path, version, variant):
    _, report = run(tmp_path, version, variant, via_proxy=True)
    assert {k: report["findings"][k] for k in WIRE} == dict.fromkeys(WIRE, 0)
    assert report["singled_out"] == [], report["singled_out"]
    assert report["causes"]["unknown_flagged"] is False
    if (version, variant) == ("0.2.4", "stock"):
        # every stock 0.2.4 tab reloads (Plotly's write-back): the target's normal behaviour
        assert {"reload", "reloads_by_cause.render_writeback"} <= set(report["normal_behaviour"])
        reloads = report["causes"]["reload"]
        assert reloads.get("render_writeback", 0) > sum(
            n for c, n in reloads.items() if c != "render_writeback"
        )
    if (version, variant) == ("0.3.0", "stock"):
        assert (
            "reloads_by_cause.version_gap" in report["normal_behaviour"]
        )  # text never bumps version


@pytest.mark.visdom
@pytest.mark.parametrize("version", ["0.2.4", "0.3.0"])
def test_polling_order_on_the_wire(tmp_path, version):
    _, report = run(
        tmp_path,
        version,
        "stock",
        sources=[SourceSpec("line", 20.0), SourceSpec("text", 20.0)],
        websocket_subscribers=0,
        polling_subscribers=2,
    )
    rows = {s["id"]: s["findings"] for s in report["subscribers"]}
    if version == "0.2.4":  # get_messages() pops newest-first (fixed upstream in PR #1248)
        assert all(rows[c]["wire_reorder"] > 0 for c in ("poll-0", "poll-1")), rows
        assert set(report["findings_detail"]["wire_reorder"]) <= {
            "within_response",
            "across_responses",
        }
        assert "wire_reorder" in report["normal_behaviour"], report["normal_behaviour_detail"]
        assert report["singled_out"] == [], report["singled_out"]
    else:
        assert report["findings"]["wire_reorder"] == 0
    assert report["findings"]["wire_gap"] == report["findings"]["wire_duplicate"] == 0
