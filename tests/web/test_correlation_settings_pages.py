"""The console's correlation settings and maintenance windows pages over HTTP (no browser), both backends."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alertwhisperer.audit.models import AuditEntry
from alertwhisperer.auth.principal import Role
from alertwhisperer.clock import FakeClock
from alertwhisperer.config import Settings
from alertwhisperer.correlation.policy import CorrelationPolicy
from alertwhisperer.tenants.models import Company
from tests.correlation.replay_data import am
from tests.correlation.test_settings_api import drain, now, post
from tests.factories import PASSWORD, MadeCompany, bearer, login, make_asset, make_company, make_user

SM = async_sessionmaker[AsyncSession]


@dataclass
class World:
    acme: MadeCompany
    other: MadeCompany
    db_id: str
    emails: dict[str, str]


@pytest.fixture
async def world(sessionmaker: SM, settings: Settings, clock: FakeClock) -> World:
    async with sessionmaker() as s:
        acme = await make_company(s, clock, "Acme")
        company = await s.get(Company, acme.id)
        assert company is not None
        company.timezone = "Europe/Berlin"
        await s.commit()
        db = await make_asset(s, clock, acme.id, "db-01", ip="10.1.0.5")
        await make_asset(s, clock, acme.id, "web-01", ip="10.1.0.20")
        other = await make_company(s, clock, "Globex")
        emails = {
            "admin": await make_user(s, settings, clock, Role.COMPANY_ADMIN, [acme.id]),
            "tech": await make_user(s, settings, clock, Role.TECHNICIAN, [acme.id]),
            "other_admin": await make_user(s, settings, clock, Role.COMPANY_ADMIN, [other.id]),
        }
    return World(acme, other, db.id, emails)


async def as_(client: httpx.AsyncClient, w: World, role: str) -> dict[str, str]:
    return bearer(await login(client, w.emails[role]))


async def stored(sessionmaker: SM, company_id: str) -> dict[str, Any]:
    async with sessionmaker() as s:
        company = await s.get(Company, company_id)
        assert company is not None
        correlation: dict[str, Any] = company.settings.get("correlation", {})
        return correlation


def field_error(page: str, name: str) -> str | None:
    found = re.search(rf'id="{re.escape(name)}-error"[^>]*>([^<]*)<', page)
    return html.unescape(found.group(1)) if found else None


POLICY_FORM = {"window_minutes": "10", "key": "labels", "key_labels": "alertname, service", "related_symptoms": "on",
               "topology_depth": "2", "storm": "on", "storm_min_assets": "4", "storm_window_seconds": "60",
               "resolve_hold_minutes": "3", "reopen_minutes": "20", "open_incident_horizon_minutes": "120",
               "flap_changes": "5", "flap_minutes": "15", "transient_pause_minutes": "5"}


async def test_policy_page_saves_the_form_and_shows_errors_inline(client: httpx.AsyncClient, sessionmaker: SM,
                                                                  settings: Settings, world: World) -> None:
    h = await as_(client, world, "admin")
    url = f"/companies/{world.acme.id}/correlation"
    page = await client.get(url, headers=h)
    assert page.status_code == 200
    assert 'name="window_minutes"' in page.text and 'value="15"' in page.text  # the defaults are shown
    assert "Alerts this close together" in page.text and "Reopen window" in page.text  # help in plain words
    bad = await client.post(url, headers=h, data={**POLICY_FORM, "window_minutes": "20", "key_labels": ""})
    assert bad.status_code == 422
    assert "less than or equal to 15" in (field_error(bad.text, "window_minutes") or "")
    assert 'value="20"' in bad.text  # what was typed is kept
    assert await stored(sessionmaker, world.acme.id) == {}
    no_labels = await client.post(url, headers=h, data={**POLICY_FORM, "key_labels": ""})
    assert no_labels.status_code == 422 and "key_labels" in (field_error(no_labels.text, "key_labels") or "")
    saved = await client.post(url, headers=h, data=POLICY_FORM)  # topology unchecked: off
    assert saved.status_code == 303 and saved.headers["location"] == url
    policy = CorrelationPolicy.model_validate(await stored(sessionmaker, world.acme.id))
    assert (policy.window_minutes, policy.key, policy.key_labels) == (10, "labels", ("alertname", "service"))
    assert policy.topology is False and policy.topology_depth == 2 and policy.transient_pause_minutes == 5
    assert (policy.flap_changes, policy.flap_minutes, policy.storm_min_assets) == (5, 15, 4)
    again = await client.get(url, headers=h)
    assert 'value="alertname, service"' in again.text
    async with sessionmaker() as s:
        entry = (await s.execute(select(AuditEntry).where(AuditEntry.action == "correlation.policy_changed")
                                 )).scalar_one()
    assert entry.details["changes"]["window_minutes"] == {"from": 15, "to": 10}
    # an empty pause turns it off again
    await client.post(url, headers=h, data={**POLICY_FORM, "transient_pause_minutes": ""})
    assert "transient_pause_minutes" not in await stored(sessionmaker, world.acme.id)


async def test_scoping_and_read_only_for_technicians(client: httpx.AsyncClient, sessionmaker: SM,
                                                     world: World) -> None:
    tech = await as_(client, world, "tech")
    for path in ("correlation", "maintenance"):
        page = await client.get(f"/companies/{world.acme.id}/{path}", headers=tech)
        assert page.status_code == 200
        assert "Save correlation settings" not in page.text and "Add window" not in page.text
        assert path == "maintenance" or "<fieldset disabled" in page.text
        refused = await client.post(f"/companies/{world.acme.id}/{path}", headers=tech, data=POLICY_FORM)
        assert refused.status_code == 403
    other = await as_(client, world, "other_admin")
    for path in ("correlation", "maintenance"):
        hidden = await client.get(f"/companies/{world.acme.id}/{path}", headers=other)
        assert hidden.status_code == 404 and "Acme" not in hidden.text
        assert (await client.post(f"/companies/{world.acme.id}/{path}", headers=other,
                                  data=POLICY_FORM)).status_code == 404
    assert await stored(sessionmaker, world.acme.id) == {}


async def test_maintenance_windows_page(app: FastAPI, client: httpx.AsyncClient, sessionmaker: SM,
                                        clock: FakeClock, world: World) -> None:
    h = await as_(client, world, "admin")
    url = f"/companies/{world.acme.id}/maintenance"
    empty = await client.get(url, headers=h)
    assert empty.status_code == 200 and "No maintenance windows" in empty.text
    assert "db-01" in empty.text  # the assets to choose from
    # one-off, in the company's timezone (Europe/Berlin, UTC+1 in March): 10:00-12:00 local covers 09:00 UTC
    one_off = {"name": "DB upgrade", "kind": "one_off", "start_local": "2026-03-02T10:00",
               "end_local": "2026-03-02T12:00", "scope": "assets", "assets": world.db_id}
    r = await client.post(url, headers=h, data=one_off)
    assert r.status_code == 303, r.text
    (window,) = (await stored(sessionmaker, world.acme.id))["maintenance_windows"]
    assert window["start"] == "2026-03-02T10:00:00+01:00" and window["end"] == "2026-03-02T12:00:00+01:00"
    assert window["assets"] == [world.db_id] and window["name"] == "DB upgrade"
    weekly = {"name": "Patch night", "kind": "weekly", "days": ["mon", "thu"], "weekly_start": "22:00",
              "duration_minutes": "120", "timezone": "Europe/Berlin", "scope": "tag", "tags": "env=prod"}
    assert (await client.post(url, headers=h, data=weekly)).status_code == 303
    # errors are shown on the fields they are about, and nothing is stored
    for bad, field in (({**weekly, "days": []}, "days"), ({**one_off, "end_local": "2026-03-02T09:00"}, "end_local"),
                       ({**one_off, "start_local": "tomorrow"}, "start_local"),
                       ({**one_off, "assets": []}, "assets"),
                       ({**weekly, "timezone": "Mars/Olympus"}, "timezone"),
                       ({**weekly, "weekly_start": ""}, "weekly_start")):
        refused = await client.post(url, headers=h, data=bad)
        assert refused.status_code == 422, (field, refused.text[:300])
        assert field_error(refused.text, field), (field, refused.text)
    assert len((await stored(sessionmaker, world.acme.id))["maintenance_windows"]) == 2
    # an alert for db-01 inside the window is suppressed, and counted on the page
    await post(client, world.acme, "alertmanager", am("HostDown", "10.1.0.5:9100", fingerprint="h1", at=now(clock)))
    await drain(app, sessionmaker, clock)
    listing = await client.get(url, headers=h)
    rows = {m.group(1): m.group(2) for m in re.finditer(r'<tr data-window="([^"]+)">(.*?)</tr>', listing.text, re.S)}
    by_name = {("DB upgrade" if "DB upgrade" in body else "Patch night"): (wid, body) for wid, body in rows.items()}
    db_id, db_row = by_name["DB upgrade"]
    assert 'data-status="active"' in db_row and "Active now · until Mon 2026-03-02 12:00" in db_row
    assert re.search(r'data-testid="suppressed-count">1<', db_row)
    patch_id, patch_row = by_name["Patch night"]
    assert 'data-status="scheduled"' in patch_row and "Next: Mon 2026-03-02 22:00" in patch_row
    assert "Every Mon, Thu at 22:00 for 2 h (Europe/Berlin)" in patch_row and "env=prod" in patch_row
    # edit: the form shows the stored values; saving changes the window (audited)
    edit = await client.get(f"{url}/{patch_id}", headers=h)
    assert edit.status_code == 200 and 'value="22:00"' in edit.text and 'value="120"' in edit.text
    saved = await client.post(f"{url}/{patch_id}", headers=h, data={**weekly, "duration_minutes": "90",
                                                                     "weekly_start": "7:30"})
    assert saved.status_code == 303
    windows = {w["id"]: w for w in (await stored(sessionmaker, world.acme.id))["maintenance_windows"]}
    assert windows[patch_id]["weekly"]["duration_minutes"] == 90
    assert windows[patch_id]["weekly"]["start"] == "07:30:00"
    invalid = await client.post(f"{url}/{patch_id}", headers=h, data={**weekly, "duration_minutes": "0"})
    assert invalid.status_code == 422 and field_error(invalid.text, "duration_minutes")
    # delete
    gone = await client.post(f"{url}/{db_id}/delete", headers=h)
    assert gone.status_code == 303
    assert [w["id"] for w in (await stored(sessionmaker, world.acme.id))["maintenance_windows"]] == [patch_id]
    assert (await client.get(f"{url}/{db_id}", headers=h)).status_code == 404
    async with sessionmaker() as s:
        actions = list((await s.execute(select(AuditEntry.action).where(
            AuditEntry.action.startswith("maintenance_window.")).order_by(AuditEntry.seq))).scalars())
    assert actions == ["maintenance_window.created", "maintenance_window.created", "maintenance_window.updated",
                       "maintenance_window.deleted"]


async def test_company_page_links_and_keeps_the_policy_on_save(client: httpx.AsyncClient, sessionmaker: SM,
                                                               world: World) -> None:
    """Through the browser flow (cookies + CSRF): the company settings form must not reset correlation."""
    r = await client.post("/login", data={"email": world.emails["admin"], "password": PASSWORD, "next": "/"})
    assert r.status_code == 303
    token = client.cookies["aw_csrf"]
    saved = await client.post(f"/companies/{world.acme.id}/correlation", data={**POLICY_FORM, "csrf_token": token})
    assert saved.status_code == 303
    created = await client.post(f"/companies/{world.acme.id}/maintenance", data={
        "name": "Weekly", "kind": "weekly", "days": "sun", "weekly_start": "03:00", "duration_minutes": "60",
        "timezone": "UTC", "scope": "company", "csrf_token": token})
    assert created.status_code == 303
    before = await stored(sessionmaker, world.acme.id)
    detail = await client.get(f"/companies/{world.acme.id}")
    assert f'href="/companies/{world.acme.id}/correlation"' in detail.text
    assert f'href="/companies/{world.acme.id}/maintenance"' in detail.text
    company_form = await client.post(f"/companies/{world.acme.id}", data={
        "name": "Acme Renamed", "timezone": "Europe/Berlin", "settings.ingest.rate_limit_per_minute": "600",
        "settings.ingest.burst": "100", "csrf_token": token})
    assert company_form.status_code == 303, company_form.text[:500]
    assert await stored(sessionmaker, world.acme.id) == before and before["window_minutes"] == 10
    # saving the policy form again keeps the maintenance windows (they are not part of that form)
    again = await client.post(f"/companies/{world.acme.id}/correlation",
                              data={**POLICY_FORM, "window_minutes": "7", "csrf_token": token})
    assert again.status_code == 303
    after = await stored(sessionmaker, world.acme.id)
    assert after["window_minutes"] == 7 and after["maintenance_windows"] == before["maintenance_windows"]


async def test_edit_form_keeps_asset_references_by_name_and_unknown_ones(client: httpx.AsyncClient,
                                                                         sessionmaker: SM, world: World) -> None:
    h = await as_(client, world, "admin")
    made = await client.post(f"/api/companies/{world.acme.id}/maintenance-windows", headers=h, json={
        "id": "by-name", "assets": ["DB-01", "future-host"], "start": "2026-03-03T00:00:00+00:00",
        "end": "2026-03-03T01:00:00+00:00"})
    assert made.status_code == 201, made.text
    edit = await client.get(f"/companies/{world.acme.id}/maintenance/by-name", headers=h)
    checked = set(re.findall(r'name="assets" value="([^"]+)" checked', edit.text))
    assert checked == {world.db_id, "future-host"} and "future-host (no such asset yet)" in edit.text
    assert 'value="2026-03-03T01:00"' in edit.text  # 00:00 UTC shown in Europe/Berlin
    saved = await client.post(f"/companies/{world.acme.id}/maintenance/by-name", headers=h, data={
        "kind": "one_off", "start_local": "2026-03-03T01:00", "end_local": "2026-03-03T03:00", "scope": "assets",
        "assets": sorted(checked)})
    assert saved.status_code == 303
    (window,) = (await stored(sessionmaker, world.acme.id))["maintenance_windows"]
    assert sorted(window["assets"]) == sorted([world.db_id, "future-host"])
    assert window["end"] == "2026-03-03T03:00:00+01:00"
