"""One distribution, one namespace: visdom-chaos installed the way people install a tool.

The slow test installs the checkout with a plain `pip install` (not editable) into a fresh
virtual environment outside the checkout and uses it from another folder: the catalogue,
a run, Locust, the proxy, and no import name but `visdom_chaos`. The fast ones guard the
layout that makes it work: pyproject lists every package folder, and reports/ and patches/
import nothing of the harness.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import tomllib
import venv
from pathlib import Path

import pytest
import requests

REPO = Path(__file__).resolve().parents[1]
GENERIC_NAMES = ("chaos", "reports", "patches", "loadtests")
SUBPACKAGES = (
    "visdom_chaos.chaos",
    "visdom_chaos.reports",
    "visdom_chaos.reports.checkers",
    "visdom_chaos.patches",
    "visdom_chaos.loadtests",
    "visdom_chaos.scenarios",
)


def _setuptools_config() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]


def test_pyproject_lists_every_package_folder():
    """An explicit package list (package-dir needs one) must not miss a new subpackage."""
    cfg = _setuptools_config()
    roots = {"visdom_chaos": "visdom_chaos", **cfg["package-dir"]}
    found = set()
    for name, folder in roots.items():
        for init in (REPO / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(REPO / folder).parts
            if "__pycache__" not in rel:
                found.add(".".join((name, *rel)))
    # a folder both under visdom_chaos/ and mapped would be listed twice: there is none
    assert sorted(found) == sorted(cfg["packages"])
    assert set(SUBPACKAGES) <= found


def _imports(folder: str) -> dict[str, set[str]]:
    out = {}
    for path in sorted((REPO / folder).rglob("*.py")):
        names = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module)
        out[str(path.relative_to(REPO))] = names
    return out


def test_reports_imports_only_the_journal_contract_and_itself():
    allowed = ("visdom_chaos.journal", "visdom_chaos.ids")
    for path, names in _imports("reports").items():
        harness = {
            n
            for n in names
            if n.split(".")[0] == "visdom_chaos"
            and n not in allowed
            and not n.startswith("visdom_chaos.reports")
        }
        assert not harness, f"{path} imports the harness: {sorted(harness)}"
        assert not {n for n in names if n.split(".")[0] in GENERIC_NAMES}, path


def test_chaos_and_patches_import_nothing_of_the_harness():
    # the journal module is the contract every layer may import: chaos/ writes its fault journal with it
    allowed = {"chaos": {"visdom_chaos.journal"}, "patches": set()}
    for folder in ("chaos", "patches"):
        for path, names in _imports(folder).items():
            assert not {
                n
                for n in names
                if n.split(".")[0] in ("visdom_chaos", *GENERIC_NAMES) and n not in allowed[folder]
            }, path


def test_cache_dir_order(monkeypatch, tmp_path):
    from visdom_chaos.targets import build

    monkeypatch.setenv("VISDOM_CHAOS_CACHE", str(tmp_path / "explicit"))
    assert build.cache_dir() == tmp_path / "explicit"
    monkeypatch.delenv("VISDOM_CHAOS_CACHE")
    assert build.checkout_root() == REPO and build.cache_dir() == REPO / ".cache"
    monkeypatch.setattr(build, "checkout_root", lambda: None)  # as installed
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert build.cache_dir() == tmp_path / "xdg" / "visdom-chaos"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert build.cache_dir() == tmp_path / "home" / ".cache" / "visdom-chaos"


# -- the real install ---------------------------------------------------------------------------

IGNORED = {
    ".git",
    ".venv",
    ".cache",
    "build",
    "dist",
    "__pycache__",
    ".pytest_cache",
    ".ruff_cache",
    ".hypothesis",
    "node_modules",
}


def _copy_checkout(dest: Path) -> None:
    """The checkout's files as a fresh clone has them, plus uncommitted work (git ls-files),
    so the build neither writes build/ into the shared checkout nor packs stale files."""
    try:
        names = (
            subprocess.run(
                ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                cwd=REPO,
                capture_output=True,
                check=True,
                timeout=60,
            )
            .stdout.decode()
            .split("\0")
        )
    except (OSError, subprocess.SubprocessError):
        shutil.copytree(
            REPO,
            dest,
            ignore=lambda d, names: [
                n
                for n in names
                if n in IGNORED
                or n.endswith(".egg-info")
                or Path(d, n) == REPO / "reports" / "runs"
            ],
        )
        return
    for name in filter(None, names):
        src = REPO / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)


def _run(
    cmd: list[str], cwd: Path, env: dict[str, str], timeout: float
) -> subprocess.CompletedProcess:
    return subprocess.run(
        cmd,
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def _ok(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 0, (
        f"{proc.args}: exit {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    )
    return proc.stdout


def _echo_server() -> tuple[socket.socket, int]:
    srv = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            with conn:
                while data := conn.recv(65536):
                    conn.sendall(data)

    threading.Thread(target=serve, daemon=True).start()
    return srv, srv.getsockname()[1]


@pytest.mark.slow
@pytest.mark.visdom
@pytest.mark.timeout(480)
def test_pip_install_outside_the_checkout(tmp_path_factory, visdom_factory):
    from conftest import built_or_skip

    built_or_skip("0.2.4")  # the run below uses the suite's cache, never builds Visdom itself
    t0 = time.monotonic()
    base = tmp_path_factory.mktemp("install")
    assert REPO not in base.parents
    src, env_dir, work = base / "src", base / "venv", base / "work"
    work.mkdir()
    _copy_checkout(src)
    venv.create(env_dir, with_pip=True)
    bindir = env_dir / "bin"
    env = {
        k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")
    }
    env.update(
        PATH=f"{bindir}{os.pathsep}{env.get('PATH', '')}",
        PYTHONUNBUFFERED="1",
        VISDOM_CHAOS_CACHE=os.environ["VISDOM_CHAOS_CACHE"],
        COLUMNS="200",
    )
    py = str(bindir / "python")

    # pip install <checkout>: pip builds the wheel from the tree (in the copy) and installs it
    _ok(_run([py, "-m", "pip", "install", "-q", str(src)], work, env, 300))
    dist_info = next((env_dir / "lib").glob("python*/site-packages/visdom_chaos-*.dist-info"))
    site = dist_info.parent
    assert (dist_info / "top_level.txt").read_text().split() == ["visdom_chaos"]
    record = [
        line.rsplit(",", 2) for line in (dist_info / "RECORD").read_text().splitlines() if line
    ]
    names = [n for n, _, _ in record if "__pycache__" not in n]
    tops = {n.split("/")[0] for n in names if not n.startswith("../")}
    assert tops == {"visdom_chaos", dist_info.name}, sorted(tops)
    for data in (
        "visdom_chaos/scenarios/mixed.toml",
        "visdom_chaos/scenarios/README.md",
        "visdom_chaos/loadtests/visdom_users.py",
        "visdom_chaos/loadtests/shapes.py",
        "visdom_chaos/patches/0.2.4/series",
        "visdom_chaos/patches/0.3.0/series",
        "visdom_chaos/patches/README.md",
        "visdom_chaos/patches/PROTOCOL.md",
        "visdom_chaos/reports/README.md",
        "visdom_chaos/reports/SCHEMA.md",
        "visdom_chaos/reports/rules/ci-stock.rules",
        "visdom_chaos/reports/baselines/0.2.4-stock-mixed.json",
        "visdom_chaos/reports/checkers/wire.py",
        "visdom_chaos/chaos/__main__.py",
        "visdom_chaos/JOURNAL.md",
    ):
        assert data in names, data
    shipped = {n.removeprefix("visdom_chaos/") for n in names}
    for folder, pattern in (
        ("patches", "*/*.patch"),
        ("scenarios", "*.toml"),
        ("loadtests", "*.py"),
    ):
        files = {f"{folder}/{p.relative_to(src / folder)}" for p in (src / folder).glob(pattern)}
        assert files and files <= shipped, sorted(files - shipped)
    size_kib = (
        sum(int(size or 0) for name, _hash, size in record if "__pycache__" not in name) / 1024
    )
    installed = time.monotonic() - t0

    # nothing but visdom_chaos is importable from the install, from a folder of its own
    for name in GENERIC_NAMES:
        proc = _run([py, "-c", f"import {name}"], work, env, 60)
        assert (
            proc.returncode == 1 and f"ModuleNotFoundError: No module named '{name}'" in proc.stderr
        ), name
    code = (
        "import json, " + ", ".join(SUBPACKAGES) + "; "
        "print(json.dumps({m: __import__('sys').modules[m].__file__ for m in "
        + repr(SUBPACKAGES)
        + "}))"
    )
    files = json.loads(_ok(_run([py, "-c", code], work, env, 60)))
    assert all(Path(f).is_relative_to(site / "visdom_chaos") for f in files.values()), files
    # the user's cache folder, when no VISDOM_CHAOS_CACHE and no checkout
    cache_env = {k: v for k, v in env.items() if k != "VISDOM_CHAOS_CACHE"}
    cache_env.update(XDG_CACHE_HOME=str(base / "xdg"))
    where = _ok(
        _run(
            [py, "-c", "from visdom_chaos.targets import cache_dir; print(cache_dir())"],
            work,
            cache_env,
            60,
        )
    )
    assert where.strip() == str(base / "xdg" / "visdom-chaos")

    # the catalogue
    out = _ok(_run(["visdom-chaos", "scenarios"], work, env, 60))
    for name in sorted(p.stem for p in (src / "scenarios").glob("*.toml")):
        assert name in out, name

    # a run, its report in ./reports/runs/ of the current folder
    proc = _run(["visdom-chaos", "run", "--duration", "10"], work, env, 240)
    _ok(proc)
    (run_dir,) = (work / "reports" / "runs").iterdir()
    report = json.loads((run_dir / "report.json").read_text())
    assert report["scenario"] == "mixed" and report["totals"]["acked"] > 0
    assert (run_dir / "report.md").exists() and (work / "reports" / "latest").exists()
    ran = time.monotonic() - t0 - installed

    # baselines: written to ./reports/baselines/, found by name there, then among the shipped ones
    _ok(_run(["visdom-chaos", "baseline", str(run_dir), "mine"], work, env, 60))
    assert (work / "reports" / "baselines" / "mine.json").exists()
    for name in ("mine", "0.2.4-stock-mixed"):
        proc = _run(["visdom-chaos", "gate", str(run_dir), "--baseline", name], work, env, 60)
        assert proc.returncode in (0, 1, 3), (
            f"--baseline {name}: {proc.stdout[-2000:]}{proc.stderr[-2000:]}"
        )

    # Locust, with the installed Locust files
    folder = _ok(_run(["visdom-chaos", "locustfile"], work, env, 60)).strip()
    assert Path(folder) == site / "visdom_chaos" / "loadtests"
    assert "TrainingUser" in _ok(_run(["visdom-chaos", "locust", "--list"], work, env, 90))
    assert "--locustfile" in _ok(_run(["visdom-chaos", "locust", "--help"], work, env, 90))
    target = visdom_factory("0.2.4")
    proc = _run(
        [
            "visdom-chaos",
            "locust",
            "--host",
            target.url,
            "--headless",
            "-u",
            "3",
            "-r",
            "3",
            "-t",
            "3s",
            "--stop-timeout",
            "10",
            "--vc-out",
            str(work / "locust-run"),
            "--vc-settle-s",
            "0",
            "--vc-stale-bound-ms",
            "30000",
            "--only-summary",
        ],
        work,
        env,
        150,
    )
    _ok(proc)
    assert json.loads((work / "locust-run" / "report.json").read_text())["totals"]["acked"] > 0

    # the proxy: Toxiproxy-compatible API, a proxied byte stream, SIGTERM ends it with 0
    echo, echo_port = _echo_server()
    ready = base / "proxy.json"
    proxy = subprocess.Popen(
        [
            "visdom-chaos",
            "proxy",
            "serve",
            "--api",
            "127.0.0.1:0",
            "--ready-file",
            str(ready),
            "--quiet",
        ],
        cwd=work,
        env=env,
        stdin=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while not ready.exists() and proxy.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert ready.exists(), (
            proxy.stderr.read().decode() if proxy.poll() is not None else "no ready file"
        )
        api = f"http://{json.loads(ready.read_text())['api']}"
        assert requests.get(f"{api}/version", timeout=5).status_code == 200
        made = requests.post(
            f"{api}/proxies",
            json={"name": "echo", "listen": "127.0.0.1:0", "upstream": f"127.0.0.1:{echo_port}"},
            timeout=5,
        )
        assert made.status_code == 201, made.text
        host, port = made.json()["listen"].rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=5) as s:
            s.sendall(b"through the proxy")
            assert s.recv(100) == b"through the proxy"
        assert list(requests.get(f"{api}/proxies", timeout=5).json()) == ["echo"]
    finally:
        proxy.send_signal(signal.SIGTERM)
        code = proxy.wait(15)
        echo.close()
    assert code == 0
    assert "usage: python -m visdom_chaos.chaos" in _ok(
        _run([py, "-m", "visdom_chaos.chaos", "--help"], work, env, 60)
    )

    print(
        f"\ninstall {installed:.0f} s, run {ran:.0f} s, total {time.monotonic() - t0:.0f} s; "
        f"{len(names)} files installed (not counting .pyc), {size_kib:.0f} KiB"
    )
