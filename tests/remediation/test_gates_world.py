"""A world for the approval-gate tests (no tests here): two companies and their people, an asset with local
access in each, the shipped runbook library (through the runbook service) plus one high-risk company runbook,
and helpers to make requests through ``gates.request``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alertwhisperer.audit.models import AuditEntry
from alertwhisperer.auth.models import User
from alertwhisperer.auth.principal import Principal, Role
from alertwhisperer.auth.service import principal_for
from alertwhisperer.clock import FakeClock
from alertwhisperer.config import Settings
from alertwhisperer.db import make_engine, make_sessionmaker
from alertwhisperer.notify.models import Notification
from alertwhisperer.remediation import gates, runbooks, spec
from alertwhisperer.remediation.models import AssetAccess, Execution, Runbook, RunbookVersion
from alertwhisperer.tenants.models import Company
from tests.factories import MadeCompany, bearer, login, make_asset, make_company, make_user

SM = async_sessionmaker[AsyncSession]
# who: (role, company) — "a" is the company the requests are for, "b" another one
PEOPLE: dict[str, tuple[Role, str | None]] = {
    "tech": (Role.TECHNICIAN, "a"),
    "tech2": (Role.TECHNICIAN, "a"),
    "admin": (Role.COMPANY_ADMIN, "a"),
    "admin2": (Role.COMPANY_ADMIN, "a"),
    "admin_b": (Role.COMPANY_ADMIN, "b"),
    "msp": (Role.MSP_ADMIN, None),
    "msp2": (Role.MSP_ADMIN, None),
}
# slug of a runbook per rule-table row (risk, auto_approve)
LOW_AUTO = "disk-cleanup"  # low + auto_approve
LOW = "log-rotation"  # low, no auto_approve
MEDIUM = "restart-service"  # medium
HIGH = "wipe-cache-high"  # high (a company runbook made here)

HIGH_YAML = """\
name: wipe-cache-high
title: Wipe the application cache (high risk test runbook)
category: cache
risk: high
parameters:
  - name: path
    default: /tmp/aw-cache
    pattern: '/[A-Za-z0-9_./-]+'
