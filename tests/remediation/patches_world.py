"""A world for the patch compliance tests: two companies, their people, remote access set up through the real
services (C's credentials and access), and a worker that runs only the patch scan job."""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alertwhisperer.auth.principal import Role
from alertwhisperer.clock import FakeClock
from alertwhisperer.config import Settings
from alertwhisperer.jobs.worker import Registry, Worker
from alertwhisperer.remediation.hooks import PATCH_SCAN_JOB
from alertwhisperer.remediation.patches import scan_job
from tests.factories import MadeCompany, bearer, login, make_company, make_user

SM = async_sessionmaker[AsyncSession]
ROLES = ("msp", "admin", "tech", "other")


@dataclass
class World:
    acme: MadeCompany
    globex: MadeCompany
    emails: dict[str, str]
    auth: dict[str, dict[str, str]] = field(default_factory=dict)


async def build(client: httpx.AsyncClient, sm: SM, settings: Settings, clock: FakeClock) -> World:
    async with sm() as s:
        acme = await make_company(s, clock, "Acme Dental")
        globex = await make_company(s, clock, "Globex Hidden")
        emails = {
            "msp": await make_user(s, settings, clock, Role.MSP_ADMIN),
            "admin": await make_user(s, settings, clock, Role.COMPANY_ADMIN, [acme.id]),
            "tech": await make_user(s, settings, clock, Role.TECHNICIAN, [acme.id]),
            "other": await make_user(s, settings, clock, Role.TECHNICIAN, [globex.id]),
        }
    w = World(acme, globex, emails)
    for role in ROLES:
        w.auth[role] = bearer(await login(client, emails[role]))
    return w


def registry() -> Registry:
    registry = Registry()
    registry.register(PATCH_SCAN_JOB, scan_job, background=True)
    return registry


async def run_scans(app: FastAPI, sm: SM, clock: FakeClock, settings: Settings) -> int:
    return await Worker(sm, registry(), clock, hub=app.state.hub, settings=settings).run_until_idle()


async def aws_access(
    s: AsyncSession,
    settings: Settings,
    clock: FakeClock,
    company_id: str,
    asset_ids: list[str],
    *,
    name: str = "aws prod",
    region: str = "eu-west-1",
) -> None:
    """An AWS keys credential and SSM access for these assets (they need an instance id); commits."""
    from alertwhisperer.remediation import access, credentials
    from alertwhisperer.remediation.access_schemas import AccessIn, CredentialIn

    cred = await credentials.create_credential(
        s,
        actor=None,
        settings=settings,
        clock=clock,
        company_id=company_id,
        data=CredentialIn(
            name=name,
            kind="aws_keys",
            access_key_id="AKIAEXAMPLEPATCHES01",
            secret_access_key="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            region=region,
        ),
    )
    for asset_id in asset_ids:
        await access.set_access(
            s,
            actor=None,
            settings=settings,
            clock=clock,
            asset_id=asset_id,
            data=AccessIn(executor="ssm", credential_id=cred.id, region=region),
        )
    await s.commit()


async def local_access(s: AsyncSession, settings: Settings, clock: FakeClock, asset_id: str) -> None:
    from alertwhisperer.remediation import access
    from alertwhisperer.remediation.access_schemas import AccessIn

    await access.set_access(
        s, actor=None, settings=settings, clock=clock, asset_id=asset_id, data=AccessIn(executor="local")
    )
    await s.commit()
