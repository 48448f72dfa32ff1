"""A technician works an incident in real headless Chromium against a real server process: it is assigned to them
(by an admin over the API) while their incident page is open and the page shows it live, then they acknowledge and
resolve it with the page's buttons; the SLA countdown is on the page."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, expect

from tests.correlation.replay_data import am
from tests.web.conftest import LiveServer
from tests.web.test_browser import SHOTS, _api_token
from tests.web.test_browser_incidents import _now

pytestmark = pytest.mark.browser
TECH_PASSWORD = "Night-Shift-Runbook-77"


def _api(server: LiveServer, method: str, path: str, token: str, **kwargs: Any) -> httpx.Response:
    return httpx.request(method, f"{server.url}{path}", headers={"Authorization": f"Bearer {token}"}, timeout=10,
                         **kwargs)


def _setup(server: LiveServer) -> tuple[str, dict[str, Any], str]:
    """A company with an open incident, and a technician of it whose skill the incident does not need (so the
    platform's automatic assignment leaves it to the admin). Returns (admin token, incident, technician email)."""
    token = _api_token(server)
    tag = f"{int(time.time() * 1000)}-{uuid.uuid4().hex[:4]}"
    r = _api(server, "POST", "/api/companies", token, json={"name": "Contoso Night Shift", "slug": f"cn-{tag}"})
    r.raise_for_status()
    company = r.json()
    email = f"nina-{tag}@msp-browser.example"
    r = _api(server, "POST", "/api/users", token, json={
        "email": email, "name": "Nina Nightshift", "role": "technician", "password": TECH_PASSWORD,
        "company_ids": [company["id"]], "category": "Security", "skills": ["Security"]})
    assert r.status_code == 201, r.text
    body = am("DiskFull", f"cn-files-{tag}:9100", fingerprint=f"cn-{tag}", at=_now())
    r = httpx.post(f"{server.url}/api/webhooks/alertmanager", content=json.dumps(body), timeout=10,
                   headers={"X-API-Key": company["api_key"], "Content-Type": "application/json"})
    assert r.status_code == 202, r.text
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        found = _api(server, "GET", "/api/incidents", token, params={"company": company["id"]}).json()
        if found and found[0].get("response_due_at"):  # the lifecycle job ran: SLA deadlines are set
            return token, found[0], email
        time.sleep(0.2)
    raise AssertionError("the alert did not become an incident with SLA deadlines")


async def test_technician_gets_an_assignment_live_then_acknowledges_and_resolves(
        browser: Browser, live_server: LiveServer) -> None:
    token, incident, email = _setup(live_server)
    iid = incident["id"]
    context = await browser.new_context(viewport={"width": 1366, "height": 900}, base_url=live_server.url)
    page = await context.new_page()
    page.set_default_timeout(10_000)
    await page.goto(f"/incidents/{iid}")
    await page.fill("#email", email)
    await page.fill("#password", TECH_PASSWORD)
    await page.click("button[type=submit]")
    await expect(page.locator("[data-testid=incident-status]")).to_have_text("New")
    await expect(page.locator("#live-indicator")).to_have_attribute("data-state", "connected")
    await page.evaluate("window.__notReloaded = true")

    # an admin assigns it to the technician: the open page and the bell show it without a reload
    people = _api(live_server, "GET", f"/api/incidents/{iid}/assignees", token).json()
    nina = next(p["id"] for p in people if p["email"] == email)
    r = _api(live_server, "POST", f"/api/incidents/{iid}/assign", token, json={"user_id": nina})
    assert r.status_code == 200, r.text
    await expect(page.locator("[data-testid=assignee-name]")).to_have_text("Nina Nightshift")
    await expect(page.locator("[data-testid=timeline-event][data-kind=assignment]").filter(
        has_text="Assigned to Nina Nightshift")).to_have_count(1)
    await expect(page.locator("#bell [data-bell-count]")).to_have_text("1")
    assert await page.evaluate("window.__notReloaded") is True
    await expect(page.locator("[data-testid=sla-countdown]").first).to_be_visible()
    await page.screenshot(path=f"{SHOTS}/aw-incident-assigned.png", full_page=True)

    # acknowledge, then resolve with a note, with the buttons
    await page.click("[data-testid=action-acknowledge]")
    await expect(page.locator("[data-testid=incident-status]")).to_have_text("Acknowledged")
    await expect(page.locator("[data-testid=action-acknowledge]")).to_have_count(0)
    await page.click("[data-testid=action-resolve-open]")
    await page.fill("#resolve-note", "Cleared old backups from /srv/files")
    await page.click("[data-testid=action-resolve]")
    await expect(page.locator("[data-testid=incident-status]")).to_have_text("Resolved")
    await expect(page.locator("[data-testid=event-body]").last).to_have_text("Cleared old backups from /srv/files")
    await expect(page.locator("[data-testid=action-reopen]")).to_be_visible()
    assert await page.evaluate("window.__notReloaded") is True  # HTMX swaps, no full reloads
    await page.screenshot(path=f"{SHOTS}/aw-incident-resolved.png", full_page=True)

    final = _api(live_server, "GET", f"/api/incidents/{iid}", token).json()
    assert final["status"] == "resolved" and final["resolution_kind"] == "manual"
    assert final["acknowledged_at"] is not None and final["assignee"]["email"] == email

    # it is in their "My incidents" only while open
    await page.goto("/incidents?mine=1&status=open")
    await expect(page.locator("h1")).to_have_text("My incidents")
    await expect(page.locator(f"tr[data-id='{iid}']")).to_have_count(0)
    await page.goto("/incidents?mine=1")
    await expect(page.locator(f"tr[data-id='{iid}']")).to_have_count(1)
    await context.close()
