"""A world for the incident lifecycle tests: two companies, their people, and incidents opened by real webhook
deliveries correlated by the real inbox job (only ingest's jobs run, so no automatic assignment or SLA job
interferes with what a test checks)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import httpx
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alertwhisperer.audit.models import AuditEntry
from alertwhisperer.auth.models import User
from alertwhisperer.auth.principal import Role
from alertwhisperer.clock import FakeClock
from alertwhisperer.config import Settings
from alertwhisperer.correlation.models import Incident
from alertwhisperer.correlation.service import RESOLVE_JOB, resolve_due_job
from alertwhisperer.incidents.models import IncidentEvent
from alertwhisperer.ingest.flows import process_delivery
from alertwhisperer.ingest.models import Alert
from alertwhisperer.ingest.service import PROCESS_JOB
from alertwhisperer.jobs.worker import Registry, Worker
from tests.correlation.replay_data import T0, am
from tests.factories import MadeCompany, bearer, login, make_company, make_user

SM = async_sessionmaker[AsyncSession]
ROLES = ("admin", "tech", "tech2", "msp", "other")


@dataclass
class World:
    acme: MadeCompany
    globex: MadeCompany
    emails: dict[str, str]
    ids: dict[str, str]
    auth: dict[str, dict[str, str]] = field(default_factory=dict)


def ingest_registry() -> Registry:
    registry = Registry()
    registry.register(PROCESS_JOB, process_delivery)
    registry.register(RESOLVE_JOB, resolve_due_job)
    return registry


async def drain(app: FastAPI, sm: SM, clock: FakeClock) -> None:
    await Worker(sm, ingest_registry(), clock, hub=app.state.hub).run_until_idle()


async def build(client: httpx.AsyncClient, sm: SM, settings: Settings, clock: FakeClock) -> World:
    async with sm() as s:
        acme = await make_company(s, clock, "Acme Dental")
        globex = await make_company(s, clock, "Globex Hidden")
        emails = {"admin": await make_user(s, settings, clock, Role.COMPANY_ADMIN, [acme.id]),
                  "tech": await make_user(s, settings, clock, Role.TECHNICIAN, [acme.id]),
                  "tech2": await make_user(s, settings, clock, Role.TECHNICIAN, [acme.id]),
                  "msp": await make_user(s, settings, clock, Role.MSP_ADMIN),
                  "other": await make_user(s, settings, clock, Role.TECHNICIAN, [globex.id])}
        users = {u.email: u.id for u in (await s.execute(select(User))).scalars()}
    w = World(acme, globex, emails, {role: users[email] for role, email in emails.items()})
    await relogin(client, w)
    return w


async def relogin(client: httpx.AsyncClient, w: World) -> None:
    """Fresh access tokens (after the fake clock moved past their lifetime)."""
    for role in ROLES:
        w.auth[role] = bearer(await login(client, w.emails[role]))


async def open_incident(app: FastAPI, client: httpx.AsyncClient, sm: SM, clock: FakeClock, company: MadeCompany,
                        alertname: str, host: str, *, fingerprint: str | None = None) -> str:
    """Post one Alertmanager alert and correlate it; returns the incident it opened (or joined)."""
    at = (clock.now() - T0).total_seconds()
    body = am(alertname, host, fingerprint=fingerprint or f"{alertname}-{host}", at=at)
    r = await client.post("/api/webhooks/alertmanager", content=json.dumps(body),
                          headers={"X-API-Key": company.api_key, "Content-Type": "application/json"})
    assert r.status_code == 202, r.text
    alert_id = r.json()["alert_ids"][0]
    await drain(app, sm, clock)
    async with sm() as s:
        alert = await s.get(Alert, alert_id)
        assert alert is not None and alert.incident_id, "the alert was not correlated into an incident"
        return alert.incident_id


async def incident(sm: SM, incident_id: str) -> Incident:
    async with sm() as s:
        row = await s.get(Incident, incident_id)
        assert row is not None
        return row


async def audit_actions(sm: SM, incident_id: str) -> list[str]:
    async with sm() as s:
        rows = await s.execute(select(AuditEntry.action).where(AuditEntry.target_id == incident_id)
                               .order_by(AuditEntry.seq))
        return list(rows.scalars())


async def events(sm: SM, incident_id: str) -> list[IncidentEvent]:
    async with sm() as s:
        rows = await s.execute(select(IncidentEvent).where(IncidentEvent.incident_id == incident_id)
                               .order_by(IncidentEvent.at, IncidentEvent.id))
        return list(rows.scalars())
