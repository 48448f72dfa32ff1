"""The correlation service behind the inbox job, on SQLite and PostgreSQL: incidents, idempotency, resolve holds,
discovered assets and the scoped read API."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alertwhisperer.auth.principal import Role
from alertwhisperer.clock import FakeClock
from alertwhisperer.config import Settings
from alertwhisperer.correlation import service
from alertwhisperer.correlation.models import CorrelationState, Incident, IncidentAlert
from alertwhisperer.ingest.models import Alert
from alertwhisperer.jobs.models import Job
from alertwhisperer.jobs.registry import build_registry
from alertwhisperer.jobs.worker import Worker
from alertwhisperer.tenants.models import Asset
from tests.auth.helpers import cheap_argon2  # noqa: F401  (autouse fixture)
from tests.correlation.replay_data import T0, am, zabbix
from tests.factories import MadeCompany, bearer, login, make_asset, make_company, make_user

SM = async_sessionmaker[AsyncSession]


def now(clock: FakeClock) -> float:
    """The clock's time as an offset from the payload builders' T0 (event times follow the clock)."""
    return (clock.now() - T0).total_seconds()


@pytest.fixture
async def acme(sessionmaker: SM, clock: FakeClock) -> MadeCompany:
    async with sessionmaker() as s:
        made = await make_company(s, clock, "Acme")
        await make_asset(s, clock, made.id, "db-01", ip="10.1.0.5", critical=True)
        await make_asset(s, clock, made.id, "app-01", depends_on=["db-01"], ip="10.1.0.10")
        return made


async def post(client: httpx.AsyncClient, company: MadeCompany, source: str, body: dict[str, Any],
               **headers: str) -> list[str]:
    r = await client.post(f"/api/webhooks/{source}", content=json.dumps(body),
                          headers={"X-API-Key": company.api_key, "Content-Type": "application/json", **headers})
    assert r.status_code == 202, r.text
    ids: list[str] = r.json()["alert_ids"]
    return ids


async def drain(app: FastAPI, sessionmaker: SM, clock: FakeClock) -> int:
    return await Worker(sessionmaker, build_registry(), clock, hub=app.state.hub).run_until_idle()


async def incidents(sessionmaker: SM, company_id: str) -> list[Incident]:
    async with sessionmaker() as s:
        return list((await s.execute(select(Incident).where(Incident.company_id == company_id)
                                     .order_by(Incident.first_seen))).scalars())


async def test_a_deliverys_alerts_create_and_join_incidents(app: FastAPI, client: httpx.AsyncClient,
                                                            sessionmaker: SM, clock: FakeClock,
                                                            acme: MadeCompany) -> None:
    first = await post(client, acme, "alertmanager", am("NodeFilesystemAlmostOutOfSpace", "10.1.0.5:9100",
                                                       fingerprint="f1", at=now(clock)))
    clock.advance(seconds=30)
    second = await post(client, acme, "zabbix", zabbix("Disk space is low on /", "DB-01", event_id="z1", at=now(clock)))
    clock.advance(seconds=30)
    third = await post(client, acme, "alertmanager", am("HostDown", "mystery-07:9100", fingerprint="f2", at=now(clock)))
    assert await drain(app, sessionmaker, clock) >= 1
    rows = await incidents(sessionmaker, acme.id)
    assert len(rows) == 2
    disk, down = rows
    assert disk.status == "new" and disk.alert_count == 2 and disk.tools == ["alertmanager", "zabbix"]
    assert disk.root_asset_name == "db-01" and disk.symptom == "disk" and disk.severity == "critical"
    assert disk.priority == sum(c["points"] for c in disk.priority_breakdown)
    assert down.root_asset_key == "discovered:mystery-07"
    async with sessionmaker() as s:
        alerts = {a.id: a for a in (await s.execute(select(Alert))).scalars()}
        assert alerts[first[0]].outcome == "new_incident" and alerts[first[0]].incident_id == disk.id
        assert alerts[second[0]].outcome == "correlated" and alerts[second[0]].incident_id == disk.id
        assert alerts[third[0]].outcome == "new_incident" and alerts[third[0]].incident_id == down.id
        links = (await s.execute(select(IncidentAlert).where(IncidentAlert.incident_id == disk.id))).scalars().all()
        assert {link.alert_id for link in links} == {first[0], second[0]}
        assert all(link.explanation["rule"] in ("new", "key") for link in links)
        discovered = (await s.execute(select(Asset).where(Asset.company_id == acme.id,
                                                          Asset.discovered.is_(True)))).scalars().all()
        assert [a.name for a in discovered] == ["mystery-07"]


async def test_a_retried_job_does_not_apply_twice(app: FastAPI, client: httpx.AsyncClient, sessionmaker: SM,
                                                  clock: FakeClock, acme: MadeCompany) -> None:
    await post(client, acme, "alertmanager", am("HighCPU", "10.1.0.10:9100", fingerprint="c1", at=now(clock)))
    await drain(app, sessionmaker, clock)
    async with sessionmaker() as s:
        delivery_ids = list((await s.execute(select(Alert.delivery_id))).scalars())
        before = (await s.execute(select(Incident.id, Incident.alert_count, Incident.duplicate_count))).all()
        calls = await s.scalar(select(CorrelationState.calls))
    service.clear_cache()  # also as another process would see it: state from the database
    async with sessionmaker() as s:
        assert await service.correlate_deliveries(s, now=clock.now(), delivery_ids=delivery_ids) == []
        await s.commit()
    async with sessionmaker() as s:
        assert (await s.execute(select(Incident.id, Incident.alert_count, Incident.duplicate_count))).all() == before
        assert await s.scalar(select(func.count()).select_from(IncidentAlert)) == 1
        assert await s.scalar(select(CorrelationState.calls)) == calls == 1
    # The state reloaded from the database keeps correlating: a repeat is a duplicate of the same incident.
    await post(client, acme, "alertmanager", am("HighCPU", "10.1.0.10:9100", fingerprint="c1", at=now(clock)))
    await drain(app, sessionmaker, clock)
    rows = await incidents(sessionmaker, acme.id)
    assert len(rows) == 1 and rows[0].duplicate_count == 1


async def test_the_resolve_hold_job_resolves_the_incident(app: FastAPI, client: httpx.AsyncClient,
                                                         sessionmaker: SM, clock: FakeClock,
                                                         acme: MadeCompany) -> None:
    await post(client, acme, "alertmanager", am("HighCPU", "10.1.0.10:9100", fingerprint="c1", at=now(clock)))
    await drain(app, sessionmaker, clock)
    clock.advance(minutes=10)
    await post(client, acme, "alertmanager", am("HighCPU", "10.1.0.10:9100", status="resolved",
                                                fingerprint="c1", at=now(clock)))
    await drain(app, sessionmaker, clock)
    (incident,) = await incidents(sessionmaker, acme.id)
    assert incident.status == "new" and incident.resolves_at is not None
    async with sessionmaker() as s:
        job = (await s.execute(select(Job).where(Job.kind == service.RESOLVE_JOB))).scalar_one()
        assert job.due_at == incident.resolves_at and job.payload["incident_id"] == incident.id
    clock.set(incident.resolves_at)
    clock.advance(seconds=1)
    assert await drain(app, sessionmaker, clock) >= 1  # the hold, then the lifecycle job (and any SLA timer due)
    async with sessionmaker() as s:
        assert (await s.get(Job, job.id)).status == "done"  # type: ignore[union-attr]
    (incident,) = await incidents(sessionmaker, acme.id)
    assert incident.status == "resolved" and incident.resolved_at is not None and incident.resolution_kind == "auto"
    assert incident.time_to_resolve_seconds is not None and incident.time_to_resolve_seconds > 0


async def test_incidents_api_is_scoped_by_company(app: FastAPI, client: httpx.AsyncClient, sessionmaker: SM,
                                                   clock: FakeClock, settings: Settings,
                                                   acme: MadeCompany) -> None:
    async with sessionmaker() as s:
        other = await make_company(s, clock, "Other")
        email = await make_user(s, settings, clock, Role.TECHNICIAN, company_ids=[acme.id])
    await post(client, acme, "alertmanager", am("HighCPU", "10.1.0.10:9100", fingerprint="c1", at=now(clock)))
    await post(client, other, "alertmanager", am("HighCPU", "web-9:9100", fingerprint="c9", at=now(clock)))
    await drain(app, sessionmaker, clock)
    (mine,) = await incidents(sessionmaker, acme.id)
    (theirs,) = await incidents(sessionmaker, other.id)
    headers = bearer(await login(client, email))
    r = await client.get("/api/incidents", headers=headers)
    assert r.status_code == 200 and [i["id"] for i in r.json()] == [mine.id]
    assert (await client.get("/api/incidents", headers=headers, params={"company": other.id})).json() == []
    assert (await client.get(f"/api/incidents/{theirs.id}", headers=headers)).status_code == 404
    r = await client.get(f"/api/incidents/{mine.id}", headers=headers)
    assert r.status_code == 200, r.text
    detail = r.json()
    assert detail["root_asset_name"] == "app-01" and detail["tools"] == ["alertmanager"]
    assert [a["kind"] for a in detail["alerts"]] == ["new_incident"]
    assert detail["alerts"][0]["explanation"]["rule"] == "new" and detail["priority_breakdown"]


async def test_a_reloaded_state_replays_the_log_after_its_snapshot(app: FastAPI, client: httpx.AsyncClient,
                                                                   sessionmaker: SM, clock: FakeClock,
                                                                   acme: MadeCompany) -> None:
    """Another process (or a restart) rebuilds the state from the snapshot plus the alerts correlated since."""
    await post(client, acme, "alertmanager", am("HighCPU", "10.1.0.10:9100", fingerprint="c1", at=now(clock)))
    await drain(app, sessionmaker, clock)  # the first snapshot (after 1 call)
    clock.advance(seconds=20)
    await post(client, acme, "zabbix", zabbix("Disk space is low on /", "db-01", event_id="z1", at=now(clock)))
    clock.advance(seconds=20)
    await post(client, acme, "alertmanager", am("NodeFilesystemAlmostOutOfSpace", "10.1.0.5:9100",
                                                fingerprint="f1", at=now(clock)))
    await drain(app, sessionmaker, clock)
    async with sessionmaker() as s:
        assert await s.scalar(select(CorrelationState.calls)) == 1  # the log holds calls 2 and 3
        seqs = sorted((await s.execute(select(Alert.correlation_seq))).scalars())
        assert seqs == [1, 2, 3]
    service.clear_cache()
    clock.advance(seconds=20)
    await post(client, acme, "zabbix", zabbix("Disk space is low on /", "db-01", event_id="z1", at=now(clock)))
    await post(client, acme, "alertmanager", am("HighCPU", "10.1.0.10:9100", fingerprint="c1", at=now(clock)))
    await drain(app, sessionmaker, clock)
    rows = await incidents(sessionmaker, acme.id)
    assert len(rows) == 2  # the replayed log knew both incidents: the repeats joined them
    cpu, disk = rows
    assert (cpu.alert_count, cpu.duplicate_count) == (1, 1) and (disk.alert_count, disk.duplicate_count) == (2, 1)
    async with sessionmaker() as s:
        outcomes = sorted((await s.execute(select(Alert.outcome))).scalars())
    assert outcomes == ["correlated", "duplicate", "duplicate", "new_incident", "new_incident"]
