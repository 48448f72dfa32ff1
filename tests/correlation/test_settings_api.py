"""Correlation settings API on SQLite and PostgreSQL: the policy and maintenance windows per company, their
validation, scoping and audit, and their effect on the next correlated alerts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
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
from alertwhisperer.correlation.models import Incident
from alertwhisperer.correlation.policy import CorrelationPolicy
from alertwhisperer.ingest.models import Alert
from alertwhisperer.jobs.registry import build_registry
from alertwhisperer.jobs.worker import Worker
from alertwhisperer.tenants.models import Company
from tests.auth.helpers import cheap_argon2  # noqa: F401  (autouse fixture)
from tests.correlation.replay_data import T0, am, zabbix
from tests.factories import MadeCompany, bearer, login, make_asset, make_company, make_user

SM = async_sessionmaker[AsyncSession]


def now(clock: FakeClock) -> float:
    """The clock's time as an offset from the payload builders' T0 (event times follow the clock)."""
    return (clock.now() - T0).total_seconds()


async def post(client: httpx.AsyncClient, company: MadeCompany, source: str, body: dict[str, Any]) -> list[str]:
    """Deliver a native payload to the company's webhook (as the tool would)."""
    r = await client.post(f"/api/webhooks/{source}", json=body, headers={"X-API-Key": company.api_key})
    assert r.status_code == 202, r.text
    ids: list[str] = r.json()["alert_ids"]
    return ids


async def drain(app: FastAPI, sessionmaker: SM, clock: FakeClock) -> int:
    """Run the queued jobs (the inbox job correlates the delivered alerts)."""
    return await Worker(sessionmaker, build_registry(), clock, hub=app.state.hub).run_until_idle()


async def incidents(sessionmaker: SM, company_id: str) -> list[Incident]:
    async with sessionmaker() as s:
        return list((await s.execute(select(Incident).where(Incident.company_id == company_id)
                                     .order_by(Incident.first_seen))).scalars())


@dataclass
class World:
    acme: MadeCompany
    other: MadeCompany
    db_id: str
    headers: dict[str, dict[str, str]]  # role -> auth headers
    emails: dict[str, str]

    async def fresh(self, client: httpx.AsyncClient, role: str = "admin") -> dict[str, str]:
        """Headers with a new access token (for tests that move the clock past a token's lifetime)."""
        return bearer(await login(client, self.emails[role]))


@pytest.fixture
async def world(client: httpx.AsyncClient, sessionmaker: SM, settings: Settings, clock: FakeClock) -> World:
    async with sessionmaker() as s:
        acme = await make_company(s, clock, "Acme")
        db = await make_asset(s, clock, acme.id, "db-01", ip="10.1.0.5", critical=True)
        await make_asset(s, clock, acme.id, "app-01", ip="10.1.0.10", depends_on=["db-01"])
        await make_asset(s, clock, acme.id, "web-01", ip="10.1.0.20", tags={"env": "prod"})
        await make_asset(s, clock, acme.id, "web-02", ip="10.1.0.21")
        await make_asset(s, clock, acme.id, "web-03", ip="10.1.0.22")
        await make_asset(s, clock, acme.id, "web-04", ip="10.1.0.23")
        other = await make_company(s, clock, "Other")
        emails = {
            "msp": await make_user(s, settings, clock, Role.MSP_ADMIN),
            "admin": await make_user(s, settings, clock, Role.COMPANY_ADMIN, [acme.id]),
            "tech": await make_user(s, settings, clock, Role.TECHNICIAN, [acme.id]),
            "other_admin": await make_user(s, settings, clock, Role.COMPANY_ADMIN, [other.id]),
        }
    headers = {role: bearer(await login(client, email)) for role, email in emails.items()}
    return World(acme, other, db.id, headers, emails)


def policy_url(w: World) -> str:
    return f"/api/companies/{w.acme.id}/correlation-policy"


def windows_url(w: World) -> str:
    return f"/api/companies/{w.acme.id}/maintenance-windows"


async def stored_settings(sessionmaker: SM, company_id: str) -> dict[str, Any]:
    async with sessionmaker() as s:
        company = await s.get(Company, company_id)
        assert company is not None
        return dict(company.settings)


async def audit_entries(sessionmaker: SM, prefix: str) -> list[AuditEntry]:
    async with sessionmaker() as s:
        return list((await s.execute(select(AuditEntry).where(AuditEntry.action.startswith(prefix))
                                     .order_by(AuditEntry.seq))).scalars())


