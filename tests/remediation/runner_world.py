"""A world for the runner and executions tests: two companies, their people, an asset reached by the real local
executor, runbooks written as rows of the real models, incidents opened by real webhook deliveries, and a worker
that runs the real ingest, lifecycle, SLA and runner jobs (not the decision engine, so only the runs a test asks
for happen)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alertwhisperer.auth.models import User
from alertwhisperer.auth.principal import Principal, Role
from alertwhisperer.clock import FakeClock
from alertwhisperer.config import Settings
from alertwhisperer.correlation.service import RESOLVE_JOB, resolve_due_job
from alertwhisperer.incidents import flows as incident_flows
from alertwhisperer.incidents import sla
from alertwhisperer.ingest.flows import process_delivery
from alertwhisperer.ingest.service import PROCESS_JOB
from alertwhisperer.jobs.worker import Registry, Worker
from alertwhisperer.realtime.hub import publish_pending
from alertwhisperer.remediation import access, gates, hooks, runner
from alertwhisperer.remediation.access_schemas import AccessIn
from alertwhisperer.remediation.models import Execution, ExecutionChunk, Runbook, RunbookVersion
from alertwhisperer.remediation.spec import RunbookSpec, spec_hash
from alertwhisperer.tenants.models import Company
from tests.factories import MadeCompany, bearer, login, make_asset, make_company, make_user
from tests.incidents import lifecycle_world

SM = async_sessionmaker[AsyncSession]
ROLES = ("admin", "tech", "tech2", "msp", "other")


def registry() -> Registry:
    reg = Registry()
    reg.register(PROCESS_JOB, process_delivery, urgent=True)
    reg.register(RESOLVE_JOB, resolve_due_job)
    incident_flows.register(reg)
    sla.register(reg)
    reg.register(hooks.EXECUTE_JOB, runner.execute_job, background=True)
    reg.register(hooks.VERIFY_JOB, runner.verify_job)
    return reg


@dataclass
class World:
    app: FastAPI
    client: httpx.AsyncClient
    sm: SM
    settings: Settings
    clock: FakeClock
    acme: MadeCompany
    globex: MadeCompany
    asset_id: str
    other_asset_id: str
    emails: dict[str, str]
    ids: dict[str, str]
    auth: dict[str, dict[str, str]] = field(default_factory=dict)

    def worker(self) -> Worker:
        return Worker(self.sm, registry(), self.clock, hub=self.app.state.hub, settings=self.settings)

    async def drain(self) -> int:
        return await self.worker().run_until_idle()

    def principal(self, role: str) -> Principal:
        company_ids = {
            "admin": [self.acme.id],
            "tech": [self.acme.id],
            "tech2": [self.acme.id],
            "msp": [],
            "other": [self.globex.id],
        }[role]
        kind = {"admin": Role.COMPANY_ADMIN, "msp": Role.MSP_ADMIN}.get(role, Role.TECHNICIAN)
        return Principal(user_id=self.ids[role], email=self.emails[role], role=kind, company_ids=frozenset(company_ids))

    async def relogin(self) -> None:
        for role in ROLES:
            self.auth[role] = bearer(await login(self.client, self.emails[role]))


async def build(app: FastAPI, client: httpx.AsyncClient, sm: SM, settings: Settings, clock: FakeClock) -> World:
    async with sm() as s:
        acme = await make_company(s, clock, "Acme Dental")
        globex = await make_company(s, clock, "Globex Hidden")
        emails = {
            "admin": await make_user(s, settings, clock, Role.COMPANY_ADMIN, [acme.id]),
            "tech": await make_user(s, settings, clock, Role.TECHNICIAN, [acme.id]),
            "tech2": await make_user(s, settings, clock, Role.TECHNICIAN, [acme.id]),
            "msp": await make_user(s, settings, clock, Role.MSP_ADMIN),
            "other": await make_user(s, settings, clock, Role.TECHNICIAN, [globex.id]),
        }
        users = {u.email: u.id for u in (await s.execute(select(User))).scalars()}
        asset = await make_asset(s, clock, acme.id, "web-01")
        other = await make_asset(s, clock, globex.id, "db-09")
        for asset_id in (asset.id, other.id):
            await access.set_access(
                s, actor=None, settings=settings, clock=clock, asset_id=asset_id, data=AccessIn(executor="local")
            )
        await s.commit()
    w = World(
        app,
        client,
        sm,
        settings,
        clock,
        acme,
        globex,
        asset.id,
        other.id,
        emails,
        {role: users[email] for role, email in emails.items()},
    )
    await w.relogin()
    return w


def spec_dict(
    name: str, steps: list[str], *, risk: str = "low", auto_approve: bool = True, **extra: Any
) -> dict[str, Any]:
    """A runbook spec whose linux steps are the given shell lines (one step each)."""
    data: dict[str, Any] = {
        "name": name,
        "title": name.replace("-", " ").title(),
        "risk": risk,
        "auto_approve": auto_approve and risk == "low",
        "steps": {"linux": [{"name": f"step {i + 1}", "run": run} for i, run in enumerate(steps)]},
    }
    data.update(extra)
    return data


async def add_runbook(w: World, data: dict[str, Any], *, company_id: str | None = None) -> tuple[str, str]:
    """Store a runbook (library, or a company's) with its first version; returns (runbook id, version id)."""
    spec = RunbookSpec.model_validate(data)
    async with w.sm() as s:
        runbook = Runbook(
            scope=company_id or "",
            company_id=company_id,
            slug=spec.name,
            title=spec.title,
            risk=spec.risk,
            category=spec.category,
            enabled=True,
            builtin=False,
            current_version=1,
            created_at=w.clock.now(),
            updated_at=w.clock.now(),
        )
        s.add(runbook)
        await s.flush()
        version = RunbookVersion(
            runbook_id=runbook.id,
            company_id=company_id,
            version=1,
            yaml="# test\n",
            spec=spec.model_dump(mode="json"),
            spec_hash=spec_hash(spec),
            created_at=w.clock.now(),
        )
        s.add(version)
        await s.commit()
        return runbook.id, version.id


async def request(
    w: World,
    version_id: str,
    *,
    params: dict[str, Any] | None = None,
    incident_id: str | None = None,
    asset_id: str | None = None,
    company: MadeCompany | None = None,
) -> str:
    """An automatic request through the real gates; returns the execution id."""
    async with w.sm() as s:
        execution = await gates.request(
            s,
            clock=w.clock,
            settings=w.settings,
            company_id=(company or w.acme).id,
            runbook_version_id=version_id,
            params=params or {},
            asset_id=asset_id or w.asset_id,
            incident_id=incident_id,
            actor=None,
            trigger="auto",
        )
        await s.commit()
        await publish_pending(s, w.app.state.hub)
        return execution.id


async def execution(w: World, execution_id: str) -> Execution:
    async with w.sm() as s:
        row = await s.get(Execution, execution_id)
        assert row is not None
        return row


async def chunks(w: World, execution_id: str) -> list[ExecutionChunk]:
    async with w.sm() as s:
        rows = await s.execute(
            select(ExecutionChunk).where(ExecutionChunk.execution_id == execution_id).order_by(ExecutionChunk.seq)
        )
        return list(rows.scalars())


async def open_incident(w: World, alertname: str = "HighDiskUsage", host: str = "web-01") -> str:
    return await lifecycle_world.open_incident(w.app, w.client, w.sm, w.clock, w.acme, alertname, host)


async def set_policy(w: World, company_id: str, **values: Any) -> None:
    async with w.sm() as s:
        company = await s.get(Company, company_id)
        assert company is not None
        company.settings = {**(company.settings or {}), "remediation": values}
        await s.commit()


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []
