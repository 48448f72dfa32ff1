"""The on-call console pages over HTTP (no browser), both backends: list with who is on call and gap warnings,
the editor with inline errors, the calendar, overrides, rights."""

from __future__ import annotations

import html
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, expect
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alertwhisperer.clock import FakeClock
from alertwhisperer.config import Settings
from alertwhisperer.incidents.models import OnCallSchedule, ScheduleOverride
from tests.auth.helpers import cheap_argon2  # noqa: F401  (autouse fixture)
from tests.incidents.test_schedules_api import World, as_, body, build_world
from tests.web.conftest import LiveServer
from tests.web.test_browser import SHOTS, _api_token, _login

SM = async_sessionmaker[AsyncSession]


@pytest.fixture
async def world(sessionmaker: SM, settings: Settings, clock: FakeClock) -> World:
    return await build_world(sessionmaker, settings, clock)


def field_error(page: str, name: str) -> str | None:
    found = re.search(rf'id="{re.escape(name)}-error"[^>]*>([^<]*)<', page)
    return html.unescape(found.group(1)) if found else None


def editor_form(w: World, **extra: Any) -> dict[str, Any]:
    return {"company_id": w.acme, "name": "Acme primary", "category": "Database", "timezone": "Europe/Berlin",
            "description": "Databases, office hours",
            "layers-0-name": "Weekdays", "layers-0-rotation": "daily", "layers-0-handoff_time": "09:00",
            "layers-0-handoff_weekday": "0", "layers-0-starts_on": "2026-03-02",
            "layers-0-members": [w.ids["ana"], w.ids["ben"], ""],
            "layers-1-name": "", "layers-1-rotation": "weekly", "layers-1-handoff_time": "09:00",
            "layers-1-starts_on": "2026-03-02", "layers-1-members": ["", ""], **extra}


async def test_list_editor_and_calendar(client: httpx.AsyncClient, sessionmaker: SM, world: World) -> None:
    h = await as_(client, world, "admin")
    empty = await client.get(f"/schedules?company_id={world.acme}", headers=h)
    assert empty.status_code == 200
    assert "No schedules yet" in empty.text and "Nobody is on call" in empty.text
    new = await client.get(f"/schedules/new?company_id={world.acme}", headers=h)
    assert new.status_code == 200 and "ana (ana@msp.example)" in new.text and world.emails["gus"] not in new.text
    bad = await client.post("/schedules", headers=h, data=editor_form(world, **{"layers-0-handoff_time": "9 am"}))
    assert bad.status_code == 422
    assert "HH:MM" in (field_error(bad.text, "layers-0-handoff_time") or "")
    assert 'value="9 am"' in bad.text and 'value="Acme primary"' in bad.text  # what was typed is kept
    no_members = await client.post("/schedules", headers=h, data=editor_form(world, **{"layers-0-members": ["", ""]}))
    assert no_members.status_code == 422 and field_error(no_members.text, "layers-0-members")
    async with sessionmaker() as s:
        assert (await s.execute(select(OnCallSchedule))).scalars().all() == []
    made = await client.post("/schedules", headers=h, data=editor_form(world))
    assert made.status_code == 303, made.text
    async with sessionmaker() as s:
        row = (await s.execute(select(OnCallSchedule))).scalar_one()
    assert made.headers["location"] == f"/schedules/{row.id}"
    assert [layer["members"] for layer in row.layers] == [[world.ids["ana"], world.ids["ben"]]]  # blank layer skipped
    page = await client.get(f"/schedules/{row.id}", headers=h)
    assert page.status_code == 200
    assert 'data-day="2026-03-02"' in page.text and 'aria-current="date"' in page.text  # today marked
    assert page.text.count('data-day="') == 14  # two weeks
    assert "oc-entry-gap" in page.text  # before the first hand-off on 2 March, 09:00 (in the past)
    assert "Someone is always on call." in page.text and 'data-testid="gap-warning"' not in page.text
    assert "09:00\u201324:00" in page.text and "00:00\u201309:00" in page.text  # en dashes
    assert 'href="/api/schedules/' + row.id + '/ical"' in page.text
    later = await client.get(f"/schedules/{row.id}?start=2026-03-16&days=7", headers=h)
    assert later.text.count('data-day="') == 7 and 'data-day="2026-03-22"' in later.text
    assert 'aria-current="date"' not in later.text and "?start=2026-03-09&amp;days=7" in later.text
    listing = await client.get(f"/schedules?company_id={world.acme}&category=Database", headers=h)
    assert "Acme primary" in listing.text and "First to page" in listing.text
    assert "Fully covered" in listing.text and 'data-testid="gap-warning"' not in listing.text
    # edit: add a weekend layer on top, then remove it again
    edit = await client.get(f"/schedules/{row.id}/edit", headers=h)
    assert edit.status_code == 200 and 'value="Weekdays"' in edit.text and "Add a layer" in edit.text
    form = editor_form(world, **{"layers-1-name": "Weekend", "layers-1-members": [world.ids["ben"]],
                                 "layers-1-days": ["5", "6"]})
    form.pop("company_id")
    saved = await client.post(f"/schedules/{row.id}/edit", headers=h, data=form)
    assert saved.status_code == 303
    async with sessionmaker() as s:
        stored = await s.get(OnCallSchedule, row.id)
        assert stored is not None and [la["name"] for la in stored.layers] == ["Weekdays", "Weekend"]
        assert stored.layers[1]["days"] == [5, 6]
    bad_edit = await client.post(f"/schedules/{row.id}/edit", headers=h,
                                 data={**form, "layers-1-hours_from": "18:00"})
    assert bad_edit.status_code == 422 and field_error(bad_edit.text, "layers-1-hours_to")
    removed = await client.post(f"/schedules/{row.id}/edit", headers=h, data={**form, "layers-1-remove": "on"})
    assert removed.status_code == 303
    async with sessionmaker() as s:
        stored = await s.get(OnCallSchedule, row.id)
        assert stored is not None and [la["name"] for la in stored.layers] == ["Weekdays"]


