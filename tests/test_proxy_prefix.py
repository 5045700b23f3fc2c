"""Visdom behind a path-prefix reverse proxy (visdom #383, #666, #682, #859), end to end.

Real parts: a real Visdom process, the real chaos proxy in its `path_prefix` mode (what
nginx's `location /visdom/ { proxy_pass http://host:8097/; }` does), a real Chromium page
(the page probe) and the replica subscribers, through the `proxy-prefix` scenario.
Stock: the page asks for /static/... outside the prefix and never renders or goes online,
while the transport (replicas on /visdom/socket) is fine. Patched (0015 / 0012, static URLs
relative to the page): online under the prefix, and still online without a proxy.
"""

from __future__ import annotations

import dataclasses

import pytest

from visdom_chaos.journal import read_journal
from visdom_chaos.matrix import cell_from_report
from visdom_chaos.reports.page import page_section
from visdom_chaos.scenario import ScenarioError, load_scenario, parse_scenario


def test_scenario_mounts_under_the_prefix_and_goes_through_the_proxy():
    sc = load_scenario("proxy-prefix")
    assert sc.path_prefix == "/visdom" and sc.via_proxy and sc.probe == "page"
    assert {"#383", "#666", "#682", "#859"} <= set(sc.visdom_issues)
    for version in ("0.2.4", "0.3.0"):
        assert "page.online == 0" in sc.expectations_for(version, "stock")
        assert "page.online == 1" in sc.expectations_for(version, "patched")
    text = 'name = "x"\ndescription = "d"\n[load]\npath_prefix = "/a/b/"\n'
    assert parse_scenario(text).path_prefix == "/a/b"
    for bad in ('"visdom"', '"/"', '"/a?b"', "3"):
        with pytest.raises(ScenarioError, match="load.path_prefix"):
            parse_scenario(f'name = "x"\ndescription = "d"\n[load]\npath_prefix = {bad}\n')


def test_page_section_and_matrix_cell():
    doc = {"url": "u", "online": 0, "ui": 0, "bad_static": 17, "bad_requests": 18, "bad": []}
    sec = page_section(doc)
    assert sec["offline"] == 1 and sec["bad_static"] == 17
    old = {"online": 0, "bad": [{"url": "http://h/static/a.js?v=1", "status": 404}]}
    assert page_section(old)["bad_static"] == 1  # a page.json without the count
    report = {"findings": {}, "page": sec}
    cell = cell_from_report("proxy-prefix", "0.2.4:stock", "r", "complete", report, [], None)
    assert cell.summary() == "page offline (17 static 404s, no UI)"
    report["page"] = page_section({"online": 1, "ui": 1, "bad_static": 0})
    cell = cell_from_report("proxy-prefix", "0.2.4:patched", "r", "complete", report, [], None)
    assert cell.summary() == "page online"


def run_scenario(version: str, variant: str, tmp_path):
    from conftest import failed_expectations, run_scenario_short

    sc = dataclasses.replace(load_scenario("proxy-prefix"), duration_s=4.0)
    result = run_scenario_short(sc, version, variant, tmp_path, chromium=True)
    _, failed = failed_expectations(sc, version, variant, result)
    assert not failed, f"{failed}; page {result.report.get('page')}"
    return result


@pytest.mark.parametrize("version", ["0.2.4", "0.3.0"])
@pytest.mark.visdom
@pytest.mark.browser
def test_stock_page_is_offline_under_the_prefix_but_the_transport_works(version, tmp_path):
    result = run_scenario(version, "stock", tmp_path)
    page = result.report["page"]
    assert page["ui"] == 0 and page["sockets"] == [] and page["panes"] == 0
    left = [b["url"] for b in page["bad"] if not b["url"].endswith("/visdom/favicon.png")]
    assert left and all("/visdom/" not in u for u in left)  # they left the prefix
    # the proxy answered them (404), never Visdom; what was under the prefix went on stripped
    proxy = [
        r["detail"]
        for r in read_journal(result.run_dir / "journal" / "faults.jsonl")
        if r.get("type") == "fault" and r.get("kind") == "path_prefix"
    ]
    refused = [d["path"] for d in proxy if d.get("status") == 404]
    assert any(p.startswith("/static/js/main.js") for p in refused)
    assert any(d.get("to") == "/socket" for d in proxy)  # the replicas' upgrades
    totals = result.report["totals"]
    assert totals["acked"] > 0 and totals["delivered"] == 3 * totals["acked"]


@pytest.mark.parametrize("version", ["0.2.4", "0.3.0"])
@pytest.mark.visdom
@pytest.mark.browser
def test_patched_page_goes_online_under_the_prefix_and_without_one(version, tmp_path):
    from visdom_chaos.wire.browser.pageprobe import probe_page

    result = run_scenario(version, "patched", tmp_path)
    page = result.report["page"]
    assert page["sockets"] and all("/visdom/socket" in s for s in page["sockets"])
    # nothing left the prefix (0.3.0's own 404 for favicon.png, which no handler serves, aside)
    assert [b for b in page["bad"] if not b["url"].endswith("/visdom/favicon.png")] == []
    # the same patched server without a proxy, on an env page one level down
    from visdom_chaos.targets import build_target, start_built

    target = start_built(build_target(version, "patched"), tmp_path / "direct")
    try:
        import requests

        requests.post(
            target.url + "/events",
            json={"data": [{"content": "x", "type": "text"}], "win": "w", "eid": "main"},
            timeout=10,
        ).raise_for_status()
        direct = probe_page(target.url + "/env/main")
    finally:
        target.stop()
    assert direct["online"] == 1 and direct["bad_static"] == 0, direct
