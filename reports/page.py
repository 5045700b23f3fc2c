"""report.json's `page` section, from the page probe's `page.json` in a run folder.

`page.json` (visdom_chaos/wire/browser/pageprobe.py writes it): one real Chromium page load
of the UI where the subscribers reach Visdom (through the chaos proxy, under its path
prefix when the scenario mounts one): `url`, `loaded`, `ui` (the navbar rendered), `badge`,
`online` (1: the badge read "online"), `panes`, `sockets` (WebSocket URLs it opened),
`bad_requests` and the first `bad` ones (url, status; 0 = failed), `console_errors` and the
first `errors`, `bad_static` (the bad requests under /static/), `waited_s`. The report
copies it and adds `offline` (1 - online), numbers for gate rules.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlsplit

from visdom_chaos.reports.rundoc import load_run_doc

PAGE_FILE = "page.json"


def load_page(run_dir: str | os.PathLike[str]) -> dict[str, Any] | None:
    return load_run_doc(run_dir, PAGE_FILE)


def page_section(doc: dict[str, Any]) -> dict[str, Any]:
    bad = [b for b in doc.get("bad") or [] if isinstance(b, dict)]
    return {
        **doc,
        "offline": 1 - int(doc.get("online") or 0),
        "bad_static": int(counted)
        if isinstance(counted := doc.get("bad_static"), int)
        else sum(1 for b in bad if "/static/" in urlsplit(str(b.get("url", ""))).path),
        "file": PAGE_FILE,
    }


def page_markdown(section: dict[str, Any], md) -> list[str]:
    """The report.md lines of the page probe."""
    state = "online" if section.get("online") else "**offline**"
    ui = "rendered" if section.get("ui") else "**not rendered**"
    lines = [
        "## Page probe",
        "",
        f"One Chromium page load of {md(section.get('url'))}: UI {ui}, badge {state} "
        f"({md(section.get('badge') or 'absent')}), {section.get('panes', 0)} panes, "
        f"sockets {md(', '.join(section.get('sockets') or []) or 'none')}, "
        f"{section.get('bad_requests', 0)} requests answered >= 400 or failed, "
        f"{section.get('console_errors', 0)} console errors, after {section.get('waited_s')} s.",
        "",
    ]
    for b in (section.get("bad") or [])[:10]:
        url = str(b.get("url", "")).split("?", 1)[0]
        lines.append(f"- {md(url)}: {b.get('status') or md(b.get('failure') or 'failed')}")
    if section.get("bad"):
        lines.append("")
    return lines
