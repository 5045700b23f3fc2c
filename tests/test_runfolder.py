"""RunFolder: one owner of a run folder for `visdom-chaos run` and Locust (no target needed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from visdom_chaos.journal import read_journal
from visdom_chaos.reports.summary import merge
from visdom_chaos.runfolder import RunFolder, RunMeta

RUN_KEYS = [
    "scenario",
    "scenario_file",
    "target",
    "duration_s",
    "seed",
    "params",
    "observer",
    "started_ns",
    "ended_ns",
    "server",
    "proxy",
    "status",
    "error",
]
LOCUST_KEYS = [
    "scenario",
    "locust_scenario_file",
    "target",
    "duration_s",
    "started_ns",
    "ended_ns",
    "seed",
    "params",
    "server",
    "proxy",
    "status",
    "error",
    "locust",
]


def _run_meta(**kw) -> RunMeta:
    return RunMeta(
        scenario="mixed",
        scenario_file=None,
        target={"version": "0.2.4", "variant": "stock", "url": None},
        duration_s=5.0,
        seed=0,
        params={"websocket_subscribers": 1},
        observer={"workers": "auto", "observer_burn_ms": 0.0},
        **kw,
    )


def _locust_meta() -> RunMeta:
    return RunMeta(
        scenario="locust",
        target={"version": "0.2.4", "variant": "external", "url": "http://127.0.0.1:1"},
        duration_s=None,
        seed=0,
        params={"users": 0},
        locust={"role": "local"},
    )


def test_run_json_keys_are_what_each_writer_always_wrote():
    meta = _run_meta()
    assert list(meta.to_dict()) == RUN_KEYS and meta.to_dict()["scenario_file"] is None
    assert list(_locust_meta().to_dict()) == LOCUST_KEYS
    meta.notes.append("n")
    meta.workers = [{"name": "worker-0"}]
    meta.cleanup_errors.append("x")
    assert list(meta.to_dict()) == [*RUN_KEYS, "notes", "workers", "cleanup_errors"]


def test_create_names_the_folder_and_points_latest_at_it(tmp_path):
    a = RunFolder.create(None, _run_meta(), root=tmp_path)
    b = RunFolder.create(None, _run_meta(), root=tmp_path)
    assert (
        a.path.parent == tmp_path / "runs" and a.path.name.endswith("-mixed") and a.path != b.path
    )
    assert (tmp_path / "latest").resolve() == b.path.resolve()
    assert json.loads((a.path / "run.json").read_text())["status"] == "running"
    out = RunFolder.create(tmp_path / "given" / "run", _run_meta(), root=tmp_path)
    assert (
        out.path == tmp_path / "given" / "run"
        and (tmp_path / "latest").resolve() == b.path.resolve()
    )


def test_journals_phases_notes_and_close(tmp_path):
    folder = RunFolder(tmp_path / "run", _locust_meta(), locust="w1")
    clients = folder.journal("clients")
    clients.write("connect", "ws-0", 1, transport="websocket")
    folder.phase("steady")
    folder.note("server process not visible from here")
    assert folder.close("complete") is None
    meta = json.loads((tmp_path / "run" / "run.json").read_text())
    assert meta["status"] == "complete" and meta["ended_ns"] >= meta["started_ns"]
    assert meta["notes"] == ["server process not visible from here"]
    header = next(read_journal(tmp_path / "run" / "journal" / "clients.jsonl"))
    assert header["role"] == "clients" and header["meta"] == {"locust": "w1"}
    phases = [
        r["name"] for r in read_journal(folder.journal_path("orchestrator")) if r["type"] == "phase"
    ]
    assert phases == ["steady", "end"]
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == [
        "journal",
        "run.json",
    ]  # no temp files left


def test_a_journal_that_cannot_be_written_fails_the_run(tmp_path):
    folder = RunFolder(tmp_path / "run", _run_meta())
    log = folder.fault_log("schedule", scenario="mixed")

    class Full:
        def write(self, _data):
            raise OSError(28, "No space left on device")

        def close(self):
            pass

    log._writer._file = Full()
    log.fault("visdom", "wan", "latency", "downstream")
    error = folder.close("complete")
    assert error is not None and error.errno == 28
    meta = json.loads((tmp_path / "run" / "run.json").read_text())
    assert meta["status"] == "failed" and meta["error"].startswith("cannot write the run folder:")


@pytest.fixture
def closed_folder(tmp_path: Path) -> RunFolder:
    folder = RunFolder(tmp_path / "run", _locust_meta())
    folder.journal("clients").write(
        "connect", "ws-0", 1, transport="websocket", url="ws://x", local_port=1, env="main"
    )
    folder.close("complete")
    return folder


def test_one_assembly_gives_every_report_input_server_and_security(closed_folder):
    summary, meta, stats = closed_folder.summarize()
    report = closed_folder.assemble(summary, meta, stats=stats)
    assert report["input"]["files"] == ["clients.jsonl", "orchestrator.jsonl"]
    assert report["input"]["records"] == stats.records + stats.skipped > 0
    assert report["server"] == {"exceptions": None}  # no server.log: an external target
    assert "security" not in report
    (closed_folder.path / "security.json").write_text(
        json.dumps({"origin_socket": {"title": "t", "status": "ok", "evidence": {}}})
    )
    assert closed_folder.assemble(summary, meta, stats=stats)["security"]["by_check"] == {
        "origin_socket": 0
    }


def test_merged_summary_counts_every_process_input(closed_folder):
    """A distributed Locust master: its own files, every process's records."""
    summary, meta, stats = closed_folder.summarize()
    merged = merge(summary, summary)
    report = closed_folder.assemble(merged, meta, stats=stats, browser=False)
    assert report["input"]["files"] == ["clients.jsonl", "orchestrator.jsonl"]
    assert report["input"]["records"] == 2 * (stats.records + stats.skipped)
    assert "browser" not in report