async def test_policy_round_trip(client: httpx.AsyncClient, sessionmaker: SM, world: World) -> None:
    h = world.headers["admin"]
    r = await client.get(policy_url(world), headers=h)
    assert r.status_code == 200, r.text
    assert r.json() == CorrelationPolicy().model_dump(mode="json")  # every default shown
    changed = {**r.json(), "window_minutes": 10, "key": "labels", "key_labels": ["alertname", "service"],
               "topology_depth": 2, "transient_pause_minutes": 5, "flap_changes": 6}
    put = await client.put(policy_url(world), headers=h, json=changed)
    assert put.status_code == 200, put.text
    assert put.json() == changed
    assert (await client.get(policy_url(world), headers=h)).json() == changed
    # stored sparse (only what differs from the defaults), and it validates back to the same policy
    stored = (await stored_settings(sessionmaker, world.acme.id))["correlation"]
    assert stored == {"window_minutes": 10, "key": "labels", "key_labels": ["alertname", "service"],
                      "topology_depth": 2, "transient_pause_minutes": 5, "flap_changes": 6}
    assert CorrelationPolicy.model_validate(stored).model_dump(mode="json") == changed
    # the company API shows it in settings, and echoing the settings back keeps it
    company = (await client.get(f"/api/companies/{world.acme.id}", headers=h)).json()
    assert company["settings"]["correlation"] == stored and "maintenance_windows" not in company["policy"]
    patch = await client.patch(f"/api/companies/{world.acme.id}", headers=h,
                               json={"settings": {**company["settings"], "notes": "patched"}})
    assert patch.status_code == 200, patch.text
    assert (await client.get(policy_url(world), headers=h)).json() == changed
    # putting the same policy again changes nothing and writes no audit entry
    before = len(await audit_entries(sessionmaker, "correlation."))
    assert (await client.put(policy_url(world), headers=h, json=changed)).json() == changed
    assert len(await audit_entries(sessionmaker, "correlation.")) == before == 1
    # left-out fields go back to their defaults
    reset = await client.put(policy_url(world), headers=h, json={})
    assert reset.json() == CorrelationPolicy().model_dump(mode="json")
    assert (await stored_settings(sessionmaker, world.acme.id))["correlation"] == {}


@pytest.mark.parametrize(("body", "field"), [
    ({"window_minutes": 30}, "window_minutes"),
    ({"window_minutes": 4}, "window_minutes"),
    ({"key": "host"}, "key"),
    ({"key": "labels"}, "key_labels"),
    ({"topology_depth": "deep"}, "topology_depth"),
    ({"storm_classes": ["disk"]}, "storm_classes"),
    ({"flap_changes": 1}, "flap_changes"),
    ({"transient_pause_minutes": 0}, "transient_pause_minutes"),
    ({"no_such_setting": 1}, "no_such_setting"),
    ({"symptom_rules": [{"id": "r", "pattern": "(", "symptom": "disk"}]}, "symptom_rules.0.pattern"),
])
async def test_an_invalid_policy_is_refused_naming_the_field(client: httpx.AsyncClient, sessionmaker: SM,
                                                             world: World, body: dict[str, Any], field: str) -> None:
    r = await client.put(policy_url(world), headers=world.headers["admin"], json=body)
    assert r.status_code == 422, r.text
    assert r.json()["field"] == field and field in r.json()["message"]
    assert (await stored_settings(sessionmaker, world.acme.id))["correlation"] == {}


@pytest.mark.parametrize(("body", "field"), [
    ({"start": "2026-03-02T10:00:00+00:00", "end": "2026-03-02T09:00:00+00:00"}, "end"),
    ({"start": "2026-03-02T10:00:00", "end": "2026-03-02T11:00:00"}, "start"),
    ({"start": "2026-03-02T10:00:00+00:00"}, "start"),
    ({"weekly": {"days": ["mon"], "start": "22:00", "duration_minutes": 60, "timezone": "Mars/Olympus"}},
     "weekly.timezone"),
    ({"weekly": {"days": ["someday"], "start": "22:00", "duration_minutes": 60}}, "weekly.days.0"),
    ({"weekly": {"days": ["mon"], "start": "22:00", "duration_minutes": 0}}, "weekly.duration_minutes"),
    ({}, "weekly"),
    ({"id": "bad id!", "weekly": {"days": ["mon"], "start": "22:00", "duration_minutes": 60}}, "id"),
])
async def test_an_invalid_window_is_refused_naming_the_field(client: httpx.AsyncClient, world: World,
                                                             body: dict[str, Any], field: str) -> None:
    r = await client.post(windows_url(world), headers=world.headers["admin"], json=body)
    assert r.status_code == 422, r.text
    assert r.json()["field"] == field
    assert (await client.get(windows_url(world), headers=world.headers["admin"])).json() == []


