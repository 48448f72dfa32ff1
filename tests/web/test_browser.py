"""The console in real headless Chromium against a real server process (Playwright, async API)."""

from __future__ import annotations

import re
import time

import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from tests.web.conftest import LiveServer

pytestmark = pytest.mark.browser


SHOTS = "/tmp"  # noqa: S108 - screenshots for a human to look at
KEY_RE = re.compile(r"^aw_[A-Za-z0-9_\-]{20,}$")


async def _login(browser: Browser, server: LiveServer, *, width: int = 1366) -> Page:
    context = await browser.new_context(viewport={"width": width, "height": 900}, base_url=server.url)
    page = await context.new_page()
    page.set_default_timeout(10_000)
    await page.goto("/companies")
    await expect(page).to_have_url(re.compile(r"/login\?next=/companies$"))
    await page.fill("#email", server.email)
    await page.fill("#password", server.password)
    await page.click("button[type=submit]")
    await expect(page).to_have_url(re.compile(r"/companies$"))
    return page


def _api_token(server: LiveServer) -> str:
    r = httpx.post(f"{server.url}/api/auth/login", json={"email": server.email, "password": server.password},
                   timeout=10)
    r.raise_for_status()
    token: str = r.json()["access_token"]
    return token


async def test_admin_sets_up_a_company_assets_and_a_technician(browser: Browser, live_server: LiveServer) -> None:
    page = await _login(browser, live_server)
    await expect(page.locator("#live-indicator")).to_have_attribute("data-state", "connected")
    await expect(page.locator("#live-indicator")).to_contain_text("Live")

    # create a company: the key is shown once, with a copy button and a warning
    await page.click("[data-testid=new-company]")
    await page.fill("#f-name", "Initech Holdings")
    await page.fill("#f-slug", "initech")
    await page.fill("#f-timezone", "Europe/Berlin")
    await page.click("button:has-text('Create company')")
    reveal = page.locator("[data-testid=api-key-once]")
    await expect(reveal).to_contain_text("you will not see it again")
    key = (await page.locator("#api-key-value").inner_text()).strip()
    assert KEY_RE.match(key)
    await expect(reveal.locator("button[data-copy]")).to_be_visible()
    await page.screenshot(path=f"{SHOTS}/aw-company-created.png", full_page=True)
    assert re.search(r"/companies/[0-9a-f]+$", page.url)  # the address bar points at the company
    await page.reload()
    await expect(page.locator("h1")).to_have_text("Initech Holdings")
    await expect(page.locator("[data-testid=api-key-once]")).to_have_count(0)
    assert key not in await page.content()
    await expect(page.locator("[data-testid=api-key-prefix]")).to_contain_text(key[:11])

    # a settings error is shown inline next to its field
    await page.fill("#f-timezone", "Mars/Olympus")
    await page.click("button:has-text('Save settings')")
    await expect(page.locator("#timezone-error")).to_contain_text("Unknown timezone")

    # two assets, the second depending on the first
    await page.click("a:has-text('Assets')  >> nth=-1")
    await expect(page.locator(".empty h3")).to_have_text("No assets yet")
    await page.click("#new-asset summary")
    await page.fill("#f-name", "initech-db-01")
    await page.select_option("#f-type", "database")
    await page.fill("#f-ip", "10.9.0.5")
    await page.click("button:has-text('Add asset')")
    await expect(page.locator(".flash")).to_contain_text("Asset initech-db-01 created")
    await page.click("#new-asset summary")
    await page.fill("#f-name", "initech-app-01")
    await page.fill("#f-tags", "env=prod")
    await page.check("input[name=depends_on][value=initech-db-01]")
    await page.click("button:has-text('Add asset')")
    row = page.locator("tr[data-asset=initech-app-01]")
    await expect(row).to_contain_text("initech-db-01")
    await expect(row).to_contain_text("env=prod")

    # a cycle is refused inline
    await page.click("tr[data-asset=initech-db-01] a.row-link")
    await page.check("input[name=depends_on][value=initech-app-01]")
    await page.click("button:has-text('Save changes')")
    await expect(page.locator("#depends_on-error")).to_contain_text(
        "Dependency cycle: initech-db-01 -> initech-app-01 -> initech-db-01")

    # a technician with a generated initial password, shown once
    await page.goto("/users/new")
    await page.fill("#f-name", "Tina Technician")
    await page.fill("#f-email", "tina@msp-browser.example")
    await page.fill("#f-category", "Database")
    await page.fill("#f-skills", "PostgreSQL, Linux")
    await page.check("input[name=company_ids] >> nth=0")
    await page.click("button:has-text('Create user')")
    await expect(page.locator("[data-testid=initial-password]")).to_contain_text("you will not see it again")
    await page.goto("/users?role=technician")
    await expect(page.locator("tr[data-user='tina@msp-browser.example']")).to_contain_text("PostgreSQL")

    # the audit log shows what happened
    await page.goto("/audit")
    table = page.locator("[data-testid=audit-table]")
    for action in ("company.created", "asset.created", "user.created", "auth.login"):
        await expect(table).to_contain_text(action)
    await expect(table).to_contain_text("initech-app-01")
    await page.click("[data-testid=verify-chain]")
    await expect(page.locator("[data-testid=verify-result]")).to_contain_text("Chain intact")
    await page.screenshot(path=f"{SHOTS}/aw-audit.png")
    await page.context.close()


async def test_live_event_reaches_the_open_page_without_reload(browser: Browser, live_server: LiveServer) -> None:
    token = _api_token(live_server)
    headers = {"Authorization": f"Bearer {token}"}
    company = httpx.post(f"{live_server.url}/api/companies", headers=headers, timeout=10,
                         json={"name": "Live Corp", "slug": f"live-{int(time.time() * 1000)}"}).json()
    page = await _login(browser, live_server)
    await page.goto(f"/companies/{company['id']}/assets")
    await expect(page.locator("#live-indicator")).to_have_attribute("data-state", "connected")
    await page.evaluate("window.__notReloaded = true")

    # another client (the API) adds an asset to the company this page shows
    r = httpx.post(f"{live_server.url}/api/companies/{company['id']}/assets", headers=headers, timeout=10,
                   json={"name": "live-db-02", "type": "database"})
    assert r.status_code == 201, r.text

    await expect(page.locator("#toasts .toast")).to_contain_text("Asset live-db-02 created in Live Corp")
    await expect(page.locator("tr[data-asset=live-db-02]")).to_be_visible()
    assert await page.evaluate("window.__notReloaded") is True
    await page.screenshot(path=f"{SHOTS}/aw-live-event.png")
    await page.context.close()


async def test_phone_width_layout(browser: Browser, live_server: LiveServer) -> None:
    page = await _login(browser, live_server, width=375)
    for path in ("/", "/companies", "/audit", "/profile"):
        await page.goto(path)
        overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{path} scrolls sideways on a phone by {overflow}px"
    await expect(page.locator("#sidebar")).not_to_be_in_viewport()
    await page.click("[data-sidebar-toggle]")
    await expect(page.locator("#sidebar")).to_be_in_viewport(ratio=1)
    await page.wait_for_timeout(250)  # let the slide-in finish for the screenshot
    await page.screenshot(path=f"{SHOTS}/aw-phone-nav.png")
    await page.context.close()
