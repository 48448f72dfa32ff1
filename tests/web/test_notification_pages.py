"""The notifications page, the preferences form, the bell's dropdown and the delivery-log partial (HTTP, both
backends)."""

from __future__ import annotations

import httpx
import pytest
from playwright.async_api import Browser, expect
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alertwhisperer.clock import FakeClock
from alertwhisperer.config import Settings
from alertwhisperer.correlation.models import Incident
from alertwhisperer.notify import service
from alertwhisperer.notify.models import NotificationDelivery, NotificationPreference
from alertwhisperer.web.templating import templates
from tests.factories import bearer, login
from tests.notify.conftest import World, build_world
from tests.web.conftest import LiveServer
from tests.web.test_browser import SHOTS, _api_token, _login

SM = async_sessionmaker[AsyncSession]


@pytest.fixture
async def world(sessionmaker: SM, settings: Settings, clock: FakeClock) -> World:
    return await build_world(sessionmaker, settings, clock)


async def ring(sm: SM, clock: FakeClock, w: World, severity: str = "critical") -> None:
    async with sm() as s:
        incident = await s.get(Incident, w.incident_id)
        await service.notify(s, clock=clock, kind="assignment", user_ids=[w.users["tech"]], severity=severity,
                             title="Assigned to you: disk on db-01", body="Free space 3%", incident=incident)
        await s.commit()


async def test_page_lists_and_marks_read(client: httpx.AsyncClient, sessionmaker: SM, clock: FakeClock,
                                         world: World) -> None:
    h = bearer(await login(client, world.emails["tech"]))
    empty = await client.get("/notifications", headers=h)
    assert empty.status_code == 200 and "No notifications yet" in empty.text
    assert 'data-testid="bell"' in empty.text  # the bell is in the top bar
    await ring(sessionmaker, clock, world)
    await ring(sessionmaker, clock, world, "low")
    page = await client.get("/notifications", headers=h)
    assert page.text.count('data-testid="notification"') == 2
    assert f'href="/incidents/{world.incident_id}"' in page.text and "Acme Dental" in page.text
    menu = await client.get("/notifications/bell", headers=h)
    assert menu.status_code == 200 and "2 unread" in menu.text and "Mark all read" in menu.text
    assert "Assigned to you: disk on db-01" in menu.text
    notes = (await client.get("/api/notifications", headers=h)).json()
    r = await client.post(f"/notifications/{notes[0]['id']}/read", headers=h)
    assert r.status_code == 303
    assert (await client.get("/api/notifications/unread-count", headers=h)).json() == {"unread": 1}
    unread_page = await client.get("/notifications?unread=1", headers=h)
    assert unread_page.text.count('data-testid="notification"') == 1
    r = await client.post("/notifications/read-all", headers=h)
    assert r.status_code == 303
    assert "No unread notifications" in (await client.get("/notifications?unread=1", headers=h)).text
    other = bearer(await login(client, world.emails["tech2"]))
    assert (await client.post(f"/notifications/{notes[0]['id']}/read", headers=other)).status_code == 404


async def test_preferences_form(client: httpx.AsyncClient, sessionmaker: SM, world: World) -> None:
    h = bearer(await login(client, world.emails["tech"]))
    page = await client.get("/notifications", headers=h)
    assert 'data-testid="channel-grid"' in page.text and "Allow browser notifications" in page.text
    assert "slack://" in page.text and "tgram://" in page.text  # examples
    form = {"channels.critical": ["email", "apprise", "browser"], "channels.high": ["email"],
            "quiet_enabled": "on", "quiet_start": "22:00", "quiet_end": "06:30", "quiet_timezone": "Mars/Base",
            "add_apprise_urls": "json://hooks.example.com/x?token=VerySecretTok"}
    bad = await client.post("/notifications/preferences", headers=h, data=form)
    assert bad.status_code == 422 and "Unknown timezone" in bad.text and 'id="quiet_timezone-error"' in bad.text
    assert "22:00" in bad.text  # what was typed stays
    bad_url = await client.post("/notifications/preferences", headers=h,
                                data={**form, "quiet_timezone": "Europe/Berlin", "add_apprise_urls": "nope://x"})
    assert bad_url.status_code == 422 and 'id="add_apprise_urls-error"' in bad_url.text
    ok = await client.post("/notifications/preferences", headers=h, data={**form, "quiet_timezone": "Europe/Berlin"})
    assert ok.status_code == 303
    async with sessionmaker() as s:
        row = await s.get(NotificationPreference, world.users["tech"])
        assert row is not None
        assert row.channels["critical"] == ["inapp", "browser", "email", "apprise"]
        assert row.channels["medium"] == ["inapp"] and row.channels["high"] == ["inapp", "email"]
        assert row.quiet_hours == {"start": "22:00", "end": "06:30", "timezone": "Europe/Berlin"}
    again = await client.get("/notifications", headers=h)
    assert "<code class=\"grow\">json://hooks.example.com</code>" in again.text
    assert "VerySecretTok" not in again.text and 'name="remove_apprise"' in again.text
    test = await client.post("/notifications/test", headers=h)
    assert test.status_code == 303
    assert (await client.get("/api/notifications/unread-count", headers=h)).json() == {"unread": 1}


