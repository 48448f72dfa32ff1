"""The console's SLA settings page and the dashboard's SLA/MTTR cards over HTTP (no browser), both backends."""

from __future__ import annotations

import html
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, expect
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alertwhisperer.audit.models import AuditEntry
from alertwhisperer.auth.models import User
from alertwhisperer.auth.principal import Role
from alertwhisperer.clock import FakeClock
from alertwhisperer.config import Settings
from alertwhisperer.correlation.models import Incident
from alertwhisperer.incidents.sla import sla_status
from alertwhisperer.tenants.models import Company
from alertwhisperer.web.templating import templates
from tests.auth.helpers import cheap_argon2  # noqa: F401  (autouse fixture)
from tests.factories import bearer, login, make_company, make_user
from tests.incidents.test_kpis import incident
from tests.web.conftest import LiveServer
from tests.web.test_browser import SHOTS, _api_token, _login

SM = async_sessionmaker[AsyncSession]
M = timedelta(minutes=1)


@dataclass
class World:
    acme: str
    other: str
    emails: dict[str, str]
    ids: dict[str, str]


@pytest.fixture
async def world(sessionmaker: SM, settings: Settings, clock: FakeClock) -> World:
    async with sessionmaker() as s:
        acme = await make_company(s, clock, "Acme")
        other = await make_company(s, clock, "Globex")
        emails = {"admin": await make_user(s, settings, clock, Role.COMPANY_ADMIN, [acme.id]),
                  "tech": await make_user(s, settings, clock, Role.TECHNICIAN, [acme.id]),
                  "other_admin": await make_user(s, settings, clock, Role.COMPANY_ADMIN, [other.id])}
        by_email = {e: i for e, i in (await s.execute(select(User.email, User.id))).all()}
    return World(acme.id, other.id, emails, {k: by_email[e] for k, e in emails.items()})


async def as_(client: httpx.AsyncClient, w: World, who: str) -> dict[str, str]:
    return bearer(await login(client, w.emails[who]))


async def stored(sm: SM, company_id: str) -> dict[str, Any]:
    async with sm() as s:
        company = await s.get(Company, company_id)
        assert company is not None
        section: dict[str, Any] = company.settings.get("sla", {})
        return section


def field_error(page: str, name: str) -> str | None:
    found = re.search(rf'id="{re.escape(name)}-error"[^>]*>([^<]*)<', page)
    return html.unescape(found.group(1)) if found else None


def form(**changes: str) -> dict[str, str]:
    data = {"enabled": "on", "warning_minutes": "30",
            "critical.response": "30m", "critical.resolution": "4h", "high.response": "2h", "high.resolution": "8h",
            "medium.response": "8h", "medium.resolution": "1d", "low.response": "1d", "low.resolution": "2d",
            "info.response": "", "info.resolution": "",
            "escalation.level1_wait_minutes": "0", "escalation.level2_wait_minutes": "15",
            "escalation.level3_wait_minutes": "30", "escalation.level4_wait_minutes": "60",
            "escalation.max_level": "4", "escalation.secondary_user_id": ""}
    data.update(changes)
    return data


async def test_settings_page_shows_saves_and_explains(client: httpx.AsyncClient, sessionmaker: SM,
                                                      world: World) -> None:
    h = await as_(client, world, "admin")
    url = f"/companies/{world.acme}/sla"
    page = await client.get(url, headers=h)
    assert page.status_code == 200
    assert 'name="critical.response"' in page.text and 'value="30m"' in page.text and 'value="4h"' in page.text
    assert 'value="2d"' in page.text and "/static/css/sla.css" in page.text
    assert "Respond within" in page.text and "minutes after the breach" in page.text  # plain-language help
    assert "Save SLA settings" in page.text
    saved = await client.post(url, headers=h, data=form(**{
        "critical.response": "15m", "critical.resolution": "1h30m", "info.resolution": "3d",
        "escalation.level2_wait_minutes": "10", "escalation.max_level": "3",
        "escalation.secondary_user_id": world.ids["tech"]}))
    assert saved.status_code == 303 and saved.headers["location"] == url
    assert await stored(sessionmaker, world.acme) == {
        "critical": {"response_minutes": 15, "resolution_minutes": 90},
        "info": {"resolution_minutes": 4320},
        "escalation": {"level2_wait_minutes": 10, "max_level": 3, "secondary_user_id": world.ids["tech"]}}
    again = await client.get(url, headers=h)
    assert 'value="15m"' in again.text and 'value="1h30m"' in again.text and 'value="3d"' in again.text
    assert re.search(rf'<option value="{world.ids["tech"]}" selected>', again.text)
    async with sessionmaker() as s:
        entry = (await s.execute(select(AuditEntry).where(AuditEntry.action == "sla.policy_changed"))).scalar_one()
    assert entry.details["changes"]["critical"]["to"] == {"response_minutes": 15, "resolution_minutes": 90}
    # turning tracking off and clearing a target
    off = await client.post(url, headers=h, data={k: v for k, v in form(**{"low.response": ""}).items()
                                                  if k != "enabled"})
    assert off.status_code == 303
    section = await stored(sessionmaker, world.acme)
    assert section["enabled"] is False and section["low"] == {"resolution_minutes": 2880}


