"""Test data for the chat tests: users as principals, incidents as correlation would store them."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from alertwhisperer.auth import service as auth
from alertwhisperer.auth.models import User
from alertwhisperer.auth.principal import Principal, Role
from alertwhisperer.clock import Clock
from alertwhisperer.config import Settings
from alertwhisperer.correlation.models import Incident
from tests.factories import make_user


async def principal(session: AsyncSession, settings: Settings, clock: Clock, role: Role,
                    company_ids: list[str] | None = None, name: str | None = None) -> Principal:
    email = await make_user(session, settings, clock, role, company_ids,
                            email=f"{name.lower().replace(' ', '.')}@msp.example" if name else None)
    user = (await session.execute(select(User).where(User.email == email))).scalar_one()
    if name:
        user.name = name
        await session.commit()
    return await auth.principal_for(session, user)


async def make_incident(session: AsyncSession, clock: Clock, company_id: str, title: str = "Disk full on db-01",
                        **fields: object) -> Incident:
    now = clock.now()
    incident = Incident(company_id=company_id, title=title, symptom="disk", severity="high",
                        key=f"db-01|disk|{title}", first_seen=now, last_seen=now, **fields)
    session.add(incident)
    await session.commit()
    return incident