async def test_delivery_log_partial(client: httpx.AsyncClient, sessionmaker: SM, clock: FakeClock,
                                    world: World) -> None:
    await ring(sessionmaker, clock, world)
    async with sessionmaker() as s:
        rows = list((await s.execute(select(NotificationDelivery))).scalars())
    html = templates.get_template("notifications/_deliveries.html").render(deliveries=rows)
    assert "Notifications sent" in html and world.emails["tech"] in html and "pending" in html
    assert "tina" in html and "[CRITICAL] Assigned to you: disk on db-01" in html
    empty = templates.get_template("notifications/_deliveries.html").render(deliveries=[])
    assert "No email or chat notifications" in empty


# --- in a real browser ---------------------------------------------------------------------------------------------
RECORD_NOTIFICATIONS = """
(() => {
  window.__desktop = [];
  const Real = window.Notification;
  class Recording extends Real {
    constructor(title, options) {
      super(title, options);
      window.__desktop.push({ title, body: options && options.body });
    }
  }
  Object.defineProperty(Recording, "permission", { get: () => Real.permission });
  window.Notification = Recording;
})();
"""


@pytest.mark.browser
async def test_bell_counts_live_and_clears(browser: Browser, live_server: LiveServer) -> None:
    headers = {"Authorization": f"Bearer {_api_token(live_server)}"}
    page = await _login(browser, live_server)
    await page.context.grant_permissions(["notifications"], origin=live_server.url)
    await page.add_init_script(RECORD_NOTIFICATIONS)
    await page.goto("/notifications")
    await expect(page.locator("#live-indicator")).to_have_attribute("data-state", "connected")
    httpx.post(f"{live_server.url}/api/notifications/read-all", headers=headers, timeout=10).raise_for_status()
    await page.reload()
    await expect(page.locator("#live-indicator")).to_have_attribute("data-state", "connected")
    badge = page.locator("#bell [data-bell-count]")
    await expect(badge).to_be_hidden()
    await expect(page.locator("[data-permission-state]")).to_contain_text("Allowed in this browser")
    await page.evaluate("window.__notReloaded = true")

    for n in (1, 2):  # something notifies this user: the badge counts without a reload
        r = httpx.post(f"{live_server.url}/api/notifications/test", headers=headers, json={"severity": "critical"},
                       timeout=10)
        assert r.status_code == 202, r.text
        await expect(badge).to_have_text(str(n))
    await expect(page.locator("[data-testid=notification].unread")).to_have_count(2)  # the inbox follows live
    await expect(page.locator("#toasts")).to_contain_text("Test notification from Alert Whisperer")
    await expect(page.locator("#toasts")).not_to_contain_text("notification created")  # one toast, in words
    assert await page.evaluate("window.__notReloaded") is True
    desktop = await page.evaluate("window.__desktop")
    assert [d["title"] for d in desktop] == ["Test notification from Alert Whisperer"] * 2  # browser notifications

    await page.locator("#bell > summary").click()
    items = page.locator("#bell-menu .bell-item")
    await expect(items.first).to_contain_text("Test notification from Alert Whisperer")
    await expect(page.locator("#bell-menu [data-testid=bell-menu-unread]")).to_have_text("2 unread")
    await page.screenshot(path=f"{SHOTS}/aw-bell.png")
    await page.locator("[data-testid=bell-read-all]").click()
    await expect(badge).to_be_hidden()
    await expect(page.locator("#bell-menu .bell-item.unread")).to_have_count(0)
    await expect(page.locator("[data-testid=notification].unread")).to_have_count(0)
    await page.reload()
    await expect(badge).to_be_hidden()
    assert (httpx.get(f"{live_server.url}/api/notifications/unread-count", headers=headers, timeout=10).json()
            == {"unread": 0})
    await expect(page.locator("[data-testid=notification]")).to_have_count(2)
    await page.screenshot(path=f"{SHOTS}/aw-notifications.png", full_page=True)

    await page.set_viewport_size({"width": 375, "height": 800})
    overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"/notifications scrolls sideways on a phone by {overflow}px"
    await page.context.close()
