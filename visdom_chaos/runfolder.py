"""A run folder and its one owner: everything `visdom-chaos run` and a Locust process write there.

    folder = RunFolder.create(out, RunMeta(scenario="mixed", ...))   # reports/runs/<stamp>-mixed/
    clients = folder.journal("clients")          # journal/clients.jsonl, closed by folder.close()
    folder.phase("steady")                        # a `phase` record in journal/orchestrator.jsonl
    folder.meta.server = {...}; folder.write_meta()   # run.json, written atomically
    folder.note("...")                            # run.json `notes`, carried into the report
    error = folder.close("complete")              # phase end, journals closed, run.json final
    report = folder.report()                      # analyse + report.json, report.md, plots...

The report is assembled once, by `visdom_chaos.reports.analyze.assemble_report`, for
both `run` and Locust (a Locust process with a summary of its own or merged from its
workers: `summarize`, `assemble`, `write_report`). What else lands in the folder, and
who writes it, is in docs/run-folder.md.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from visdom_chaos.chaos.faultlog import FaultLog
from visdom_chaos.journal import JournalWriter, atomic_write
from visdom_chaos.reports.analyze import assemble_report, config_for, summarize_run
from visdom_chaos.reports.render import write_reports

RUNS_ROOT = Path("reports")  # runs go to <root>/runs/, <root>/latest points at the newest


def new_run_dir(out: Path | None, scenario: str, root: Path = RUNS_ROOT) -> Path:
    """`out` (created if needed), else a new `<root>/runs/<stamp>-<scenario>[-n]/` that
    `<root>/latest` then points at."""
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        return out
    runs = root / "runs"
    stamp = time.strftime("%Y%m%d-%H%M%S")
    run_dir = runs / f"{stamp}-{scenario}"
    n = 1
    while run_dir.exists():
        n += 1
        run_dir = runs / f"{stamp}-{scenario}-{n}"
    run_dir.mkdir(parents=True)
    latest = root / "latest"
    try:
        if latest.is_symlink() or latest.exists():
            latest.unlink()
        latest.symlink_to(run_dir.relative_to(root))
    except OSError:
        pass  # a read-only or odd filesystem: the run folder is what matters
    return run_dir


@dataclass
class RunMeta:
    """run.json: what ran, against what, when, and how it ended.

    The same keys as always for each writer: `visdom-chaos run` writes `scenario_file` and
    `observer`; a Locust process (`locust` set) writes `locust_scenario_file` and `locust`.
    `notes`, `workers` and `cleanup_errors` appear once there is something in them.
    """

    scenario: str
    target: dict[str, Any]  # version, variant, url
    duration_s: float | None  # planned
    seed: int
    params: dict[str, Any]  # the load knobs
    started_ns: int = field(default_factory=time.time_ns)
    ended_ns: int | None = None
    server: dict[str, Any] | None = None  # pid, port, log
    proxy: dict[str, Any] | None = None  # api, listen, pid
    status: str = "running"  # running | complete | interrupted | failed
    error: str | None = None
    # `visdom-chaos run`
    scenario_file: str | None = None
    observer: dict[str, Any] | None = None
    # a Locust process
    locust_scenario_file: str | None = None
    locust: dict[str, Any] | None = None  # role, workers (a master)
    # written when not empty
    notes: list[str] = field(default_factory=list)
    workers: list[dict[str, Any]] | None = None  # `run`'s worker processes (WorkerPool.describe)
    cleanup_errors: list[str] = field(default_factory=list)

    @property
    def is_locust(self) -> bool:
        return self.locust is not None

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of run.json, keys in the order each writer has always used."""
        out: dict[str, Any] = {"scenario": self.scenario}
        times = {"started_ns": self.started_ns, "ended_ns": self.ended_ns}
        if self.is_locust:
            out.update(
                locust_scenario_file=self.locust_scenario_file,
                target=self.target,
                duration_s=self.duration_s,
                **times,
                seed=self.seed,
                params=self.params,
            )
        else:
            out.update(
                scenario_file=self.scenario_file,
                target=self.target,
                duration_s=self.duration_s,
                seed=self.seed,
                params=self.params,
                observer=self.observer,
                **times,
            )
        out.update(server=self.server, proxy=self.proxy, status=self.status, error=self.error)
        if self.is_locust:
            out["locust"] = self.locust
        if self.notes:
            out["notes"] = self.notes
        if self.workers is not None:
            out["workers"] = self.workers
        if self.cleanup_errors:
            out["cleanup_errors"] = self.cleanup_errors
        return out