async def test_scoping_and_roles(client: httpx.AsyncClient, sessionmaker: SM, world: World) -> None:
    window = {"name": "patching", "start": "2026-03-02T20:00:00+00:00", "end": "2026-03-02T22:00:00+00:00"}
    made = await client.post(windows_url(world), headers=world.headers["admin"], json=window)
    assert made.status_code == 201, made.text
    wid = made.json()["id"]
    other = world.headers["other_admin"]  # a company admin of another company: Acme does not exist for them
    assert (await client.get(policy_url(world), headers=other)).status_code == 404
    assert (await client.put(policy_url(world), headers=other, json={"window_minutes": 5})).status_code == 404
    assert (await client.get(windows_url(world), headers=other)).status_code == 404
    assert (await client.post(windows_url(world), headers=other, json=window)).status_code == 404
    assert (await client.put(f"{windows_url(world)}/{wid}", headers=other, json=window)).status_code == 404
    assert (await client.delete(f"{windows_url(world)}/{wid}", headers=other)).status_code == 404
    tech = world.headers["tech"]  # reads, never changes
    assert (await client.get(policy_url(world), headers=tech)).status_code == 200
    assert [w["id"] for w in (await client.get(windows_url(world), headers=tech)).json()] == [wid]
    assert (await client.put(policy_url(world), headers=tech, json={"window_minutes": 5})).status_code == 403
    assert (await client.post(windows_url(world), headers=tech, json=window)).status_code == 403
    assert (await client.put(f"{windows_url(world)}/{wid}", headers=tech, json=window)).status_code == 403
    assert (await client.delete(f"{windows_url(world)}/{wid}", headers=tech)).status_code == 403
    assert (await client.put(policy_url(world), headers=world.headers["msp"],
                             json={"window_minutes": 5})).status_code == 200
    assert (await client.get(policy_url(world), headers=world.headers["admin"])).json()["window_minutes"] == 5
    assert (await client.get(f"/api/companies/{world.other.id}/maintenance-windows",
                             headers=world.headers["admin"])).status_code == 404
    assert (await client.put(f"{windows_url(world)}/no-such-window", headers=world.headers["admin"],
                             json=window)).status_code == 404


