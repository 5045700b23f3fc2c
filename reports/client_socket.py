"""report.json's `client_socket` section, from the client-socket probe's `client_socket.json`.

`client_socket.json` (visdom_chaos/wire/clientsocket.py writes it): the real Python client's
event socket through the chaos proxy, frozen (half-open) and then let through again on new
connections (visdom #796, #450). Numbers for gate rules: `noticed` (1: the client saw its
link die: socket_alive went False or it logged an error), `noticed_after_s` (from the cut),
`reconnected`, `resumed` (1: callbacks for events sent after the heal arrived),
`resumed_after_heal_s`, `callbacks_before`/`sent_before`, `callbacks_after_heal`/
`sent_after_heal`, `fault` (`half_open`, or `restart`: the Visdom process stopped and
started again on the same port, visdom #497). The report adds `hung` (1 - resumed).
"""

from __future__ import annotations

import os
from typing import Any

from visdom_chaos.reports.rundoc import load_run_doc

CLIENT_SOCKET_FILE = "client_socket.json"


def load_client_socket(run_dir: str | os.PathLike[str]) -> dict[str, Any] | None:
    return load_run_doc(run_dir, CLIENT_SOCKET_FILE)


def client_socket_section(doc: dict[str, Any]) -> dict[str, Any]:
    return {**doc, "hung": 1 - int(doc.get("resumed") or 0), "file": CLIENT_SOCKET_FILE}


def client_socket_markdown(section: dict[str, Any]) -> list[str]:
    """The report.md lines of the client-socket probe."""
    t = section.get("timing") or {}
    noticed = (
        f"noticed after {section.get('noticed_after_s')} s"
        if section.get("noticed")
        else "**never noticed**"
    )
    resumed = (
        f"callbacks resumed {section.get('resumed_after_heal_s')} s after the heal "
        f"({section.get('callbacks_after_heal')}/{section.get('sent_after_heal')})"
        if section.get("resumed")
        else f"**no callback after the heal** (0/{section.get('sent_after_heal')})"
    )
    fault = (
        f"the Visdom process restarted on the same port (back after {section.get('heal_s')} s)"
        if section.get("fault") == "restart"
        else f"frozen for {t.get('outage_s')} s (then new links pass, the old one stays dead)"
    )
    return [
        "## Client socket probe",
        "",
        f"The real Python client's /vis_socket, {fault}: the client {noticed}, "
        f"{'reconnected' if section.get('reconnected') else 'did not reconnect'}; {resumed}. "
        f"Before the cut: {section.get('callbacks_before')}/{section.get('sent_before')} "
        "callbacks.",
        "",
    ]
