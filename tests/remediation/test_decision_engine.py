"""The decision engine end to end at service level: real webhook deliveries open incidents (real correlation and
lifecycle jobs), the real runbook library matches them, real access and gates decide whether a run is queued or
waits for an approval. Both backends."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alertwhisperer.audit.models import AuditEntry
from alertwhisperer.auth.models import User
from alertwhisperer.auth.principal import Role
from alertwhisperer.clock import FakeClock
from alertwhisperer.config import Settings
from alertwhisperer.correlation.models import Incident
from alertwhisperer.correlation.service import RESOLVE_JOB, resolve_due_job
from alertwhisperer.incidents import flows as incident_flows
from alertwhisperer.incidents.models import IncidentEvent
from alertwhisperer.ingest.flows import process_delivery
from alertwhisperer.ingest.models import Alert
from alertwhisperer.ingest.service import PROCESS_JOB
from alertwhisperer.jobs.models import Job
from alertwhisperer.jobs.worker import Registry, Worker
from alertwhisperer.notify.models import Notification
from alertwhisperer.remediation import access, hooks
from alertwhisperer.remediation.access_schemas import AccessIn
from alertwhisperer.remediation.decision import decide, decide_job
from alertwhisperer.remediation.models import Decision, Execution
from alertwhisperer.tenants.models import Company
from tests.correlation.replay_data import T0, am
from tests.factories import MadeCompany, bearer, login, make_asset, make_company, make_user

SM = async_sessionmaker[AsyncSession]


@dataclass
class World:
    app: FastAPI
    client: httpx.AsyncClient
    sm: SM
    clock: FakeClock
    settings: Settings
    acme: MadeCompany
    assets: dict[str, str] = field(default_factory=dict)


def registry() -> Registry:
    """Ingest, correlation, the incident lifecycle and the decision engine (runs stay queued: no runner)."""
    reg = Registry()
    reg.register(PROCESS_JOB, process_delivery)
    reg.register(RESOLVE_JOB, resolve_due_job)
    incident_flows.register(reg)
    reg.register(hooks.DECIDE_JOB, decide_job)
    return reg


async def drain(w: World, settings: Settings | None = None) -> None:
    await Worker(w.sm, registry(), w.clock, hub=w.app.state.hub, settings=settings or w.settings).run_until_idle()


@pytest.fixture
async def world(
    app: FastAPI, client: httpx.AsyncClient, sessionmaker: SM, clock: FakeClock, settings: Settings
) -> World:
    async with sessionmaker() as s:
        acme = await make_company(s, clock, "Acme Dental")
        await make_user(s, settings, clock, Role.TECHNICIAN, [acme.id])
        await make_user(s, settings, clock, Role.COMPANY_ADMIN, [acme.id])
        w = World(app, client, sessionmaker, clock, settings, acme)
        for name, tags in (("web-1", {"role": "web"}), ("db-1", {}), ("bare-1", {})):
            w.assets[name] = (await make_asset(s, clock, acme.id, name, tags=tags)).id
        for name in ("web-1", "db-1"):  # bare-1 has no remote access
            await access.set_access(
                s, actor=None, settings=settings, clock=clock, asset_id=w.assets[name], data=AccessIn(executor="local")
            )
        await s.commit()
    return w


async def alert(w: World, alertname: str, host: str, *, run: bool = True) -> str:
    """Post one Alertmanager alert; with ``run`` let the jobs correlate and decide. Returns the incident id."""
    body = am(alertname, host, fingerprint=f"{alertname}-{host}", at=(w.clock.now() - T0).total_seconds())
    r = await w.client.post(
        "/api/webhooks/alertmanager",
        content=json.dumps(body),
        headers={"X-API-Key": w.acme.api_key, "Content-Type": "application/json"},
    )
    assert r.status_code == 202, r.text
    if run:
        await drain(w)
    async with w.sm() as s:
        row = await s.get(Alert, r.json()["alert_ids"][0])
        assert row is not None and row.incident_id
        return row.incident_id


async def decisions(w: World, incident_id: str) -> list[Decision]:
    async with w.sm() as s:
        return list(
            (
                await s.execute(
                    select(Decision).where(Decision.incident_id == incident_id).order_by(Decision.created_at)
                )
            ).scalars()
        )


async def only_decision(w: World, incident_id: str) -> Decision:
    found = await decisions(w, incident_id)
    assert len(found) == 1, [d.reasons for d in found]
    return found[0]


async def execution(w: World, execution_id: str | None) -> Execution:
    async with w.sm() as s:
        row = await s.get(Execution, execution_id)
        assert row is not None
        return row


async def runbook_entries(w: World, incident_id: str) -> list[IncidentEvent]:
    async with w.sm() as s:
        return list(
            (
                await s.execute(
                    select(IncidentEvent)
                    .where(
                        IncidentEvent.incident_id == incident_id,
                        IncidentEvent.kind == "runbook",
                        IncidentEvent.actor_name == "remediation (decision engine)",
                    )
                    .order_by(IncidentEvent.at)
                )
            ).scalars()
        )


async def set_policy(w: World, **policy: Any) -> None:
    async with w.sm() as s:
        company = await s.get(Company, w.acme.id)
        assert company is not None
        company.settings = {**(company.settings or {}), "remediation": policy}
        await s.commit()


async def test_low_risk_auto_approved_runbook_is_executed(world: World) -> None:
    incident_id = await alert(world, "NginxDown", "web-1")
    decision = await only_decision(world, incident_id)
    assert decision.action == "execute"
    run = await execution(world, decision.execution_id)
    assert (run.runbook_slug, run.status, run.trigger, run.asset_name) == ("restart-nginx", "queued", "auto", "web-1")
    assert run.decision_id == decision.id and run.incident_id == incident_id
    assert decision.reasons[0].startswith("best match: restart-nginx")
    assert "symptom service_down:nginx matches service_down:nginx exactly" in decision.reasons
    assert r"signature matches /(?i)\bnginx\b/ (read as 'nginx down')" in decision.reasons
    assert decision.reasons[-1] == "risk low and marked auto-approve: runs without an approval"
    chosen = [c for c in decision.candidates if c.get("chosen")]
    assert [c["slug"] for c in chosen] == ["restart-nginx"]
    assert {"restart-service"} <= {c["slug"] for c in decision.candidates}  # the generic one was considered too
    assert decision.advisor == {"provider": "off", "status": "off"}
    [entry] = await runbook_entries(world, incident_id)
    assert entry.body.startswith("Decided to run runbook “Restart nginx")
    assert entry.data["action"] == "execute" and entry.data["runbook"] == "restart-nginx"
    assert entry.data["execution_id"] == run.id and entry.data["reasons"] == decision.reasons
    async with world.sm() as s:
        audit = (await s.execute(select(AuditEntry).where(AuditEntry.action == "remediation.decided"))).scalar_one()
        job = (await s.execute(select(Job).where(Job.kind == hooks.EXECUTE_JOB))).scalar_one()
    assert audit.actor_email == "system" and audit.actor_id is None and audit.target_id == incident_id
    assert audit.details["action"] == "execute" and audit.details["execution_id"] == run.id
    assert job.payload == {"execution_id": run.id}


async def test_medium_risk_asks_a_company_admin(world: World) -> None:
    incident_id = await alert(world, "PostgresqlDown", "db-1")
    decision = await only_decision(world, incident_id)
    assert decision.action == "request_approval"
    run = await execution(world, decision.execution_id)
    assert (run.runbook_slug, run.status, run.approver_role) == (
        "restart-postgresql",
        "pending_approval",
        "company_admin",
    )
    assert decision.reasons[-1] == "risk medium needs a company admin's approval"
    [entry] = await runbook_entries(world, incident_id)
    assert "pending approval: risk medium needs a company admin's approval" in entry.body


async def test_company_policy_without_auto_run_forces_an_approval(world: World) -> None:
    await set_policy(world, auto_run=False)
    incident_id = await alert(world, "NginxDown", "web-1")
    decision = await only_decision(world, incident_id)
    assert decision.action == "request_approval"
    run = await execution(world, decision.execution_id)
    assert (run.runbook_slug, run.status) == ("restart-nginx", "pending_approval")
    assert decision.reasons[-1] == "company policy forbids auto-run: needs a company admin's approval"


async def test_policy_disabled_means_no_decision_at_all(world: World) -> None:
    await set_policy(world, enabled=False)
    incident_id = await alert(world, "NginxDown", "web-1")
    assert await decisions(world, incident_id) == []
    assert await runbook_entries(world, incident_id) == []
    async with world.sm() as s:
        assert (await s.execute(select(func.count()).select_from(Execution))).scalar_one() == 0


async def test_no_matching_runbook_escalates_on_the_timeline_only(world: World) -> None:
    incident_id = await alert(world, "SuspiciousOutboundTraffic", "web-1")
    decision = await only_decision(world, incident_id)
    assert decision.action == "escalate" and decision.execution_id is None and decision.runbook_id is None
    assert decision.reasons[0] == "no runbook matches security"
    [entry] = await runbook_entries(world, incident_id)
    assert entry.body == "No automatic fix: no runbook matches security. A technician should take it."
    assert entry.data["action"] == "escalate" and entry.data["runbook"] is None
    # reopened while assigned to someone: nothing was in reach, so no extra message beyond their assignment
    async with world.sm() as s:
        tech = (await s.execute(select(User).where(User.role == "technician"))).scalar_one()
        incident = await s.get(Incident, incident_id)
        assert incident is not None
        incident.assignee_id, incident.sla_started_at = tech.id, world.clock.advance(minutes=10)
        again = await decide(s, clock=world.clock, settings=world.settings, incident=incident)
        await s.commit()
    assert again is not None and again.action == "escalate"
    assert await escalations(world, incident_id) == []


async def escalations(w: World, incident_id: str) -> list[Notification]:
    async with w.sm() as s:
        return list(
            (
                await s.execute(
                    select(Notification).where(
                        Notification.incident_id == incident_id, Notification.kind == "escalation"
                    )
                )
            ).scalars()
        )


async def test_unknown_host_and_missing_access_escalate_with_the_reason(world: World) -> None:
    unknown = await alert(world, "NginxDown", "ghost-9")
    decision = await only_decision(world, unknown)
    assert decision.action == "escalate" and decision.execution_id is None
    assert "ghost-9 is not a known asset" in decision.reasons[0]
    bare = await alert(world, "NginxDown", "bare-1")
    decision = await only_decision(world, bare)
    assert decision.action == "escalate"
    assert decision.reasons[0] == "no remote access is configured for bare-1; set it up under Remote access"
    assert decision.reasons[1] == (
        "runbooks that would fit once it can be reached: restart-nginx, windows-service-restart, restart-service"
    )
    assert [c["slug"] for c in decision.candidates][:1] == ["restart-nginx"]  # it would have fitted
    async with world.sm() as s:
        assert (await s.execute(select(func.count()).select_from(Execution))).scalar_one() == 0


async def test_a_retry_or_a_second_call_does_not_decide_twice(world: World) -> None:
    incident_id = await alert(world, "NginxDown", "web-1")
    first = await only_decision(world, incident_id)
    async with world.sm() as s:
        incident = await s.get(Incident, incident_id)
        assert incident is not None
        assert await decide(s, clock=world.clock, settings=world.settings, incident=incident) is None
        await s.commit()
        # the same job again (a retry after a crash after commit): keyed, so nothing new is even enqueued
        await hooks.request_decision(
            s, company_id=world.acme.id, incident_id=incident_id, opening=incident.sla_started_at, now=world.clock.now()
        )
        await s.commit()
    await drain(world)
    assert [d.id for d in await decisions(world, incident_id)] == [first.id]
    async with world.sm() as s:
        assert (await s.execute(select(func.count()).select_from(Execution))).scalar_one() == 1
    assert len(await runbook_entries(world, incident_id)) == 1


async def test_a_reopened_incident_is_decided_again(world: World) -> None:
    incident_id = await alert(world, "PostgresqlDown", "db-1")
    world.clock.advance(minutes=30)
    async with world.sm() as s:
        incident = await s.get(Incident, incident_id)
        assert incident is not None
        incident.sla_started_at = world.clock.now()  # what the lifecycle does on a reopen
        again = await decide(s, clock=world.clock, settings=world.settings, incident=incident)
        await s.commit()
    assert again is not None and again.action == "request_approval"
    assert len(await decisions(world, incident_id)) == 2


async def test_reopened_after_a_person_resolved_it_is_decided_again(world: World) -> None:
    """A resolve by a person (or a runbook) keeps the reopen count, so the decision key is the opening time."""
    incident_id = await alert(world, "PostgresqlDown", "db-1")
    async with world.sm() as s:
        incident = await s.get(Incident, incident_id)
        assert incident is not None
        incident.status, incident.resolution_kind, incident.resolved_at = "resolved", "manual", world.clock.now()
        await s.commit()
    world.clock.advance(minutes=30)
    again = await alert(world, "PostgresqlServiceDown", "db-1")  # another alert of it fires: reopened
    assert again == incident_id
    async with world.sm() as s:
        incident = await s.get(Incident, incident_id)
        assert incident is not None and incident.status == "new" and incident.reopen_count == 0
    assert len(await decisions(world, incident_id)) == 2


async def test_a_resolved_incident_is_left_alone(world: World) -> None:
    incident_id = await alert(world, "NginxDown", "web-1")  # decided once
    async with world.sm() as s:
        incident = await s.get(Incident, incident_id)
        assert incident is not None
        incident.status = "resolved"
        incident.sla_started_at = world.clock.advance(minutes=5)
        assert await decide(s, clock=world.clock, settings=world.settings, incident=incident) is None


async def redecide(w: World, incident_id: str) -> Decision:
    """Decide again as if the incident had reopened (a new opening)."""
    async with w.sm() as s:
        incident = await s.get(Incident, incident_id)
        assert incident is not None
        incident.sla_started_at = w.clock.now()
        decision = await decide(s, clock=w.clock, settings=w.settings, incident=incident)
        await s.commit()
    assert decision is not None
    return decision


async def test_cooldown_and_loop_guard_pass_over_a_runbook_that_just_ran(world: World) -> None:
    incident_id = await alert(world, "NginxDown", "web-1")
    first = await only_decision(world, incident_id)
    async with world.sm() as s:  # the run happened (what the runner records)
        run = await s.get(Execution, first.execution_id)
        assert run is not None
        run.status, run.dispatched_at, run.finished_at = "succeeded", world.clock.now(), world.clock.now()
        await s.commit()
    world.clock.advance(minutes=2)
    cooled = await redecide(world, incident_id)
    rejected = {c["slug"]: c["rejected"] for c in cooled.candidates if c.get("rejected")}
    assert rejected["restart-nginx"] == "cooldown: its last run here finished 2 min ago (cooldown 10 min)"
    assert cooled.action == "request_approval"  # the next fit, medium risk: a person decides
    assert (await execution(world, cooled.execution_id)).runbook_slug == "restart-service"
    await set_policy(world, max_runs_per_hour=1)
    world.clock.advance(minutes=20)  # cooldown over; still within the hour
    guarded = await redecide(world, incident_id)
    rejected = {c["slug"]: c["rejected"] for c in guarded.candidates if c.get("rejected")}
    assert rejected["restart-nginx"] == "loop guard: ran once on this asset in the last hour (the limit is 1)"
    async with world.sm() as s:  # restart-service ran too, and someone owns the incident now
        for execution_id in (cooled.execution_id, guarded.execution_id):
            run = await s.get(Execution, execution_id)
            assert run is not None
            run.status, run.dispatched_at, run.finished_at = "succeeded", world.clock.now(), world.clock.now()
        tech = (await s.execute(select(User).where(User.role == "technician"))).scalar_one()
        incident = await s.get(Incident, incident_id)
        assert incident is not None
        incident.assignee_id = tech.id
        await s.commit()
    world.clock.advance(minutes=15)
    stopped = await redecide(world, incident_id)
    assert stopped.action == "escalate" and stopped.execution_id is None, stopped.reasons
    [note] = await escalations(world, incident_id)  # automation was in reach and held back: they hear it
    assert note.user_id == tech.id and "loop guard" in note.body + " ".join(stopped.reasons)


async def test_the_policy_page_lists_the_latest_decisions(world: World) -> None:
    executed = await alert(world, "NginxDown", "web-1")
    escalated = await alert(world, "SuspiciousOutboundTraffic", "db-1")
    async with world.sm() as s:
        email = await make_user(s, world.settings, world.clock, Role.MSP_ADMIN)
    page = await world.client.get(
        f"/companies/{world.acme.id}/remediation", headers=bearer(await login(world.client, email))
    )
    assert page.status_code == 200 and "No decisions yet" not in page.text
    rows = re.findall(r'data-testid="decision-row" data-action="(\w+)"', page.text)
    assert sorted(rows) == ["escalate", "execute"]
    assert f'href="/incidents/{executed}"' in page.text and f'href="/incidents/{escalated}"' in page.text
    assert "restart-nginx v1" in page.text and "Ran automatically" in page.text and "Escalated" in page.text
