"""Bad input gets a clear one-line error (exit 2) and keeps what can be kept. Real processes."""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from conftest import REPO, built_or_skip

from visdom_chaos.targets import stop_pid, stop_procs

CLI = [sys.executable, "-m", "visdom_chaos"]


def cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*CLI, *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def one_line_error(proc: subprocess.CompletedProcess) -> str:
    """The error: exactly one non-empty stderr line, no traceback."""
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert len(lines) == 1, proc.stderr[-2000:]
    return lines[0]


# -- scenario files ---------------------------------------------------------------------

GOOD_HEAD = 'name = "bad"\ndescription = "a scenario with a mistake"\n'


@pytest.mark.parametrize(
    ("body", "line", "field"),
    [
        ('[run]\nduration = "soon"\n', 5, "run.duration"),
        (
            "[load]\nwebsocket_subscribers = 2\npolling_subscribers = -1\n",
            6,
            "load.polling_subscribers",
        ),
        ("[run]\nduraton = 5\n", 5, "run.duraton"),
        ('[[behaviour]]\naction = "explode"\nclients = "ws-0"\n', 5, "behaviour[0].action"),
    ],
    ids=["wrong-type", "negative", "unknown-field", "unknown-action"],
)
def test_malformed_scenario_names_file_line_and_field(
    tmp_path: Path, body: str, line: int, field: str
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(GOOD_HEAD + "\n" + body)
    proc = cli("run", "--scenario", str(path), "--out", str(tmp_path / "run"), timeout=60)
    assert proc.returncode == 2
    err = one_line_error(proc)
    assert f"{path}:{line}" in err and f"'{field}'" in err, err
    assert not (tmp_path / "run").exists(), "nothing may start before the scenario is valid"


def test_toml_syntax_error_names_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text(GOOD_HEAD + "[run\nduration = 5\n")  # line 3 is broken
    proc = cli("run", "--scenario", str(path), timeout=60)
    assert proc.returncode == 2
    err = one_line_error(proc)
    assert f"{path}:3" in err and "TOML" in err, err


def test_unknown_target_version() -> None:
    proc = cli("run", "--target", "9.9.9", timeout=60)
    assert proc.returncode == 2
    err = one_line_error(proc)
    assert "9.9.9" in err and "0.2.4" in err, err


def test_unknown_scenario_name() -> None:
    proc = cli("run", "--scenario", "no-such-scenario", timeout=60)
    assert proc.returncode == 2
    assert "no-such-scenario" in one_line_error(proc)


# -- ports, dying targets -------------------------------------------------------------------


@pytest.mark.visdom
def test_target_start_on_a_port_in_use(tmp_path: Path) -> None:
    built_or_skip("0.2.4")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        proc = cli(
            "target",
            "start",
            "0.2.4",
            "--port",
            str(port),
            "--run-dir",
            str(tmp_path / "t"),
            timeout=90,
        )
    assert proc.returncode == 2
    err = one_line_error(proc)
    assert f"port {port} is in use" in err, err
    assert not (tmp_path / "t" / "target.json").exists()


def _wait_steady(proc: subprocess.Popen, run_dir: Path, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the run ended before its steady phase"
        orch = run_dir / "journal" / "orchestrator.jsonl"
        if orch.exists() and '"name":"steady"' in orch.read_text().replace(" ", ""):
            return json.loads((run_dir / "run.json").read_text())
        time.sleep(0.2)
    raise AssertionError("no steady phase")


@pytest.mark.visdom
@pytest.mark.slow
def test_target_that_dies_mid_run(tmp_path: Path) -> None:
    """kill -9 of Visdom during the load: the run ends, run.json says it died, the report is written."""
    built_or_skip("0.2.4")
    run_dir = tmp_path / "run"
    proc = subprocess.Popen(
        [*CLI, "run", "--scenario", "polling-order", "--duration", "8", "--out", str(run_dir)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    try:
        meta = _wait_steady(proc, run_dir)
        pid = meta["server"]["pid"]
        time.sleep(1)
        psutil.Process(pid).send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        out, _ = proc.communicate(timeout=120)
        took = time.monotonic() - killed_at
    finally:
        if proc.poll() is None:
            stop_pid(proc.pid, proc)
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["error"] and "died" in meta["error"] and "-9" in meta["error"], meta["error"]
    assert meta["ended_ns"]
    report = json.loads((run_dir / "report.json").read_text())
    assert report
    assert took < 90, f"the run took {took:.0f} s to notice"
    assert b"died" in out
    assert meta["status"] == "failed" and proc.returncode == 1


# -- output folder -------------------------------------------------------------------------


@contextlib.contextmanager
def tmpfs(where: Path, options: str) -> Iterator[Path]:
    """A small tmpfs mounted at `where` (root only); skipped with a reason where not permitted."""
    where.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], capture_output=True, text=True
    )
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


def test_read_only_output_folder(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "ro", "ro,size=1m") as ro:
        proc = cli(
            "run",
            "--scenario",
            "polling-order",
            "--duration",
            "2",
            "--out",
            str(ro / "run"),
            timeout=60,
        )
    assert proc.returncode == 2
    err = one_line_error(proc)
    assert str(ro / "run") in err and "read-only" in err.lower(), err


@pytest.mark.visdom
def test_full_output_folder(tmp_path: Path) -> None:
    built_or_skip("0.2.4")
    with tmpfs(tmp_path / "full", "size=192k") as full:
        proc = cli(
            "run",
            "--scenario",
            "polling-order",
            "--duration",
            "6",
            "--out",
            str(full / "run"),
            timeout=150,
        )
        left = [
            p
            for p in psutil.process_iter(["cmdline"])
            if any(str(full) in a for a in (p.info["cmdline"] or []))
        ]
        described = [" ".join(p.info["cmdline"])[:100] for p in left]
        stop_procs(left, timeout=10)  # the test's own leftovers: stop them before judging
    assert described == [], f"children left behind after a full disk: {described}"
    assert proc.returncode == 2
    assert "No space left" in one_line_error(proc)


# -- journals ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    built_or_skip("0.2.4")
    run_dir = tmp_path_factory.mktemp("finished") / "run"
    proc = cli(
        "run", "--scenario", "polling-order", "--duration", "3", "--out", str(run_dir), timeout=150
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return run_dir


@pytest.mark.visdom
def test_truncated_journal_is_analysed(finished_run: Path) -> None:
    journal = finished_run / "journal" / "clients.jsonl"
    lines = journal.read_bytes().splitlines(keepends=True)
    last = lines[-1]
    journal.write_bytes(b"".join(lines[:-1]) + last[: len(last) // 2])
    (finished_run / "report.json").unlink()
    proc = cli("analyze", str(finished_run), "--no-plots", timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads((finished_run / "report.json").read_text())
    assert report["input"]["torn"] == 1
    assert any("torn" in note for note in report["notes"]), report["notes"]


def test_analyze_a_folder_that_is_not_a_run(tmp_path: Path) -> None:
    proc = cli("analyze", str(tmp_path), timeout=60)
    assert proc.returncode == 2
    assert str(tmp_path) in one_line_error(proc)
