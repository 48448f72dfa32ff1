"""The demo data: companies, people and on-call rotations, so the demo storm's incidents get assigned."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alertwhisperer.auth.models import User
from alertwhisperer.clock import FakeClock
from alertwhisperer.config import Settings
from alertwhisperer.demo import DEMO_ADMIN, seed_demo
from alertwhisperer.incidents.models import OnCallSchedule
from alertwhisperer.incidents.oncall import on_call_now
from alertwhisperer.tenants.models import Company


async def test_demo_seeds_once_with_on_call_rotations(sessionmaker: async_sessionmaker[AsyncSession],
                                                      settings: Settings, clock: FakeClock) -> None:
    async with sessionmaker() as s:
        info = await seed_demo(s, settings=settings, clock=clock)
        await s.commit()
    assert info is not None and info.email == DEMO_ADMIN
    async with sessionmaker() as s:
        assert await seed_demo(s, settings=settings, clock=clock) is not None  # already there: nothing added
        names = sorted((await s.execute(select(OnCallSchedule.name))).scalars())
        companies = {c.slug: c.id for c in (await s.execute(select(Company))).scalars()}
        people = {u.id: u.email for u in (await s.execute(select(User))).scalars()}
        database = await on_call_now(s, company_id=companies["acme-dental"], category="Database", at=clock.now())
        anything = await on_call_now(s, company_id=companies["acme-dental"], category="Server", at=clock.now())
    assert names == ["Acme databases", "Globex databases", "Globex network", "MSP on-call team"]
    assert people[database[0].user_id] == "dana@msp-demo.example"
    assert people[anything[0].user_id] in ("sam@msp-demo.example", "dana@msp-demo.example")
