from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alertwhisperer.auth.principal import Role
from alertwhisperer.clock import FakeClock
from alertwhisperer.config import Settings
from tests.factories import bearer, login, make_company, make_user


async def test_login_and_list_companies(client: httpx.AsyncClient, sessionmaker: async_sessionmaker[AsyncSession],
                                        settings: Settings, clock: FakeClock) -> None:
    async with sessionmaker() as s:
        acme = await make_company(s, clock, "Acme")
        await make_company(s, clock, "Globex")
        admin = await make_user(s, settings, clock, Role.COMPANY_ADMIN, [acme.id])
    tokens = await login(client, admin)
    r = await client.get("/api/companies", headers=bearer(tokens))
    assert r.status_code == 200
    assert [c["name"] for c in r.json()] == ["Acme"]
