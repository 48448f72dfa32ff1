"""Remote access in real headless Chromium against a real server process and the real sshd: an admin adds an SSH
key, points an asset at the server, fetches and trusts its host key, and tests the connection — all in the page."""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, expect

from tests.remediation.sshd import Sshd
from tests.web.conftest import LiveServer, browser, live_server  # noqa: F401  (fixtures)
from tests.web.test_browser import SHOTS, _api_token, _login

pytestmark = pytest.mark.browser


def _company(server: LiveServer) -> tuple[dict[str, Any], dict[str, Any]]:
    headers = {"Authorization": f"Bearer {_api_token(server)}"}
    tag = f"{int(time.time() * 1000)}-{uuid.uuid4().hex[:4]}"
    r = httpx.post(
        f"{server.url}/api/companies", headers=headers, timeout=10, json={"name": "Initech", "slug": f"initech-{tag}"}
    )
    r.raise_for_status()
    company: dict[str, Any] = r.json()
    r = httpx.post(
        f"{server.url}/api/companies/{company['id']}/assets",
        headers=headers,
        timeout=10,
        json={"name": "app-01", "ip": "127.0.0.1"},
    )
    r.raise_for_status()
    return company, r.json()


async def test_admin_sets_up_ssh_access_in_the_console(
    browser: Browser,  # noqa: F811
    live_server: LiveServer,  # noqa: F811
    sshd: Sshd,
) -> None:
    company, asset = _company(live_server)
    page = await _login(browser, live_server)
    await page.goto(f"/companies/{company['id']}/remote-access")
    await expect(page.get_by_test_id("credentials-empty")).to_be_visible()

    await page.get_by_test_id("add-credential").locator("summary").click()
    await expect(page.locator("#f-password")).to_be_hidden()  # only the SSH key fields for an SSH key
    await page.fill("#f-name", "deploy key")
    await page.fill("#f-username", sshd.username)
    await page.fill("#f-private_key", sshd.private_key)
    await page.get_by_test_id("save-credential").click()
    await expect(page.locator(".flash")).to_contain_text("SHA256:")
    row = page.locator('[data-credential="deploy key"]')
    await expect(row.get_by_test_id("credential-fingerprint")).to_contain_text("SHA256:")

    await page.locator('[data-asset="app-01"]').get_by_test_id("configure-access").click()
    await expect(page).to_have_url(re.compile(f"/assets/{asset['id']}$"))
    await page.fill("#f-host", sshd.host)
    await page.fill("#f-port", str(sshd.port))
    await page.select_option("#f-credential_id", label=f"deploy key (SSH key, {sshd.username})")
    await page.get_by_test_id("save-access").click()
    await expect(page.get_by_test_id("host-key-card")).to_contain_text("missing")

    await page.get_by_test_id("fetch-host-key").click()
    await expect(page.get_by_test_id("fetched-fingerprint")).to_have_text(sshd.host_fingerprint)
    await page.screenshot(path=f"{SHOTS}/aw-remote-access-fetch.png", full_page=True)
    await page.get_by_test_id("trust-host-key").click()
    await expect(page.get_by_test_id("stored-keys")).to_contain_text(sshd.host_fingerprint)

    await page.get_by_test_id("test-connection").click()
    outcome = page.get_by_test_id("test-outcome")
    await expect(outcome).to_have_attribute("data-status", "succeeded")
    await expect(outcome).to_contain_text("Connected")
    await page.screenshot(path=f"{SHOTS}/aw-remote-access-asset.png", full_page=True)

    await page.goto(f"/companies/{company['id']}/remote-access")
    await expect(page.locator('[data-asset="app-01"]').get_by_test_id("host-key-status")).to_contain_text("confirmed")
    await page.screenshot(path=f"{SHOTS}/aw-remote-access.png", full_page=True)