async def test_windows_crud_is_audited_with_before_and_after(client: httpx.AsyncClient, sessionmaker: SM,
                                                             clock: FakeClock, world: World) -> None:
    h = world.headers["admin"]
    weekly = {"id": "patch-night", "name": "Patch night", "assets": [world.db_id],
              "weekly": {"days": ["mon", "thu"], "start": "22:00", "duration_minutes": 180,
                         "timezone": "Europe/Berlin"}}
    r = await client.post(windows_url(world), headers=h, json=weekly)
    assert r.status_code == 201, r.text
    # 2026-03-02 09:00 UTC is a Monday morning: next occurrence Monday 22:00 Berlin = 21:00 UTC
    assert r.json()["status"] == "scheduled"
    assert r.json()["current_or_next_start"].startswith("2026-03-02T21:00:00")
    assert (await client.post(windows_url(world), headers=h, json=weekly)).status_code == 409
    tags = {"name": "Staging", "tags": {"env": "prod"}, "start": "2026-03-02T06:00:00+01:00",
            "end": "2026-03-02T09:00:00+01:00"}
    created = (await client.post(windows_url(world), headers=h, json=tags)).json()
    assert created["id"] and created["current_or_next_end"].startswith("2026-03-02T09:00:00+01:00")
    listed = (await client.get(windows_url(world), headers=h)).json()
    assert [w["id"] for w in listed] == ["patch-night", created["id"]]
    assert listed[1]["status"] == "ended" and listed[1]["suppressed_alerts"] == 0  # ended 08:00 UTC
    # PUT takes GET's answer back (read-only fields ignored) with changes
    changed = {**listed[0], "weekly": {**listed[0]["weekly"], "duration_minutes": 60}}
    r = await client.put(f"{windows_url(world)}/patch-night", headers=h, json=changed)
    assert r.status_code == 200, r.text
    assert r.json()["weekly"]["duration_minutes"] == 60
    assert (await client.put(f"{windows_url(world)}/patch-night", headers=h,
                             json={**changed, "id": "renamed"})).json()["field"] == "id"
    assert (await client.delete(f"{windows_url(world)}/{created['id']}", headers=h)).status_code == 204
    assert [w["id"] for w in (await client.get(windows_url(world), headers=h)).json()] == ["patch-night"]
    stored = (await stored_settings(sessionmaker, world.acme.id))["correlation"]["maintenance_windows"]
    assert [w["id"] for w in stored] == ["patch-night"] and stored[0]["weekly"]["duration_minutes"] == 60
    # the policy PUT without maintenance_windows keeps them
    await client.put(policy_url(world), headers=h, json={"window_minutes": 12})
    assert [w["id"] for w in (await client.get(windows_url(world), headers=h)).json()] == ["patch-night"]
    entries = await audit_entries(sessionmaker, "maintenance_window.")
    assert [e.action for e in entries] == ["maintenance_window.created", "maintenance_window.created",
                                           "maintenance_window.updated", "maintenance_window.deleted"]
    assert all(e.company_id == world.acme.id and e.actor_role == "company_admin" for e in entries)
    created_entry, _, updated, deleted = entries
    assert created_entry.details["before"] is None and created_entry.details["after"]["name"] == "Patch night"
    assert updated.details["before"]["weekly"]["duration_minutes"] == 180
    assert updated.details["after"]["weekly"]["duration_minutes"] == 60
    assert deleted.details["before"]["name"] == "Staging" and deleted.details["after"] is None
    (policy_entry,) = await audit_entries(sessionmaker, "correlation.policy_changed")
    assert policy_entry.details["changes"] == {"window_minutes": {"from": 15, "to": 12}}


async def test_a_window_added_via_the_api_suppresses_the_next_alert(app: FastAPI, client: httpx.AsyncClient,
                                                                     sessionmaker: SM, clock: FakeClock,
                                                                     world: World) -> None:
    h = world.headers["admin"]
    # correlate once first so the company's tenant is cached: the change must still apply to the next alert
    await post(client, world.acme, "alertmanager", am("HighCPU", "10.1.0.10:9100", fingerprint="c1", at=now(clock)))
    await drain(app, sessionmaker, clock)
    start = clock.now() - timedelta(minutes=5)
    r = await client.post(windows_url(world), headers=h, json={
        "name": "DB upgrade", "assets": ["db-01"], "start": start.isoformat(),
        "end": (start + timedelta(hours=2)).isoformat()})
    assert r.status_code == 201, r.text
    clock.advance(seconds=30)
    (inside,) = await post(client, world.acme, "alertmanager", am("NodeFilesystemAlmostOutOfSpace", "10.1.0.5:9100",
                                                                  fingerprint="f1", at=now(clock)))
    (outside,) = await post(client, world.acme, "alertmanager", am("HostDown", "10.1.0.20:9100", fingerprint="f2",
                                                                   at=now(clock)))
    await drain(app, sessionmaker, clock)
    async with sessionmaker() as s:
        alerts = {a.id: a for a in (await s.execute(select(Alert))).scalars()}
    assert alerts[inside].outcome == "suppressed" and alerts[inside].incident_id is None
    assert "DB upgrade" in (alerts[inside].decision_reason or "")
    assert alerts[outside].outcome == "new_incident"
    rows = await incidents(sessionmaker, world.acme.id)
    assert sorted(r.root_asset_name for r in rows) == ["app-01", "web-01"]  # none for db-01
    (listed,) = (await client.get(windows_url(world), headers=h)).json()
    assert listed["status"] == "active" and listed["suppressed_alerts"] == 1
    # deleting the window: the next alert on db-01 opens an incident again
    await client.delete(f"{windows_url(world)}/{listed['id']}", headers=h)
    clock.advance(seconds=30)
    (after,) = await post(client, world.acme, "alertmanager", am("HighMemory", "10.1.0.5:9100", fingerprint="m1",
                                                                 at=now(clock)))
    await drain(app, sessionmaker, clock)
    async with sessionmaker() as s:
        row = await s.get(Alert, after)
        assert row is not None and row.outcome == "new_incident"