steps:
  linux:
    - name: Wipe
      run: rm -rf {{ path }}/*
"""


@pytest.fixture
async def sm(db_url: str) -> AsyncIterator[SM]:
    """A session factory on the test database, without the app (service-level tests)."""
    engine = make_engine(db_url)
    try:
        yield make_sessionmaker(engine)
    finally:
        await engine.dispose()


@dataclass
class World:
    a: MadeCompany
    b: MadeCompany
    asset_a: str
    asset_b: str
    ids: dict[str, str]
    emails: dict[str, str]
    principals: dict[str, Principal]
    auth: dict[str, dict[str, str]] = field(default_factory=dict)

    def who(self, name: str) -> Principal:
        return self.principals[name]


async def add_company_runbook(s: AsyncSession, company_id: str, text: str) -> RunbookVersion:
    """A company runbook stored as the runbook service stores one (version row with the spec and its hash)."""
    parsed = spec.parse_yaml(text)
    book = Runbook(
        scope=company_id,
        company_id=company_id,
        slug=parsed.name,
        title=parsed.title,
        risk=parsed.risk,
        category=parsed.category,
        current_version=1,
    )
    s.add(book)
    await s.flush()
    version = RunbookVersion(
        runbook_id=book.id,
        company_id=company_id,
        version=1,
        yaml=text,
        spec=parsed.model_dump(mode="json"),
        spec_hash=spec.spec_hash(parsed),
    )
    s.add(version)
    await s.flush()
    return version


async def set_local_access(s: AsyncSession, company_id: str, asset_id: str, host: str = "127.0.0.1") -> None:
    s.add(AssetAccess(asset_id=asset_id, company_id=company_id, executor="local", os="linux", host=host, port=22))
    await s.flush()


async def build(sm: SM, settings: Settings, clock: FakeClock, client: httpx.AsyncClient | None = None) -> World:
    async with sm() as s:
        a = await make_company(s, clock, "Acme Dental")
        b = await make_company(s, clock, "Globex Hidden")
        companies = {"a": a.id, "b": b.id}
        emails = {}
        for name, (role, company) in PEOPLE.items():
            emails[name] = await make_user(s, settings, clock, role, [companies[company]] if company else [])
        asset_a = (await make_asset(s, clock, a.id, "web-01")).id
        asset_b = (await make_asset(s, clock, b.id, "db-01")).id
        await set_local_access(s, a.id, asset_a)
        await set_local_access(s, b.id, asset_b)
        await runbooks.sync_builtins(s, clock=clock)
        await add_company_runbook(s, a.id, HIGH_YAML)
        users = {u.email: u for u in (await s.execute(select(User))).scalars()}
        principals = {name: await principal_for(s, users[email]) for name, email in emails.items()}
        await s.commit()
    w = World(a, b, asset_a, asset_b, {n: users[e].id for n, e in emails.items()}, emails, principals)
    if client is not None:
        for name, email in emails.items():
            w.auth[name] = bearer(await login(client, email))
    return w


async def relogin(client: httpx.AsyncClient, w: World) -> None:
    """Fresh access tokens (after the fake clock moved past their lifetime)."""
    for name, email in w.emails.items():
        w.auth[name] = bearer(await login(client, email))


async def version_id(s: AsyncSession, company_id: str, slug: str) -> str:
    for eff in await runbooks.effective_for_company(s, company_id=company_id):
        if eff.runbook.slug == slug:
            return eff.version.id
    raise AssertionError(f"runbook {slug} is not effective for the company")


async def make_request(
    sm: SM,
    settings: Settings,
    clock: FakeClock,
    w: World,
    slug: str,
    *,
    by: str | None = None,
    params: dict[str, Any] | None = None,
    incident_id: str | None = None,
    company: str = "a",
) -> Execution:
    """A request through the real gate; ``by`` None: the decision engine's (auto), else a manual request."""
    company_id = w.a.id if company == "a" else w.b.id
    async with sm() as s:
        execution = await gates.request(
            s,
            clock=clock,
            settings=settings,
            company_id=company_id,
            runbook_version_id=await version_id(s, company_id, slug),
            params=params or {},
            asset_id=w.asset_a if company == "a" else w.asset_b,
            incident_id=incident_id,
            actor=w.who(by) if by else None,
            trigger="manual" if by else "auto",
        )
        await s.commit()
        return execution


async def set_policy(sm: SM, company_id: str, **values: Any) -> None:
    async with sm() as s:
        company = await s.get(Company, company_id)
        assert company is not None
        company.settings = {**(company.settings or {}), "remediation": values}
        await s.commit()


async def execution(sm: SM, execution_id: str) -> Execution:
    async with sm() as s:
        row = await s.get(Execution, execution_id)
        assert row is not None
        return row


async def audit_actions(sm: SM, execution_id: str) -> list[str]:
    async with sm() as s:
        rows = await s.execute(
            select(AuditEntry.action).where(AuditEntry.target_id == execution_id).order_by(AuditEntry.seq)
        )
        return list(rows.scalars())


async def notified(sm: SM, w: World, kind: str = "approval") -> dict[str, list[str]]:
    """Notification titles per person (by World name)."""
    names = {uid: name for name, uid in w.ids.items()}
    async with sm() as s:
        rows = (
            await s.execute(
                select(Notification).where(Notification.kind == kind).order_by(Notification.created_at, Notification.id)
            )
        ).scalars()
        out: dict[str, list[str]] = {}
        for n in rows:
            out.setdefault(names.get(n.user_id, n.user_id), []).append(n.title)
        return out


async def approve(sm: SM, clock: FakeClock, w: World, who: str, execution_id: str, note: str = "") -> Execution:
    async with sm() as s:
        row = await gates.approve(s, actor=w.who(who), clock=clock, execution_id=execution_id, note=note)
        await s.commit()
        return row


def app_sm(app: FastAPI) -> SM:
    factory: SM = app.state.sessionmaker
    return factory
