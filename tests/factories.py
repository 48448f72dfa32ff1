"""Factories that build data through the real services (so audit entries and hashes are real)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from alertwhisperer.auth.principal import Role
from alertwhisperer.auth.schemas import UserCreate
from alertwhisperer.auth.users import create_user
from alertwhisperer.clock import Clock
from alertwhisperer.config import Settings
from alertwhisperer.tenants.assets import create_asset
from alertwhisperer.tenants.models import Asset, Company
from alertwhisperer.tenants.schemas import AssetCreate, CompanyCreate
from alertwhisperer.tenants.service import create_company

PASSWORD = "Correct-Horse-Battery-42"
_seq = itertools.count(1)


@dataclass
class MadeCompany:
    company: Company
    api_key: str

    @property
    def id(self) -> str:
        return self.company.id


async def make_company(session: AsyncSession, clock: Clock, name: str | None = None,
                       slug: str | None = None) -> MadeCompany:
    n = next(_seq)
    company, key = await create_company(session, actor=None, clock=clock,
                                        data=CompanyCreate(name=name or f"Company {n}", slug=slug))
    await session.commit()
    return MadeCompany(company, key)


async def make_asset(session: AsyncSession, clock: Clock, company_id: str, name: str,
                     depends_on: list[str] | None = None, **fields: object) -> Asset:
    asset = await create_asset(session, actor=None, clock=clock, company_id=company_id,
                               data=AssetCreate(name=name, depends_on=depends_on or [], **fields))  # type: ignore[arg-type]
    await session.commit()
    return asset


async def make_user(session: AsyncSession, settings: Settings, clock: Clock, role: Role,
                    company_ids: list[str] | None = None, email: str | None = None,
                    password: str = PASSWORD, **fields: object) -> str:
    """Create a user; returns the email."""
    email = email or f"user{next(_seq)}@msp.example"
    await create_user(session, actor=None, settings=settings, clock=clock,
                      data=UserCreate(email=email, name=email.split("@")[0], role=role, password=password,
                                      company_ids=company_ids or [], **fields))  # type: ignore[arg-type]
    await session.commit()
    return email


async def login(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> dict[str, str]:
    """Log in over the API; returns the token pair JSON."""
    r = await client.post("/api/auth/login", json={"email": email, "password": password})
    assert r.status_code == 200, r.text
    data: dict[str, str] = r.json()
    return data


def bearer(tokens: dict[str, str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}