async def _incident_count(sessionmaker: SM, company_id: str, asset: str) -> int:
    async with sessionmaker() as s:
        rows = (await s.execute(select(Incident).where(Incident.company_id == company_id,
                                                       Incident.root_asset_name == asset))).scalars().all()
    return len(rows)


async def test_policy_changes_regroup_the_next_alerts(app: FastAPI, client: httpx.AsyncClient, sessionmaker: SM,
                                                      clock: FakeClock, world: World) -> None:
    h = world.headers["admin"]
    url = policy_url(world)

    async def disk_then(ip: str, n: int, *, gap: timedelta, second: str = "disk") -> None:
        await post(client, world.acme, "alertmanager", am("NodeFilesystemAlmostOutOfSpace", f"{ip}:9100",
                                                          fingerprint=f"d{n}", at=now(clock)))
        await drain(app, sessionmaker, clock)
        clock.advance(seconds=gap.total_seconds())
        if second == "disk":
            await post(client, world.acme, "zabbix", zabbix("Disk space is low on /", ip, event_id=f"z{n}",
                                                             at=now(clock)))
        else:
            await post(client, world.acme, "alertmanager", am("SSLCertExpiringSoon", f"{ip}:9100",
                                                              fingerprint=f"c{n}", at=now(clock)))
        await drain(app, sessionmaker, clock)
        clock.advance(minutes=30)

    assert (await client.put(url, headers=h, json={"window_minutes": 5,
                                                   "open_incident_horizon_minutes": 0})).status_code == 200
    await disk_then("10.1.0.20", 1, gap=timedelta(minutes=8))
    assert await _incident_count(sessionmaker, world.acme.id, "web-01") == 2  # 8 min apart > 5 min window
    h = await world.fresh(client)
    assert (await client.put(url, headers=h, json={"window_minutes": 15,
                                                   "open_incident_horizon_minutes": 0})).status_code == 200
    await disk_then("10.1.0.21", 2, gap=timedelta(minutes=8))
    assert await _incident_count(sessionmaker, world.acme.id, "web-02") == 1  # now within the window
    # grouping key: asset+symptom keeps a certificate warning apart from a disk incident; "asset" joins them
    await disk_then("10.1.0.22", 3, gap=timedelta(minutes=1), second="certificate")
    assert await _incident_count(sessionmaker, world.acme.id, "web-03") == 2
    h = await world.fresh(client)
    assert (await client.put(url, headers=h, json={"key": "asset"})).status_code == 200
    await disk_then("10.1.0.23", 4, gap=timedelta(minutes=1), second="certificate")
    assert await _incident_count(sessionmaker, world.acme.id, "web-04") == 1


async def test_legacy_policy_maintenance_windows_still_load_and_save(client: httpx.AsyncClient, sessionmaker: SM,
                                                                     world: World) -> None:
    async with sessionmaker() as s:  # a row written before windows moved to settings.correlation
        company = await s.get(Company, world.acme.id)
        assert company is not None
        company.policy = {"auto_approve_low_risk": False, "allow_auto_remediation": True, "maintenance_windows": []}
        await s.commit()
    h = world.headers["admin"]
    got = await client.get(f"/api/companies/{world.acme.id}", headers=h)
    assert got.status_code == 200 and got.json()["policy"] == {"auto_approve_low_risk": False,
                                                               "allow_auto_remediation": True}
    echo = {"auto_approve_low_risk": True, "allow_auto_remediation": True, "maintenance_windows": []}
    saved = await client.patch(f"/api/companies/{world.acme.id}", headers=h, json={"policy": echo})
    assert saved.status_code == 200, saved.text
    async with sessionmaker() as s:
        company = await s.get(Company, world.acme.id)
        assert company is not None and company.policy == {"auto_approve_low_risk": True,
                                                          "allow_auto_remediation": True}
    moved = await client.patch(f"/api/companies/{world.acme.id}", headers=h, json={"policy": {
        "maintenance_windows": [{"id": "w", "start": "2026-03-02T10:00:00Z", "end": "2026-03-02T11:00:00Z"}]}})
    assert moved.status_code == 422 and "settings.correlation.maintenance_windows" in moved.text