class RunFolder:
    """One process's run folder: run.json, the journals it writes, phases, notes, the report.

    Opening it writes run.json and opens `journal/orchestrator.jsonl` (phases, truth,
    worker events). `journal_meta` goes into the header of every journal handed out
    (a Locust process: which one). Not thread-safe for meta changes; journals are.
    """

    def __init__(self, path: str | os.PathLike[str], meta: RunMeta, **journal_meta: Any) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self.meta = meta
        self.journal_meta = journal_meta
        self._journals: list[JournalWriter | FaultLog] = []
        self.orchestrator = self.journal("orchestrator")
        self.write_meta()

    @classmethod
    def create(
        cls, out: Path | None, meta: RunMeta, root: Path = RUNS_ROOT, **journal_meta: Any
    ) -> RunFolder:
        """`out`, else a new timestamped folder under `<root>/runs/` (see new_run_dir)."""
        return cls(new_run_dir(out, meta.scenario, root), meta, **journal_meta)

    @property
    def journal_dir(self) -> Path:
        return self.path / "journal"

    def journal_path(self, name: str) -> Path:
        """Where journal `name` lives (`clients-w0`: a worker process's, which it opens itself)."""
        return self.journal_dir / f"{name}.jsonl"

    # -- journals ------------------------------------------------------------------------
    def journal(self, name: str, role: str | None = None, **meta: Any) -> JournalWriter:
        """A writer for journal/<name>.jsonl (role: `name` unless given); closed by close()."""
        writer = JournalWriter(
            self.journal_path(name), role or name, **{**self.journal_meta, **meta}
        )
        self._journals.append(writer)
        return writer

    def fault_log(self, name: str = "schedule", **meta: Any) -> FaultLog:
        """The fault journal a schedule run from this process writes (the proxy writes `faults`)."""
        log = FaultLog(self.journal_path(name), **meta)
        self._journals.append(log)
        return log

    def journal_error(self) -> OSError | None:
        """The first write failure of any journal handed out (disk full...)."""
        return next((j.error for j in self._journals if j.error is not None), None)

    def close_journals(self) -> None:
        for j in self._journals:
            j.close()

    # -- bookkeeping ---------------------------------------------------------------------
    def phase(self, name: str, **detail: Any) -> None:
        self.orchestrator.write("phase", "orchestrator", 0, name=name, detail=detail)

    def note(self, text: str) -> None:
        """A line for run.json `notes` (the report carries them); written with the next write_meta()."""
        self.meta.notes.append(text)

    def write_meta(self) -> None:
        atomic_write(self.path / "run.json", json.dumps(self.meta.to_dict(), indent=2, default=str))

    def close(self, status: str, error: str | None = None) -> OSError | None:
        """The end: phase `end`, every journal closed, run.json with status and end time.

        A journal or run.json that could not be written makes the run `failed` with
        "cannot write the run folder: ..." (returned; run.json as far as it can go)."""
        self.phase("end", status=status)
        self.close_journals()
        if error is not None:
            self.meta.error = error
        failure = self.journal_error()
        if failure is not None:
            status = "failed"
            self.meta.error = f"cannot write the run folder: {failure}"
        self.meta.status, self.meta.ended_ns = status, time.time_ns()
        try:
            self.write_meta()
        except OSError as exc:
            failure = failure or exc
            self.meta.error = f"cannot write the run folder: {exc}"
        return failure

    # -- the report ----------------------------------------------------------------------
    def summarize(self, config: Any = None) -> tuple[Any, dict[str, Any], Any]:
        """(Summary, run.json as written, read stats) of this folder's journals; close() first."""
        return summarize_run(self.path, config)

    def assemble(
        self,
        summary: Any,
        meta: dict[str, Any],
        config: Any = None,
        stats: Any = None,
        *,
        browser: bool = True,
    ) -> dict[str, Any]:
        """The report of a summary (this folder's, or merged with other processes'): the sections of
        build_report plus `input`, `server`, `browser` (unless browser=False: a merged summary's
        pages are not this folder's) and `security`, the same for `run` and Locust."""
        return assemble_report(
            self.path, summary, meta, config or config_for(meta), stats, browser=browser
        )

    def write_report(self, report: dict[str, Any], *, plots: bool = True) -> list[Path]:
        return write_reports(self.path, report, plots=plots)

    def report(self, config: Any = None, *, plots: bool = True) -> dict[str, Any]:
        """Analyse the closed folder and write report.json, report.md (and plots, html, junit)."""
        summary, meta, stats = self.summarize(config)
        report = self.assemble(summary, meta, config, stats)
        self.write_report(report, plots=plots)
        return report