@pytest.mark.parametrize(("changes", "field", "wording"), [
    ({"critical.response": "soon"}, "critical.response", "duration such as 30m"),
    ({"high.response": "9h", "high.resolution": "8h"}, "high.resolution", "cannot be shorter"),
    ({"escalation.level3_wait_minutes": "5"}, "escalation.level3_wait_minutes", "cannot come before level 2"),
    ({"warning_minutes": "-1"}, "warning_minutes", "greater than or equal to 0"),
    ({"escalation.secondary_user_id": "someone-else"}, "escalation.secondary_user_id", "covers this company"),
])
async def test_errors_are_shown_on_their_fields(client: httpx.AsyncClient, sessionmaker: SM, world: World,
                                                changes: dict[str, str], field: str, wording: str) -> None:
    h = await as_(client, world, "admin")
    bad = await client.post(f"/companies/{world.acme}/sla", headers=h, data=form(**changes))
    assert bad.status_code == 422, bad.text[:300]
    assert wording in (field_error(bad.text, field) or ""), field_error(bad.text, field)
    typed = next(iter(changes.values()))
    if "secondary" not in field:
        assert f'value="{typed}"' in bad.text  # what was typed is kept
    assert await stored(sessionmaker, world.acme) == {}


async def test_read_only_for_technicians_and_hidden_from_other_companies(client: httpx.AsyncClient,
                                                                         sessionmaker: SM, world: World) -> None:
    tech = await as_(client, world, "tech")
    page = await client.get(f"/companies/{world.acme}/sla", headers=tech)
    assert page.status_code == 200 and "<fieldset disabled" in page.text and "Save SLA settings" not in page.text
    assert (await client.post(f"/companies/{world.acme}/sla", headers=tech, data=form())).status_code == 403
    other = await as_(client, world, "other_admin")
    hidden = await client.get(f"/companies/{world.acme}/sla", headers=other)
    assert hidden.status_code == 404 and "Acme" not in hidden.text
    assert (await client.post(f"/companies/{world.acme}/sla", headers=other, data=form())).status_code == 404
    assert await stored(sessionmaker, world.acme) == {}


async def test_dashboard_shows_sla_compliance_and_mttr(client: httpx.AsyncClient, sessionmaker: SM, world: World,
                                                       clock: FakeClock) -> None:
    h = await as_(client, world, "tech")
    empty = await client.get("/", headers=h)
    assert empty.status_code == 200
    assert re.search(r'data-testid="kpi-sla-compliance">—<', empty.text)
    assert "no deadlines decided yet" in empty.text and 'data-testid="sla-breakdown"' not in empty.text
    t = clock.now() - timedelta(days=1)
    async with sessionmaker() as s:
        s.add_all([
            incident(world.acme, "critical", t, status="resolved", acknowledged_at=t + 5 * M, resolved_at=t + 60 * M,
                     resolution_kind="manual"),
            incident(world.acme, "high", t, status="resolved", response_breached_at=t + 120 * M,
                     resolved_at=t + 180 * M, resolution_kind="auto"),
            incident(world.other, "critical", t, status="resolved", response_breached_at=t + 30 * M,
                     resolution_breached_at=t + 240 * M, resolved_at=t + 600 * M, resolution_kind="manual"),
        ])
        await s.commit()
    page = await client.get("/", headers=h)
    # Acme only (the technician's company): 3 of 4 targets met, MTTR (60 + 180) / 2 = 2 h
    assert re.search(r'data-testid="kpi-sla-compliance">75%<', page.text), page.text[:200]
    assert re.search(r'data-testid="kpi-mttr">2 h<', page.text)
    assert "manual 1 h (1) · automatic 3 h (1)" in page.text
    panel = re.search(r'data-testid="sla-breakdown".*?</details>', page.text, re.S)
    assert panel and 'data-severity="critical"' in panel.group(0) and 'data-severity="high"' in panel.group(0)
    assert "Globex" not in panel.group(0)
    assert 'data-testid="kpi-open-incidents"' in page.text  # the other cards are still there


