"""The security probe against real Visdom targets: stock 0.2.4 shows the findings, patched does not."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO, built_or_skip

from visdom_chaos.netguard import RemoteTargetError
from visdom_chaos.security import (
    CHECKS,
    SECURITY_FILE,
    load_security,
    report_section,
    run_security_probe,
)
from visdom_chaos.security.login import login_starter

pytestmark = pytest.mark.visdom
FAST = ["origin_socket", "origin_vis_socket", "polling_sid_theft"]


def probe(target, run_dir: Path, only: list[str], **kw) -> dict:
    return run_security_probe(
        target.url, run_dir, target.version, target.variant, server_pid=target.pid, only=only, **kw
    )


def test_stock_024_accepts_foreign_origins_and_hands_out_messages_by_sid(
    visdom_factory, tmp_path: Path
) -> None:
    target = visdom_factory("0.2.4", "stock")
    results = probe(target, tmp_path, FAST)
    assert [k for k in CHECKS if k in results] == FAST
    for path in ("origin_socket", "origin_vis_socket"):
        r = results[path]
        assert r["status"] == "vulnerable", r
        assert r["evidence"]["evil_origin"]["handshake_status"] == 101
        assert r["evidence"]["evil_origin"]["first_commands"]  # it even talked to the foreign page
    assert results["origin_socket"]["evidence"]["evil_origin"]["first_commands"][0] == "register"
    theft = results["polling_sid_theft"]
    assert theft["status"] == "vulnerable", theft
    assert theft["evidence"]["b_got_a_window"] is True
    assert theft["evidence"]["messages_left_for_a"] == 0  # B took them: A never sees them
    assert load_security(tmp_path) == results
    section = report_section(results)
    assert section["counts"] == {"vulnerable": 3, "ok": 0, "error": 0}
    assert section["by_check"] == {k: 1 for k in FAST}


def test_patched_024_refuses_foreign_origins(visdom_factory, tmp_path: Path) -> None:
    target = visdom_factory("0.2.4", "patched")
    results = probe(target, tmp_path, ["origin_socket", "origin_vis_socket", "origin_with_login"])
    assert (
        results.pop("origin_with_login")["evidence"]["evil_origin_with_cookie"]["handshake_status"]
        == 403
    )
    for r in results.values():
        assert r["status"] == "ok", r
        assert r["evidence"]["evil_origin"]["handshake_status"] == 403
        assert r["evidence"]["same_origin"]["handshake_status"] == 101


def test_stock_030_refuses_foreign_origins(visdom_factory, tmp_path: Path) -> None:
    target = visdom_factory("0.3.0", "stock")
    results = probe(target, tmp_path, ["origin_socket"])
    assert results["origin_socket"]["status"] == "ok"
    assert results["origin_socket"]["evidence"]["evil_origin"]["handshake_status"] == 403


def test_malformed_and_oversized_messages_do_not_take_024_down(
    visdom_factory, tmp_path: Path
) -> None:
    target = visdom_factory("0.2.4", "stock")
    # 12 MiB: over tornado's 10 MiB WebSocket message limit, small enough for a quick test
    results = probe(
        target, tmp_path, ["malformed_socket", "malformed_socket_wrap"], oversize_mib=12
    )
    for name, r in results.items():
        assert r["status"] == "ok", (name, r)
        payloads = r["evidence"]["payloads"]
        assert set(payloads) == {
            "oversized_12MiB",
            "invalid_json",
            "binary_garbage",
            "deep_nesting",
        }
        for p in payloads.values():
            assert p["server_alive"] is True and p["win_exists"] == "HTTP 200"
            assert p["other_subscriber"] == "update received"
    wrap = results["malformed_socket_wrap"]["evidence"]["payloads"]
    assert wrap["invalid_json"]["reaction"] == "HTTP 500"  # refused loudly, not silently accepted
    assert wrap["oversized_12MiB"]["sent_bytes"] > 12 << 20
    ws = results["malformed_socket"]["evidence"]["payloads"]
    assert all("open" not in p["reaction"] for p in ws.values()), ws  # the server hung up on each


def test_login_target_refuses_every_endpoint_without_the_cookie(tmp_path: Path) -> None:
    built_or_skip("0.2.4")
    started = []
    starter = login_starter("0.2.4", "stock", tmp_path)

    def start_and_keep():
        started.append(starter())
        return started[-1]

    results = run_security_probe(
        "http://127.0.0.1:9",
        tmp_path,
        "0.2.4",
        "stock",
        only=["login_bypass", "origin_with_login", "toolkit_no_credentials"],
        start_login_target=start_and_keep,
    )
    cswsh = results["origin_with_login"]
    assert cswsh["status"] == "vulnerable", (
        cswsh
    )  # ...but a foreign page riding the user's cookie gets in
    assert cswsh["evidence"]["evil_origin_with_cookie"]["first_commands"][0] == "register"
    assert cswsh["evidence"]["cookie"]["user_password"]["samesite"] is None
    r = results["login_bypass"]
    assert r["status"] == "ok", r
    ev = r["evidence"]
    assert ev["with_cookie_control"] == "HTTP 200"
    endpoints = ev["endpoints"]
    for key in (
        "/socket",
        "/vis_socket",
        "GET /socket_wrap",
        "POST /vis_socket_wrap",
        "POST /win_data",
        "GET /env/main",
        "POST /events",
        "POST /update",
    ):
        assert endpoints[key]["answered"] is False, (key, endpoints[key])
    assert endpoints["GET /socket_wrap"]["status"] == 400
    assert endpoints["POST /events"]["wrote"] is False
    # the login twin's HOME (Visdom's cookie secret) was its own, and is gone with it
    (twin,) = started
    assert twin.home is not None and not twin.home.exists()
    assert not twin.home.is_relative_to(tmp_path) and not twin.home.is_relative_to(Path.home())
    # no credential in the run folder: the probe's own check, and this test's own grep
    assert results["toolkit_no_credentials"]["status"] == "ok", results["toolkit_no_credentials"]
    secrets = {s for s in twin.secrets if len(s) >= 8}
    assert len(secrets) >= 4  # password, its digest, the cookie secret, the cookie value
    assert (tmp_path / "security-login" / "server.log").stat().st_size > 0
    for path in tmp_path.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert not [s for s in secrets if s.encode() in data], path


def test_probe_refuses_a_remote_url(tmp_path: Path) -> None:
    with pytest.raises(RemoteTargetError):
        run_security_probe("http://10.255.255.1:8097", tmp_path, "external", "external")
    assert not (tmp_path / SECURITY_FILE).exists()


def test_unknown_check_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown check"):
        run_security_probe("http://127.0.0.1:9", tmp_path, "external", "external", only=["nope"])


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "visdom_chaos.security", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=180,
        stdin=subprocess.DEVNULL,
    )


@pytest.mark.parametrize(
    "args", [["--target", "9.9.9"], ["--only", "nope"], ["--oversize-mib", "0"]]
)
def test_cli_bad_input_is_one_line_exit_2(args: list[str]) -> None:
    proc = _cli(*args)
    assert proc.returncode == 2
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "error" in lines[0], proc.stderr


def test_cli_runs_a_target_and_prints_the_table(tmp_path: Path) -> None:
    built_or_skip("0.2.4")
    proc = _cli("--target", "0.2.4", "--only", "origin_socket", "--out", str(tmp_path))
    assert proc.returncode == 1, proc.stderr  # something is vulnerable
    assert "origin_socket" in proc.stdout and "vulnerable" in proc.stdout
    data = json.loads((tmp_path / SECURITY_FILE).read_text())
    assert data["origin_socket"]["status"] == "vulnerable"
    assert not (tmp_path / "target.json").exists()  # the target was stopped
