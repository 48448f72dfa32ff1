"""Chat in real headless Chromium against a real server process: two technicians open the same company room,
see each other in it, and a message typed in one page appears in the other live (no reload)."""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from tests.web.conftest import LiveServer
from tests.web.test_browser import SHOTS, _api_token

pytestmark = pytest.mark.browser
PASSWORD = "Chat-Browser-Passw0rd!"


def _setup(server: LiveServer) -> tuple[dict[str, Any], list[str]]:
    headers = {"Authorization": f"Bearer {_api_token(server)}"}
    tag = f"{int(time.time() * 1000)}-{uuid.uuid4().hex[:4]}"
    r = httpx.post(f"{server.url}/api/companies", headers=headers, timeout=10,
                   json={"name": "Contoso Legal", "slug": f"contoso-{tag}"})
    r.raise_for_status()
    company: dict[str, Any] = r.json()
    emails = []
    for name in ("Nina Night", "Omar Oncall"):
        email = f"{name.split()[0].lower()}-{tag}@msp.example"
        r = httpx.post(f"{server.url}/api/users", headers=headers, timeout=10, json={
            "email": email, "name": name, "role": "technician", "company_ids": [company["id"]],
            "password": PASSWORD})
        assert r.status_code == 201, r.text
        emails.append(email)
    return company, emails


async def _open(browser: Browser, server: LiveServer, email: str, room: str) -> Page:
    context = await browser.new_context(viewport={"width": 1280, "height": 860}, base_url=server.url)
    page = await context.new_page()
    page.set_default_timeout(10_000)
    await page.goto("/login")
    await page.fill("#email", email)
    await page.fill("#password", PASSWORD)
    await page.click("button[type=submit]")
    await expect(page).not_to_have_url(re.compile(r"/login"))
    await page.goto(f"/chat?room={room}")
    await expect(page.locator("#live-indicator")).to_have_attribute("data-state", "connected")
    return page


async def test_two_technicians_chat_live(browser: Browser, live_server: LiveServer) -> None:
    company, (nina, omar) = _setup(live_server)
    room = f"company:{company['id']}"
    p1 = await _open(browser, live_server, nina, room)
    p2 = await _open(browser, live_server, omar, room)
    for page in (p1, p2):  # both see both in the room
        presence = page.locator("[data-testid=chat-presence] .chat-here")
        await expect(presence).to_have_count(2)
        await expect(page.locator("[data-testid=chat-presence]")).to_contain_text("Nina Night")
        await expect(page.locator("[data-testid=chat-presence]")).to_contain_text("Omar Oncall")
    await expect(p2.locator("[data-chat-empty]")).to_be_visible()
    await p2.evaluate("window.__notReloaded = true")

    box = p1.locator("[data-chat-input]")
    await box.fill("Restarting the print spooler on ctl-fs-01")
    await box.press("Shift+Enter")  # a new line, not a send
    await box.type("back in 5")
    await box.press("Enter")
    await expect(box).to_have_value("")
    received = p2.locator("[data-testid=chat-message]")
    await expect(received).to_have_count(1)
    await expect(received.locator(".chat-body")).to_have_text("Restarting the print spooler on ctl-fs-01\nback in 5")
    await expect(received.locator(".chat-author")).to_have_text("Nina Night")
    await expect(p1.locator("[data-testid=chat-message].chat-mine")).to_have_count(1)  # shown once to its author
    assert await p2.evaluate("window.__notReloaded") is True
    await p2.screenshot(path=f"{SHOTS}/aw-chat.png")

    await p2.context.close()  # Omar closes his page: Nina sees him go
    await expect(p1.locator("[data-testid=chat-presence] .chat-here")).to_have_count(1)
    await p1.set_viewport_size({"width": 375, "height": 800})  # and the page fits a phone
    overflow = await p1.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"the chat page scrolls sideways on a phone by {overflow}px"
    await p1.screenshot(path=f"{SHOTS}/aw-chat-phone.png", full_page=True)
    await p1.context.close()