async def test_overrides_and_rights(client: httpx.AsyncClient, sessionmaker: SM, world: World) -> None:
    h = await as_(client, world, "admin")
    sid = (await client.post("/api/schedules", headers=h, json=body(world))).json()["id"]
    bad = await client.post(f"/schedules/{sid}/overrides", headers=h, data={
        "user_id": world.ids["ben"], "starts_local": "2026-03-03T10:00", "ends_local": "2026-03-03T09:00"})
    assert bad.status_code == 422 and "end after" in (field_error(bad.text, "ends_local") or "")
    ok = await client.post(f"/schedules/{sid}/overrides", headers=h, data={
        "user_id": world.ids["ben"], "starts_local": "2026-03-03T10:00", "ends_local": "2026-03-03T12:00",
        "reason": "swap"})
    assert ok.status_code == 303
    page = await client.get(f"/schedules/{sid}?start=2026-03-02", headers=h)
    assert "Nobody is on call for 10 periods" in page.text  # office hours only: 8 nights, 2 weekends
    listing = await client.get("/schedules", headers=h)
    assert 'data-testid="gap-warning"' in listing.text and "h uncovered" in listing.text
    assert "swap" in page.text and "oc-tag" in page.text  # listed, and marked in the calendar
    async with sessionmaker() as s:
        override = (await s.execute(select(ScheduleOverride))).scalar_one()
        assert override.starts_at.isoformat() == "2026-03-03T09:00:00+00:00"  # 10:00 Berlin
    tech = await as_(client, world, "ana")
    read = await client.get(f"/schedules/{sid}", headers=tech)
    assert read.status_code == 200 and "Edit schedule" not in read.text
    assert "Cover a shift yourself" in read.text and f'value="{world.ids["ben"]}"' not in read.text  # only herself
    assert (await client.post(f"/schedules/{sid}/overrides", headers=tech, data={
        "user_id": world.ids["ben"], "starts_local": "2026-03-04T10:00", "ends_local": "2026-03-04T12:00"})
            ).status_code == 403
    mine = await client.post(f"/schedules/{sid}/overrides", headers=tech, data={
        "user_id": world.ids["ana"], "starts_local": "2026-03-04T10:00", "ends_local": "2026-03-04T12:00"})
    assert mine.status_code == 303
    async with sessionmaker() as s:
        own = (await s.execute(select(ScheduleOverride).where(ScheduleOverride.user_id == world.ids["ana"]))
               ).scalar_one()
    assert (await client.post(f"/schedules/{sid}/overrides/{override.id}/delete", headers=tech)).status_code == 403
    assert (await client.post(f"/schedules/{sid}/overrides/{own.id}/delete", headers=tech)).status_code == 303
    assert (await client.get(f"/schedules/{sid}/edit", headers=tech)).status_code == 403
    assert (await client.post(f"/schedules/{sid}/edit", headers=tech, data=editor_form(world))).status_code == 403
    assert (await client.get("/schedules/new", headers=tech)).status_code == 403
    other = await as_(client, world, "other_admin")
    for url in (f"/schedules/{sid}", f"/schedules/{sid}/edit", f"/schedules?company_id={world.acme}"):
        hidden = await client.get(url, headers=other)
        assert hidden.status_code == 404 and "Acme DB" not in hidden.text, url
    assert (await client.post(f"/schedules/{sid}/delete", headers=other)).status_code == 404
    assert (await client.post(f"/schedules/{sid}/overrides/{override.id}/delete", headers=other)).status_code == 404
    gone = await client.post(f"/schedules/{sid}/overrides/{override.id}/delete", headers=h)
    assert gone.status_code == 303
    deleted = await client.post(f"/schedules/{sid}/delete", headers=h)
    assert deleted.status_code == 303 and deleted.headers["location"] == "/schedules"
    async with sessionmaker() as s:
        assert (await s.execute(select(OnCallSchedule))).scalars().all() == []


