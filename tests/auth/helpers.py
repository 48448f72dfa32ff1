"""Small helpers shared by the foundation tests (auth, tenants, audit, RBAC)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.responses import Response

from alertwhisperer.audit.models import AuditEntry
from alertwhisperer.auth import passwords
from alertwhisperer.auth import service as auth
from alertwhisperer.auth.cookies import set_auth_cookies
from alertwhisperer.auth.models import User
from alertwhisperer.auth.principal import RequestContext
from alertwhisperer.clock import Clock
from alertwhisperer.config import Settings

SM = async_sessionmaker[AsyncSession]
_CHEAP = PasswordHash((Argon2Hasher(time_cost=1, memory_cost=1024, parallelism=1),))


@pytest.fixture(autouse=True)
def cheap_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    """Real argon2id, at test-sized cost: the production parameters take ~0.3 s per hash or check, which
    dominates a suite that creates and logs in hundreds of users. test_password_hashing checks the
    production parameters themselves."""
    monkeypatch.setattr(passwords, "_hasher", lambda: _CHEAP)


async def user_id(sm: SM, email: str) -> str:
    async with sm() as s:
        return str((await s.execute(select(User.id).where(User.email == email))).scalar_one())


async def audit_entries(sm: SM, action: str | None = None) -> list[AuditEntry]:
    async with sm() as s:
        stmt = select(AuditEntry).order_by(AuditEntry.seq)
        if action:
            stmt = stmt.where(AuditEntry.action == action)
        return list((await s.execute(stmt)).scalars().all())


async def audit_actions(sm: SM) -> list[str]:
    return [e.action for e in await audit_entries(sm)]


async def refresh(client: httpx.AsyncClient, refresh_token: str) -> httpx.Response:
    return await client.post("/api/auth/refresh", json={"refresh_token": refresh_token})


async def me_status(client: httpx.AsyncClient, tokens: dict[str, Any]) -> int:
    r = await client.get("/api/auth/me", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    return r.status_code


async def browser_login(sm: SM, settings: Settings, clock: Clock, email: str,
                        password: str) -> tuple[dict[str, str], list[str]]:
    """A browser login as the console does it: the service issues a session, the cookies carry it.

    Returns the cookie values and the raw Set-Cookie headers (to check their flags)."""
    async with sm() as s:
        issued = await auth.login(s, settings=settings, clock=clock, email=email, password=password,
                                  context=RequestContext(ip="127.0.0.1"), kind="browser")
        await s.commit()
    response = Response()
    set_auth_cookies(response, issued, settings)
    headers = [v.decode("latin-1") for k, v in response.raw_headers if k == b"set-cookie"]
    cookies = {h.split("=", 1)[0]: h.split("=", 1)[1].split(";", 1)[0] for h in headers}
    return cookies, headers


def cookie_header(headers: list[str], name: str) -> str:
    found = [h for h in headers if h.startswith(name + "=")]
    assert found, f"no Set-Cookie for {name} in {headers}"
    return found[-1]
