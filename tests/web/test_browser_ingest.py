"""Alerts arriving live and the Integrations page, in real headless Chromium against a real server process."""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from tests.web.conftest import LiveServer
from tests.web.test_browser import SHOTS, _api_token, _login

pytestmark = pytest.mark.browser


def _company(server: LiveServer, name: str) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {_api_token(server)}"}
    r = httpx.post(f"{server.url}/api/companies", headers=headers, timeout=10,
                   json={"name": name, "slug": f"c-{int(time.time() * 1000)}-{uuid.uuid4().hex[:4]}"})
    r.raise_for_status()
    data: dict[str, Any] = r.json()
    return data


async def _no_sideways_scroll(page: Page, what: str) -> None:
    overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{what} scrolls sideways by {overflow}px"


async def test_webhook_alert_appears_live_and_test_alert_from_integrations(browser: Browser,
                                                                          live_server: LiveServer) -> None:
    company = _company(live_server, "Bright Smile Dental")
    page = await _login(browser, live_server)
    await page.goto(f"/alerts?company_id={company['id']}")
    await expect(page.locator("[data-testid=alerts-empty]")).to_contain_text("No alerts yet")
    await expect(page.locator("#live-indicator")).to_have_attribute("data-state", "connected")
    await page.evaluate("window.__notReloaded = true")

    # a monitoring tool (another client) posts to the company's webhook
    r = httpx.post(f"{live_server.url}/api/webhooks/generic", headers={"X-API-Key": company["api_key"]}, timeout=10,
                   json={"asset_name": "pacs-db-01", "signature": "disk_full", "severity": "critical",
                         "message": "Disk /var/lib/postgresql is 98% full on the imaging archive",
                         "tool_source": "zabbix-script", "labels": {"site": "main-street"}})
    assert r.status_code == 202, r.text
    row = page.locator("tr[data-signature=disk_full]")
    await expect(row).to_be_visible()
    await expect(row).to_contain_text("pacs-db-01")
    await expect(row.locator(".sev")).to_have_text("critical")
    await expect(page.locator("#toasts .toast").last).to_contain_text("New critical alert: disk_full")
    assert await page.evaluate("window.__notReloaded") is True
    await page.screenshot(path=f"{SHOTS}/aw-alerts-live.png")

    # filters narrow the list without a reload and put themselves in the address bar
    await page.select_option("#f-severity", "low")
    await expect(page.locator("#alerts-list")).to_contain_text("No alerts match these filters")
    await expect(page).to_have_url(re.compile(r"severity=low"))
    await page.select_option("#f-severity", "critical")
    await expect(row).to_be_visible()
    assert await page.evaluate("window.__notReloaded") is True

    await row.locator("a.alert-sig").click()
    await expect(page.locator("h1")).to_have_text("disk_full")
    await expect(page.locator("[data-testid=alert-labels]")).to_contain_text("main-street")
    await expect(page.locator("[data-testid=raw-body]")).to_contain_text('"asset_name": "pacs-db-01"')
    await page.screenshot(path=f"{SHOTS}/aw-alert-detail.png", full_page=True)

    # the Integrations page: tools, then a guide with the real URL, then a test alert end to end
    await page.goto(f"/companies/{company['id']}")
    await page.click("[data-testid=tab-integrations]")
    await expect(page.locator(".tool-card")).to_have_count(16)
    await expect(page.locator("[data-tool=generic]")).to_contain_text("1 alert")
    await page.screenshot(path=f"{SHOTS}/aw-integrations.png", full_page=True)
    await page.click("[data-tool=alertmanager]")
    await expect(page.locator("[data-testid=webhook-url]")).to_have_text(f"{live_server.url}/api/webhooks/alertmanager")
    await expect(page.locator("[data-testid=guide] .code-block").first).to_be_visible()
    assert company["api_key"] not in await page.content()
    await page.click("[data-testid=send-test-alert]")
    await expect(page.locator("[data-testid=test-result]")).to_contain_text("Test alert stored:")
    await expect(page.locator("[data-testid=test-result]")).to_contain_text("watch it arrive on the Alerts page")
    await expect(page.locator("#toasts .toast").last).to_contain_text(re.compile(r"new (\w+ )?alert", re.I))
    await page.screenshot(path=f"{SHOTS}/aw-integration-guide.png", full_page=True)
    await page.click("[data-testid=test-result] a")
    await expect(page.locator("tr[data-id]").first).to_contain_text("test")
    await page.goto("/")
    await expect(page.locator("[data-testid=recent-alerts]")).to_contain_text("disk_full")
    await page.screenshot(path=f"{SHOTS}/aw-dashboard-alerts.png", full_page=True)
    await page.context.close()


async def test_ingest_pages_at_phone_width(browser: Browser, live_server: LiveServer) -> None:
    company = _company(live_server, "Phone Width Clinic")
    httpx.post(f"{live_server.url}/api/webhooks/generic", headers={"X-API-Key": company["api_key"]}, timeout=10,
               json={"asset_name": "frontdesk-pc-07.clinic.internal", "signature": "antivirus_definitions_outdated",
                     "severity": "medium", "message": "Definitions are 9 days old", "tool_source": "rmm"})
    page = await _login(browser, live_server, width=375)
    for path in (f"/alerts?company_id={company['id']}", f"/companies/{company['id']}/integrations",
                 f"/companies/{company['id']}/integrations/grafana", "/"):
        await page.goto(path)
        await _no_sideways_scroll(page, path)
    await page.goto(f"/alerts?company_id={company['id']}")
    await page.screenshot(path=f"{SHOTS}/aw-phone-alerts.png", full_page=True)
    await page.goto(f"/companies/{company['id']}/integrations")
    await page.screenshot(path=f"{SHOTS}/aw-phone-integrations.png", full_page=True)
    await page.context.close()
