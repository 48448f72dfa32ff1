"""The incidents console in real headless Chromium against a real server process: alerts posted to the webhooks
are correlated into one incident that appears live, opens with its explanation and priority breakdown, and
keeps updating; an unrelated alert opens a second incident that appears without a reload."""

from __future__ import annotations

import json
import re
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, expect

from tests.correlation.replay_data import T0, am, datadog, zabbix
from tests.web.conftest import LiveServer
from tests.web.test_browser import SHOTS, _api_token, _login

pytestmark = pytest.mark.browser


def _now() -> float:
    """Event times for the payload builders: now (they count seconds from their T0)."""
    return (datetime.now(UTC) - T0).total_seconds()


def _setup(server: LiveServer) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {_api_token(server)}"}
    r = httpx.post(f"{server.url}/api/companies", headers=headers, timeout=10,
                   json={"name": "Northwind Clinics", "slug": f"nw-{int(time.time() * 1000)}-{uuid.uuid4().hex[:4]}"})
    r.raise_for_status()
    company: dict[str, Any] = r.json()
    for asset in ({"name": "nw-db-01", "type": "database", "ip": "10.4.0.5", "critical": True},
                  {"name": "nw-app-01", "ip": "10.4.0.10", "depends_on": ["nw-db-01"]}):
        r = httpx.post(f"{server.url}/api/companies/{company['id']}/assets", headers=headers, json=asset, timeout=10)
        assert r.status_code == 201, r.text
    return company


def _send(server: LiveServer, company: dict[str, Any], source: str, body: dict[str, Any]) -> None:
    r = httpx.post(f"{server.url}/api/webhooks/{source}", content=json.dumps(body), timeout=10,
                   headers={"X-API-Key": company["api_key"], "Content-Type": "application/json"})
    assert r.status_code == 202, r.text


async def test_alerts_become_one_explained_incident_live(browser: Browser, live_server: LiveServer) -> None:
    company = _setup(live_server)
    page = await _login(browser, live_server)
    await page.goto(f"/incidents?company_id={company['id']}")
    await expect(page.locator("[data-testid=incidents-empty]")).to_contain_text("No incidents yet")
    await expect(page.locator("#live-indicator")).to_have_attribute("data-state", "connected")
    await page.evaluate("window.__notReloaded = true")

    # two tools report the database's connection problem; the app that depends on it starts failing
    _send(live_server, company, "alertmanager", am("PostgresqlTooManyConnections", "10.4.0.5:9100",
                                                   fingerprint="nw-pg", at=_now()))
    _send(live_server, company, "zabbix", zabbix("Too many connections on PostgreSQL", "NW-DB-01",
                                                 event_id="nw-z1", at=_now()))
    _send(live_server, company, "datadog", datadog("HTTP 5xx error rate high", "nw-app-01", event_id="nw-dd1",
                                                   at=_now()))
    row = page.locator("tr[data-incident]")
    await expect(row).to_have_count(1)
    await expect(row).to_contain_text("root cause nw-db-01")
    await expect(row.locator("td.num strong")).to_have_text("3")  # three alerts, one incident
    await expect(page.locator("[data-testid=incidents-total]")).to_have_text("1")
    assert await page.evaluate("window.__notReloaded") is True
    await page.screenshot(path=f"{SHOTS}/aw-incidents-list.png")

    # open it: why it opened, why each alert joined, the priority breakdown
    await row.locator("a.alert-sig").click()
    await expect(page).to_have_url(re.compile(r"/incidents/[0-9a-f]+$"))
    detail = page.url
    await expect(page.locator("[data-testid=root-cause]")).to_have_text("nw-db-01")
    opened = page.locator("[data-testid=incident-opened]")
    await expect(opened).to_contain_text("New incident: db_connections on nw-db-01")
    reasons = page.locator("[data-testid=join-reason]")
    await expect(reasons).to_have_count(3)
    await expect(reasons.nth(1)).to_contain_text("Joined this incident")  # the same key, from a second tool
    await expect(reasons.nth(1)).to_contain_text("nw-db-01|db_connections")
    await expect(reasons.nth(2)).to_contain_text("nw-app-01 → depends_on → nw-db-01")  # the topology path
    await expect(reasons.nth(2)).to_contain_text("probable root cause nw-db-01")
    entries = page.locator("[data-testid=timeline-entry]")
    await expect(entries.nth(1)).to_contain_text("Same grouping key")
    await expect(entries.nth(2)).to_contain_text("Topology (depends on)")
    breakdown = page.locator("[data-testid=priority-breakdown]")
    for term, points in (("severity", "+90"), ("critical_asset", "+20"), ("multi_tool", "+10")):
        await expect(breakdown.locator(f"tr[data-term={term}]")).to_contain_text(points)
    await expect(page.locator("[data-testid=incident-tools]")).to_contain_text("Datadog")
    await page.screenshot(path=f"{SHOTS}/aw-incident-detail.png", full_page=True)

    # the open incident page follows what correlation does: a repeat shows up in its timeline
    await page.evaluate("window.__notReloaded = true")
    _send(live_server, company, "zabbix", zabbix("Too many connections on PostgreSQL", "NW-DB-01",
                                                 event_id="nw-z1", at=_now()))
    await expect(reasons).to_have_count(4)
    await expect(entries.nth(3)).to_contain_text("repeat")
    assert await page.evaluate("window.__notReloaded") is True

    # back on the list, an unrelated problem opens a second incident that appears without a reload
    await page.goto(f"/incidents?company_id={company['id']}")
    await expect(page.locator("tr[data-incident]")).to_have_count(1)
    await page.evaluate("window.__notReloaded = true")
    _send(live_server, company, "alertmanager", am("TLSCertificateExpiring", "nw-mail-01:443", fingerprint="nw-tls",
                                                   at=_now(), severity="warning"))
    await expect(page.locator("tr[data-incident]")).to_have_count(2)
    await expect(page.locator("tr[data-incident]").nth(1)).to_contain_text("nw-mail-01")
    assert await page.evaluate("window.__notReloaded") is True

    # the dashboard counts and ranks it; both pages fit a phone
    await page.goto("/")
    await expect(page.locator("[data-testid=top-incidents] tr").first).to_contain_text("db connections on nw-db-01")
    await page.screenshot(path=f"{SHOTS}/aw-dashboard-incidents.png", full_page=True)
    await page.set_viewport_size({"width": 375, "height": 800})
    for path in (f"/incidents?company_id={company['id']}", detail):
        await page.goto(path)
        overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{path} scrolls sideways on a phone by {overflow}px"
    await page.screenshot(path=f"{SHOTS}/aw-incident-phone.png", full_page=True)
    await page.context.close()
