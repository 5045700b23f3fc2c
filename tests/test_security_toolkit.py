"""The security probe on the toolkit's own surfaces: each check can fail, and passes on ours.

Ground truth both ways: against the real control API (guarded) every check is "ok";
against the same server with its guard switched off every API check is "vulnerable",
and a secret planted in a run folder is found (by file, never quoted).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from visdom_chaos.chaos import ChaosServer
from visdom_chaos.security import run_security_probe
from visdom_chaos.security.toolkit import TOOLKIT_CHECKS, check_no_credentials, scan_for_secrets

API_CHECKS = [k for k in TOOLKIT_CHECKS if k.startswith("toolkit_api_")]
NO_TARGET = "http://127.0.0.1:9"  # the toolkit's checks never touch the target


def _probe(tmp_path: Path, **kw) -> dict:
    return run_security_probe(
        NO_TARGET,
        tmp_path,
        "external",
        "external",
        only=[*API_CHECKS, "toolkit_locust_web_ui"],
        **kw,
    )


def test_the_toolkits_own_checks_pass_on_a_fresh_api(tmp_path):
    results = _probe(tmp_path)
    assert list(results) == [*API_CHECKS, "toolkit_locust_web_ui"]
    for name, r in results.items():
        assert r["status"] == "ok", (name, r)
        assert r["surface"] == "toolkit"
    assert results["toolkit_api_cross_site"]["evidence"]["status"] == 403
    assert results["toolkit_api_content_type"]["evidence"]["status"] == 415


def test_an_unguarded_api_is_found_vulnerable_and_left_as_found(tmp_path, monkeypatch):
    import visdom_chaos.chaos.api as api

    monkeypatch.setattr(api, "refusal", lambda *_: None)  # the guard off: the API before issue 20
    with ChaosServer("127.0.0.1:0") as srv:
        results = _probe(tmp_path, proxy_api=srv.api_url)
        assert srv.proxies() == {}  # the probe deleted what it managed to create
    for name in API_CHECKS:
        assert results[name]["status"] == "vulnerable", (name, results[name])


def test_a_dead_api_gives_no_verdict(tmp_path):
    from visdom_chaos.netguard import free_port

    results = _probe(tmp_path, proxy_api=f"http://127.0.0.1:{free_port()}")
    assert {results[n]["status"] for n in API_CHECKS} == {"error"}


def test_a_running_api_is_probed_as_it_runs(tmp_path):
    with ChaosServer("127.0.0.1:0") as srv:
        results = _probe(tmp_path, proxy_api=srv.api_url)
        assert srv.guard.refused >= len(API_CHECKS)  # the requests reached *this* server
    assert all(results[n]["status"] == "ok" for n in API_CHECKS)


def test_a_planted_credential_is_found_by_file_and_never_quoted(tmp_path):
    secret = "hunter2-" + "x" * 16
    (tmp_path / "journal").mkdir()
    (tmp_path / "journal" / "clients.jsonl").write_text(json.dumps({"cookie": secret}) + "\n")
    (tmp_path / "server.log").write_text("clean\n")
    assert scan_for_secrets(tmp_path, [secret, "short"]) == ["journal/clients.jsonl"]
    f = check_no_credentials(tmp_path, [secret])
    assert f.status == "vulnerable" and "journal/clients.jsonl" in f.evidence["why"]
    assert secret not in json.dumps(f.to_json())
    (tmp_path / "journal" / "clients.jsonl").write_text("{}\n")
    assert check_no_credentials(tmp_path, [secret]).status == "ok"
    assert check_no_credentials(tmp_path, []).status == "error"  # nothing to look for


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "visdom_chaos.security", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def test_cli_lists_the_toolkits_checks_without_starting_visdom(tmp_path):
    only = ",".join([*API_CHECKS, "toolkit_locust_web_ui"])
    proc = _cli("--only", only, "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("toolkit") >= len(API_CHECKS) + 1
    assert not (tmp_path / "out" / "target.json").exists()  # no Visdom was started
    assert not (tmp_path / "out" / "server.log").exists()


def test_cli_refuses_a_remote_proxy_api(tmp_path):
    proc = _cli("--only", "toolkit_api_rebinding", "--proxy-api", "http://10.255.255.1:8474",
                cwd=tmp_path)  # fmt: skip
    assert proc.returncode == 2 and "loopback" in proc.stderr.lower()