@pytest.mark.browser
async def test_calendar_and_editor_in_a_browser(browser: Browser, live_server: LiveServer) -> None:
    """Real Chromium: the list shows who is on call, the calendar draws coloured shifts with today marked, and the
    editor shows an error next to the field."""
    headers = {"Authorization": f"Bearer {_api_token(live_server)}"}
    url = live_server.url
    company = httpx.post(f"{url}/api/companies", headers=headers, timeout=10,
                         json={"name": "Contoso Dental", "slug": f"contoso-{uuid.uuid4().hex[:8]}"}).json()
    ids = []
    for name in ("Dana Database", "Eli Evening"):
        r = httpx.post(f"{url}/api/users", headers=headers, timeout=10, json={
            "email": f"{uuid.uuid4().hex[:8]}@contoso.example", "name": name, "role": "technician",
            "company_ids": [company["id"]], "category": "Database", "password": "Browser-Tech-Passw0rd!"})
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    today = datetime.now(UTC).date()
    r = httpx.post(f"{url}/api/schedules", headers=headers, timeout=10, json={
        "company_id": company["id"], "name": "Contoso DB", "category": "Database", "timezone": "Europe/Berlin",
        "layers": [{"name": "Office hours", "rotation": "daily", "handoff_time": "08:00",
                    "starts_on": (today - timedelta(days=3)).isoformat(), "members": ids,
                    "days": [0, 1, 2, 3, 4], "hours_from": "08:00", "hours_to": "18:00"}]})
    assert r.status_code == 201, r.text
    sid = r.json()["id"]
    page = await _login(browser, live_server)
    await page.goto(f"/schedules?company_id={company['id']}")
    await expect(page.locator(f"tr[data-schedule='{sid}']")).to_contain_text("Contoso DB")
    await expect(page.locator(f"tr[data-schedule='{sid}'] [data-testid=gap-warning]")).to_be_visible()
    await page.screenshot(path=f"{SHOTS}/aw-schedules.png", full_page=True)
    await page.click(f"tr[data-schedule='{sid}'] a.row-link")
    await expect(page.locator("h1")).to_contain_text("Contoso DB")
    await expect(page.locator(".oc-day.oc-today")).to_have_count(1)
    assert await page.locator(".oc-seg.oc-t0").count() > 0 and await page.locator(".oc-seg.oc-t1").count() > 0
    await expect(page.locator("[data-testid=gap-warning]")).to_be_visible()
    await page.screenshot(path=f"{SHOTS}/aw-schedule-calendar.png", full_page=True)
    await page.click("[data-testid=edit-schedule]")
    await page.fill("#f-layers-0-handoff_time", "25:00")
    await page.click("button:has-text('Save schedule')")
    await expect(page.locator("#layers-0-handoff_time-error")).to_contain_text("HH:MM")
    await page.screenshot(path=f"{SHOTS}/aw-schedule-editor.png", full_page=True)
    await page.context.close()
