"""The security probe: every check against one running target, written to `security.json`.

`security.json` maps check name -> {"title", "status": "vulnerable"|"ok"|"error", "evidence"}.
`report_section()` (visdom_chaos.reports.security, re-exported here) condenses it for
report.json's `security` section.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from visdom_chaos.journal import atomic_write
from visdom_chaos.netguard import check_url
from visdom_chaos.reports.security import SECURITY_FILE, load_security, report_section
from visdom_chaos.security.checks import check_origin, check_sid_theft
from visdom_chaos.security.common import Finding
from visdom_chaos.security.login import LoginTarget, check_login, login_starter
from visdom_chaos.security.malformed import DEFAULT_OVERSIZE_MIB, check_malformed
from visdom_chaos.security.toolkit import (
    TOOLKIT_CHECKS,
    api_steps,
    check_locust_web_ui,
    check_no_credentials,
    control_api,
)
from visdom_chaos.targets import VERSIONS

__all__ = ["CHECKS", "SECURITY_FILE", "load_security", "report_section", "run_security_probe"]

# check name -> what it asks (the order of the table)
CHECKS = {
    "origin_socket": "cross-origin handshake on /socket",
    "origin_vis_socket": "cross-origin handshake on /vis_socket",
    "login_bypass": "endpoints answering without the login cookie",
    "origin_with_login": "cross-origin handshake carrying the login cookie",
    "polling_sid_theft": "one client's polling sid reads another's messages",
    "malformed_socket": "malformed/oversized messages on /socket",
    "malformed_vis_socket": "malformed/oversized messages on /vis_socket",
    "malformed_socket_wrap": "malformed/oversized bodies on /socket_wrap",
    **TOOLKIT_CHECKS,  # the toolkit's own surfaces, beside Visdom's
}
VISDOM_CHECKS = [k for k in CHECKS if k not in TOOLKIT_CHECKS]


def surface(check: str) -> str:
    """Whose surface a check judges: "toolkit" (ours) or "visdom" (the target's)."""
    return "toolkit" if check in TOOLKIT_CHECKS else "visdom"


def run_security_probe(
    target_url: str,
    run_dir: str | os.PathLike[str],
    version: str,
    variant: str,
    *,
    start_login_target: Callable[[], LoginTarget] | None = None,
    server_pid: int | None = None,
    oversize_mib: int = DEFAULT_OVERSIZE_MIB,
    only: list[str] | None = None,
    progress: Callable[[str], None] | None = None,
    proxy_api: str | None = None,
) -> dict[str, dict[str, Any]]:
    """Run the checks (or `only` those) and write run_dir/security.json; returns its content.

    The login check needs a second server started with -enable_login: pass
    `start_login_target`, or leave it None for a built version (one is made from
    version/variant). For an external URL with no starter the check is left out.

    The toolkit's own checks probe `proxy_api` (a running control API, loopback only) or a
    fresh one started here; `toolkit_no_credentials` (only with a login step) greps run_dir
    for the login twin's credentials after every other check has written its evidence.
    """
    base = check_url(target_url)
    unknown = set(only or []) - set(CHECKS)
    if unknown:
        raise ValueError(
            f"unknown check(s) {', '.join(sorted(unknown))}; known: {', '.join(CHECKS)}"
        )
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    if start_login_target is None and version in VERSIONS:
        start_login_target = login_starter(version, variant, run_dir)
    # step -> (the checks it answers, how), in this order; the login step (only with a starter)
    # answers two checks with one server
    steps: dict[str, tuple[tuple[str, ...], Callable[[], Finding | dict[str, Finding]]]] = {
        "origin_socket": (("origin_socket",), lambda: check_origin(base, "/socket")),
        "origin_vis_socket": (("origin_vis_socket",), lambda: check_origin(base, "/vis_socket")),
    }
    logins: list[LoginTarget] = []  # what the login step started: its secrets are grepped for
    if start_login_target is not None:
        starter = start_login_target

        def start_and_keep() -> LoginTarget:
            logins.append(starter())
            return logins[-1]

        steps["login"] = (
            ("login_bypass", "origin_with_login"),
            lambda: check_login(start_and_keep),
        )
    steps |= {
        "polling_sid_theft": (("polling_sid_theft",), lambda: check_sid_theft(base)),
        "malformed_socket": (
            ("malformed_socket",),
            lambda: check_malformed(base, "/socket", server_pid, oversize_mib),
        ),
        "malformed_vis_socket": (
            ("malformed_vis_socket",),
            lambda: check_malformed(base, "/vis_socket", server_pid, oversize_mib),
        ),
        "malformed_socket_wrap": (
            ("malformed_socket_wrap",),
            lambda: check_malformed(base, "/socket_wrap", server_pid, oversize_mib),
        ),
    }
    with ExitStack() as stack:
        api: list[str] = []

        def api_url() -> str:  # started on first use, stopped when the probe ends
            if not api:
                api.append(stack.enter_context(control_api(proxy_api)))
            return api[0]

        for name, check in api_steps(api_url).items():
            steps[name] = ((name,), check)
        steps["toolkit_locust_web_ui"] = (("toolkit_locust_web_ui",), check_locust_web_ui)
        if start_login_target is not None:
            steps["toolkit_no_credentials"] = (
                ("toolkit_no_credentials",),
                lambda: check_no_credentials(run_dir, [s for t in logins for s in t.secrets]),
            )
        return _run_steps(steps, run_dir, only, progress)


def _run_steps(
    steps: dict[str, tuple[tuple[str, ...], Callable[[], Finding | dict[str, Finding]]]],
    run_dir: Path,
    only: list[str] | None,
    progress: Callable[[str], None] | None,
) -> dict[str, dict[str, Any]]:
    results: dict[str, dict[str, Any]] = {}
    for step, (answers, fn) in steps.items():
        wanted = [n for n in answers if not only or n in only]
        if not wanted:
            continue
        if progress:
            progress(step)
        t0 = time.monotonic()
        try:
            out = fn()
            found = out if isinstance(out, dict) else {answers[0]: out}
        except Exception as exc:  # noqa: BLE001 - one broken check must not hide the others
            found = {
                n: Finding(CHECKS[n], "error", {"why": f"{type(exc).__name__}: {exc}"[:300]})
                for n in answers
            }
        for name in wanted:
            finding = found[name]
            finding.evidence["seconds"] = round(time.monotonic() - t0, 2)
            results[name] = finding.to_json() | {"surface": surface(name)}
        _write(run_dir, results)  # partial results survive an interrupt
    return results


def _write(run_dir: Path, results: dict[str, dict[str, Any]]) -> None:
    atomic_write(run_dir / SECURITY_FILE, json.dumps(results, indent=2))
