"""Login: failed-login throttling (per account and per IP), password policy, login audit entries."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alertwhisperer.auth.principal import Role
from alertwhisperer.clock import FakeClock
from alertwhisperer.config import Settings
from tests.auth.helpers import audit_entries, user_id
from tests.factories import PASSWORD, bearer, login, make_company, make_user

SM = async_sessionmaker[AsyncSession]


async def _attempt(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await client.post("/api/auth/login", json={"email": email, "password": password})


async def _user(sm: SM, settings: Settings, clock: FakeClock, **kw: object) -> str:
    async with sm() as s:
        acme = await make_company(s, clock, "Acme")
        return await make_user(s, settings, clock, Role.TECHNICIAN, [acme.id], **kw)  # type: ignore[arg-type]


async def test_five_failures_throttle_even_the_right_password_until_the_window_ends(
        client: httpx.AsyncClient, sessionmaker: SM, settings: Settings, clock: FakeClock) -> None:
    email = await _user(sessionmaker, settings, clock)
    for _ in range(5):
        assert (await _attempt(client, email, "Wrong-Password-123")).status_code == 401
    r = await _attempt(client, email, PASSWORD)
    assert r.status_code == 429
    assert int(r.headers["retry-after"]) == 901
    assert "too many failed logins" in r.json()["message"]

    clock.advance(seconds=600)
    r = await _attempt(client, email.upper(), PASSWORD)  # the same account, whatever the case
    assert r.status_code == 429
    assert int(r.headers["retry-after"]) == 301

    clock.advance(seconds=301)  # the failures leave the 15 minute window
    assert (await _attempt(client, email, PASSWORD)).status_code == 200


async def test_a_successful_login_resets_the_account_counter(
        client: httpx.AsyncClient, sessionmaker: SM, settings: Settings, clock: FakeClock) -> None:
    email = await _user(sessionmaker, settings, clock)
    for _ in range(4):
        await _attempt(client, email, "Wrong-Password-123")
    await login(client, email)
    for _ in range(4):
        assert (await _attempt(client, email, "Wrong-Password-123")).status_code == 401
    await login(client, email)


async def test_throttling_is_per_account(client: httpx.AsyncClient, sessionmaker: SM, settings: Settings,
                                         clock: FakeClock) -> None:
    async with sessionmaker() as s:
        acme = await make_company(s, clock, "Acme")
        victim = await make_user(s, settings, clock, Role.TECHNICIAN, [acme.id])
        bystander = await make_user(s, settings, clock, Role.TECHNICIAN, [acme.id])
    for _ in range(5):
        await _attempt(client, victim, "Wrong-Password-123")
    assert (await _attempt(client, victim, PASSWORD)).status_code == 429
    await login(client, bystander)


async def test_per_ip_limit_across_many_accounts(app: FastAPI, client: httpx.AsyncClient,
                                                 sessionmaker: SM, settings: Settings,
                                                 clock: FakeClock) -> None:
    email = await _user(sessionmaker, settings, clock)
    for i in range(20):  # 4 x the per-account limit, each on a different (unknown) account
        assert (await _attempt(client, f"nobody{i}@spray.example", "Guess-Password-1")).status_code == 401
    r = await _attempt(client, email, PASSWORD)
    assert r.status_code == 429
    assert int(r.headers["retry-after"]) > 0
    other_ip = httpx.ASGITransport(app=app, client=("10.9.8.7", 40000))
    async with httpx.AsyncClient(transport=other_ip, base_url="http://testserver") as elsewhere:
        await login(elsewhere, email)


async def test_unknown_user_and_inactive_user_fail_like_a_wrong_password(
        client: httpx.AsyncClient, sessionmaker: SM, settings: Settings, clock: FakeClock) -> None:
    email = await _user(sessionmaker, settings, clock)
    unknown = await _attempt(client, "ghost@msp.example", PASSWORD)
    wrong = await _attempt(client, email, "Wrong-Password-123")
    assert unknown.status_code == wrong.status_code == 401
    assert unknown.json() == wrong.json()


async def test_login_success_and_failure_are_audited_without_the_password(
        client: httpx.AsyncClient, sessionmaker: SM, settings: Settings, clock: FakeClock) -> None:
    email = await _user(sessionmaker, settings, clock)
    await client.post("/api/auth/login", json={"email": email, "password": "Wrong-Password-123"},
                      headers={"User-Agent": "pytest-agent/1"})
    await client.post("/api/auth/login", json={"email": email, "password": PASSWORD},
                      headers={"User-Agent": "pytest-agent/1"})
    [failed] = await audit_entries(sessionmaker, "auth.login_failed")
    [ok] = await audit_entries(sessionmaker, "auth.login")
    uid = await user_id(sessionmaker, email)
    assert failed.actor_id is None and failed.actor_email == email
    assert failed.details == {"reason": "bad password"}
    assert failed.ip == "127.0.0.1" and failed.user_agent == "pytest-agent/1"
    assert ok.actor_id == uid and ok.actor_role == "technician" and ok.target_id == uid
    assert ok.ip == "127.0.0.1" and ok.user_agent == "pytest-agent/1"
    for entry in (failed, ok):
        assert "Wrong-Password-123" not in str(entry.details) and PASSWORD not in str(entry.details)


@pytest.mark.parametrize(("password", "message"), [
    ("Short-1!", "at least 12 characters"),
    ("password1234", "too common"),
    ("qwertyuiop123", "too common"),
    ("dana.kowalski@clientco.example", "email"),
    ("My-dana.kowalski@clientco.example-pw", "email"),
    ("danakowalski-2026!", "email"),
])
async def test_password_policy_refuses_weak_passwords(client: httpx.AsyncClient, sessionmaker: SM,
                                                      settings: Settings, clock: FakeClock, password: str,
                                                      message: str) -> None:
    async with sessionmaker() as s:
        admin = await make_user(s, settings, clock, Role.MSP_ADMIN)
    tokens = await login(client, admin)
    body = {"email": "dana.kowalski@clientco.example", "name": "Dana Kowalski", "role": "msp_admin",
            "password": password}
    r = await client.post("/api/users", json=body, headers=bearer(tokens))
    assert r.status_code == 422, r.text
    assert r.json()["field"] == "password"
    assert message in r.json()["message"]
    body["password"] = "Zebra-Mountain-Kettle-9"
    assert (await client.post("/api/users", json=body, headers=bearer(tokens))).status_code == 201


async def test_generated_initial_password_is_shown_once_and_works(
        client: httpx.AsyncClient, sessionmaker: SM, settings: Settings, clock: FakeClock) -> None:
    async with sessionmaker() as s:
        admin = await make_user(s, settings, clock, Role.MSP_ADMIN)
    tokens = await login(client, admin)
    r = await client.post("/api/users", headers=bearer(tokens),
                          json={"email": "new@msp.example", "name": "New Admin", "role": "msp_admin"})
    assert r.status_code == 201
    generated = r.json()["initial_password"]
    assert generated and len(generated) >= settings.password_min_length
    again = await client.get(f"/api/users/{r.json()['id']}", headers=bearer(tokens))
    assert "initial_password" not in again.json()
    await login(client, "new@msp.example", generated)
    [created] = [e for e in await audit_entries(sessionmaker, "user.created") if e.target_id == r.json()["id"]]
    assert generated not in str(created.details)