@pytest.mark.browser
async def test_countdown_ticks_in_a_real_browser(browser: Browser, live_server: LiveServer) -> None:
    """The partial rendered for a running incident, with the real sla.js served by a real server, under
    Playwright's fake clock: it counts down each second, turns to warning, then to overdue."""
    t0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    running = Incident(company_id="c", title="t", symptom="cpu", severity="critical", key="k", first_seen=t0,
                       last_seen=t0, status="new", sla_started_at=t0, response_due_at=t0 + 30 * M,
                       resolution_due_at=t0 + 240 * M, escalation_level=0)
    partial = templates.get_template("sla/_countdown.html").render(sla=sla_status(running, t0 + 5 * M))
    context = await browser.new_context(base_url=live_server.url)
    try:
        page = await context.new_page()
        await page.clock.install(time=t0)
        await page.clock.pause_at(t0 + 5 * M)  # time moves only when the test says so
        await page.goto("/login")
        await page.evaluate("html => { const d = document.createElement('div'); d.id = 'sla-box'; d.innerHTML = html;"
                            " document.body.prepend(d); }", partial)
        await page.add_script_tag(url="/static/js/sla.js")
        response = page.locator("[data-testid=sla-response]")
        await expect(response.locator("[data-sla-text]")).to_have_text("Respond within 25m 00s")
        await page.clock.run_for(3000)
        await expect(response.locator("[data-sla-text]")).to_have_text("Respond within 24m 57s")
        await expect(response).to_have_attribute("data-state", "running")
        await page.clock.run_for(11 * 60 * 1000)  # 16 min in: under half the 30-min target left
        await expect(response).to_have_attribute("data-state", "warning")
        await expect(response).to_have_class(re.compile(r"\bsla-warning\b"))
        await page.clock.run_for(15 * 60 * 1000)  # 31 min in
        await expect(response).to_have_attribute("data-state", "breached")
        await expect(response.locator("[data-sla-text]")).to_contain_text("Response overdue by 1m")
        await expect(page.locator("[data-testid=sla-resolution] [data-sla-text]")).to_have_text(
            "Resolve within 3h 28m")  # 31 min 03 s in
    finally:
        await context.close()


@pytest.mark.browser
async def test_admin_edits_sla_settings_in_a_browser(browser: Browser, live_server: LiveServer) -> None:
    token = _api_token(live_server)
    r = httpx.post(f"{live_server.url}/api/companies", headers={"Authorization": f"Bearer {token}"}, timeout=10,
                   json={"name": "Contoso Dental", "slug": f"contoso-{uuid.uuid4().hex[:8]}"})
    r.raise_for_status()
    company_id = r.json()["id"]
    page = await _login(browser, live_server)
    try:
        await page.goto(f"/companies/{company_id}/sla")
        await expect(page.locator("h1")).to_have_text("SLA and escalation")
        await expect(page.locator("#f-critical\\.response")).to_have_value("30m")
        await page.fill("#f-critical\\.response", "in a bit")
        await page.click("text=Save SLA settings")
        await expect(page.locator("#critical\\.response-error")).to_contain_text("duration such as 30m")
        await page.fill("#f-critical\\.response", "20m")
        await page.fill("#f-escalation\\.level2_wait_minutes", "10")
        await page.click("text=Save SLA settings")
        await expect(page.locator(".flash")).to_contain_text("SLA settings saved")
        await expect(page.locator("#f-critical\\.response")).to_have_value("20m")
        await page.screenshot(path=f"{SHOTS}/aw-sla-settings.png", full_page=True)
    finally:
        await page.context.close()
    got = httpx.get(f"{live_server.url}/api/companies/{company_id}/sla", headers={"Authorization": f"Bearer {token}"},
                    timeout=10).json()
    assert got["critical"]["response_minutes"] == 20 and got["escalation"]["level2_wait_minutes"] == 10
