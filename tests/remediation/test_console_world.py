"""A world for the executions console tests (no tests here): two companies with their people, an asset with
local access in each, two company runbooks (medium with parameters; low + auto-approve), an incident opened by a
real webhook delivery on the first company's asset, and helpers to log in with the browser's cookies and to make
requests through the real services."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alertwhisperer.auth.models import User
from alertwhisperer.auth.principal import Principal, Role
from alertwhisperer.auth.service import principal_for
from alertwhisperer.clock import FakeClock
from alertwhisperer.config import Settings
from alertwhisperer.remediation import executions, spec
from alertwhisperer.remediation.models import AssetAccess, Execution, Runbook, RunbookVersion
from tests.factories import PASSWORD, MadeCompany, make_asset, make_company, make_user
from tests.incidents.lifecycle_world import open_incident

SM = async_sessionmaker[AsyncSession]
PEOPLE: dict[str, tuple[Role, str | None]] = {
    "tech": (Role.TECHNICIAN, "a"),
    "admin": (Role.COMPANY_ADMIN, "a"),
    "msp": (Role.MSP_ADMIN, None),
    "other": (Role.TECHNICIAN, "b"),
}
ECHO_YAML = """\
name: echo-lines
title: Print a few lines
category: diagnostics
risk: medium
description: Prints numbered lines, slowly enough to watch.
trigger:
  symptoms: [disk]
parameters:
  - name: count
    type: integer
    default: 3
    description: how many lines
  - name: word
    default: line
    pattern: '[a-z]+'
    description: the word before each number
steps:
  linux:
    - name: Print
      run: for i in $(seq 1 {{ count }}); do echo {{ word }}-$i; done
"""
HELLO_YAML = """\
name: say-hello
title: Say hello
category: diagnostics
risk: low
auto_approve: true
steps:
  linux:
    - name: Hello
      run: echo hello
"""


@dataclass
class World:
    a: MadeCompany
    b: MadeCompany
    asset_a: str
    asset_b: str
    echo: str  # runbook id (company a)
    hello: str  # runbook id (company a)
    echo_b: str  # the same runbook for company b
    incident: str  # an incident of company a on asset_a
    emails: dict[str, str]
    ids: dict[str, str]
    principals: dict[str, Principal]


async def add_company_runbook(s: AsyncSession, company_id: str, text: str) -> Runbook:
    """A company runbook stored as the runbook service stores one (a version row with the spec and its hash)."""
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
    s.add(
        RunbookVersion(
            runbook_id=book.id,
            company_id=company_id,
            version=1,
            yaml=text,
            spec=parsed.model_dump(mode="json"),
            spec_hash=spec.spec_hash(parsed),
        )
    )
    await s.flush()
    return book


async def build(app: FastAPI, client: httpx.AsyncClient, sm: SM, settings: Settings, clock: FakeClock) -> World:
    async with sm() as s:
        a = await make_company(s, clock, "Acme Dental")
        b = await make_company(s, clock, "Globex Hidden")
        companies = {"a": a.id, "b": b.id}
        emails = {
            name: await make_user(s, settings, clock, role, [companies[c]] if c else [])
            for name, (role, c) in PEOPLE.items()
        }
        asset_a = (await make_asset(s, clock, a.id, "web-01")).id
        asset_b = (await make_asset(s, clock, b.id, "db-01")).id
        for company_id, asset_id in ((a.id, asset_a), (b.id, asset_b)):
            s.add(
                AssetAccess(
                    asset_id=asset_id, company_id=company_id, executor="local", os="linux", host="127.0.0.1", port=22
                )
            )
        echo = (await add_company_runbook(s, a.id, ECHO_YAML)).id
        hello = (await add_company_runbook(s, a.id, HELLO_YAML)).id
        echo_b = (await add_company_runbook(s, b.id, ECHO_YAML)).id
        users = {u.email: u for u in (await s.execute(select(User))).scalars()}
        principals = {name: await principal_for(s, users[email]) for name, email in emails.items()}
        await s.commit()
    incident = await open_incident(app, client, sm, clock, a, "DiskFull", "web-01:9100")
    return World(
        a,
        b,
        asset_a,
        asset_b,
        echo,
        hello,
        echo_b,
        incident,
        emails,
        {n: users[e].id for n, e in emails.items()},
        principals,
    )


async def browser_login(client: httpx.AsyncClient, email: str) -> str:
    """Log in as the browser does (cookies); returns the CSRF token forms carry."""
    client.cookies.clear()
    r = await client.post("/login", data={"email": email, "password": PASSWORD, "next": "/"})
    assert r.status_code == 303, r.text
    token = client.cookies.get("aw_csrf")
    assert token
    return token


async def manual_run(
    sm: SM,
    settings: Settings,
    clock: FakeClock,
    w: World,
    *,
    by: str = "tech",
    runbook: str | None = None,
    params: dict[str, Any] | None = None,
    incident: bool = True,
) -> Execution:
    async with sm() as s:
        execution = await executions.request_manual_run(
            s,
            actor=w.principals[by],
            clock=clock,
            settings=settings,
            incident_id=w.incident if incident else None,
            runbook_id=runbook or w.echo,
            asset_id=w.asset_a,
            params=params or {},
        )
        await s.commit()
        return execution


async def load(sm: SM, execution_id: str) -> Execution:
    async with sm() as s:
        row = await s.get(Execution, execution_id)
        assert row is not None
        return row
