"""Access-token expiry, refresh rotation, reuse detection, logout, logout everywhere, password change."""

from __future__ import annotations

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alertwhisperer.auth.models import AuthSession, RefreshToken
from alertwhisperer.auth.principal import Role
from alertwhisperer.auth.tokens import hash_token
from alertwhisperer.clock import FakeClock
from alertwhisperer.config import Settings
from tests.auth.helpers import audit_entries, me_status, refresh, user_id
from tests.factories import PASSWORD, bearer, login, make_company, make_user

SM = async_sessionmaker[AsyncSession]
NEW_PASSWORD = "Quartz-Lantern-Orbit-77"


async def _tech(sm: SM, settings: Settings, clock: FakeClock) -> str:
    async with sm() as s:
        acme = await make_company(s, clock, "Acme")
        return await make_user(s, settings, clock, Role.TECHNICIAN, [acme.id])


async def test_access_token_expires_after_30_minutes_and_refresh_renews_it(
        client: httpx.AsyncClient, sessionmaker: SM, settings: Settings, clock: FakeClock) -> None:
    tokens = await login(client, await _tech(sessionmaker, settings, clock))
    assert await me_status(client, tokens) == 200
    clock.advance(minutes=29, seconds=59)
    assert await me_status(client, tokens) == 200
    clock.advance(minutes=1, seconds=2)
    r = await client.get("/api/auth/me", headers=bearer(tokens))
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"
    assert "expired" in r.json()["message"]

    r = await refresh(client, tokens["refresh_token"])
    assert r.status_code == 200, r.text
    renewed = r.json()
    assert await me_status(client, renewed) == 200


async def test_refresh_token_expires_after_7_days(client: httpx.AsyncClient, sessionmaker: SM,
                                                  settings: Settings, clock: FakeClock) -> None:
    tokens = await login(client, await _tech(sessionmaker, settings, clock))
    clock.advance(days=7, seconds=1)
    r = await refresh(client, tokens["refresh_token"])
    assert r.status_code == 401
    assert "expired" in r.json()["message"]


async def test_refresh_rotates_and_only_the_hash_is_stored(client: httpx.AsyncClient, sessionmaker: SM,
                                                           settings: Settings, clock: FakeClock) -> None:
    t0 = await login(client, await _tech(sessionmaker, settings, clock))
    clock.advance(minutes=1)
    t1 = (await refresh(client, t0["refresh_token"])).json()
    clock.advance(minutes=1)
    t2 = (await refresh(client, t1["refresh_token"])).json()
    refresh_tokens = [t0["refresh_token"], t1["refresh_token"], t2["refresh_token"]]
    assert len(set(refresh_tokens)) == 3
    assert all(t.startswith("awr_") for t in refresh_tokens)
    async with sessionmaker() as s:
        rows = {r.token_hash: r for r in (await s.execute(select(RefreshToken))).scalars()}
    assert set(rows) == {hash_token(t) for t in refresh_tokens}  # never the token itself
    assert rows[hash_token(t0["refresh_token"])].used_at is not None
    assert rows[hash_token(t1["refresh_token"])].used_at is not None
    assert rows[hash_token(t2["refresh_token"])].used_at is None
    assert len({row.session_id for row in rows.values()}) == 1  # one family


async def test_reuse_after_grace_window_revokes_the_whole_family(
        client: httpx.AsyncClient, sessionmaker: SM, settings: Settings, clock: FakeClock) -> None:
    email = await _tech(sessionmaker, settings, clock)
    stolen = await login(client, email)
    other_device = await login(client, email)
    clock.advance(minutes=5)
    legit = (await refresh(client, stolen["refresh_token"])).json()
    assert await me_status(client, legit) == 200

    clock.advance(seconds=11)  # past the 10 s grace window
    r = await refresh(client, stolen["refresh_token"])
    assert r.status_code == 401
    assert "already used" in r.json()["message"]
    # the whole family is dead at once: the rotated access token and the rotated refresh token
    assert await me_status(client, legit) == 401
    assert await me_status(client, stolen) == 401
    assert (await refresh(client, legit["refresh_token"])).status_code == 401
    # another login of the same user is a different family and keeps working
    assert await me_status(client, other_device) == 200
    assert (await refresh(client, other_device["refresh_token"])).status_code == 200

    entries = await audit_entries(sessionmaker, "auth.refresh_reuse_detected")
    assert len(entries) == 1
    assert entries[0].actor_id == await user_id(sessionmaker, email)
    async with sessionmaker() as s:
        revoked = (await s.execute(select(AuthSession).where(AuthSession.id == entries[0].target_id))).scalar_one()
    assert revoked.revoked_reason == "refresh_token_reuse"


async def test_reuse_within_grace_window_gets_an_access_token_but_no_new_refresh_token(
        client: httpx.AsyncClient, sessionmaker: SM, settings: Settings, clock: FakeClock) -> None:
    tokens = await login(client, await _tech(sessionmaker, settings, clock))
    first = (await refresh(client, tokens["refresh_token"])).json()
    clock.advance(seconds=5)  # a second tab refreshing with the same token at nearly the same time
    r = await refresh(client, tokens["refresh_token"])
    assert r.status_code == 200
    second = r.json()
    assert second["refresh_token"] is None
    assert await me_status(client, second) == 200
    # nothing was revoked: the rotated token from the first refresh still works
    assert await me_status(client, first) == 200
    assert (await refresh(client, first["refresh_token"])).status_code == 200
    assert await audit_entries(sessionmaker, "auth.refresh_reuse_detected") == []


async def test_unknown_refresh_token_is_refused(client: httpx.AsyncClient) -> None:
    assert (await refresh(client, "awr_not-a-real-token")).status_code == 401


async def test_logout_kills_access_and_refresh_token_of_that_session_only(
        client: httpx.AsyncClient, sessionmaker: SM, settings: Settings, clock: FakeClock) -> None:
    email = await _tech(sessionmaker, settings, clock)
    a, b = await login(client, email), await login(client, email)
    r = await client.post("/api/auth/logout", headers=bearer(a))
    assert r.status_code == 204
    assert await me_status(client, a) == 401
    assert (await refresh(client, a["refresh_token"])).status_code == 401
    assert await me_status(client, b) == 200
    [entry] = await audit_entries(sessionmaker, "auth.logout")
    assert entry.actor_email == email


async def test_logout_everywhere_kills_every_session(client: httpx.AsyncClient, sessionmaker: SM,
                                                     settings: Settings, clock: FakeClock) -> None:
    email = await _tech(sessionmaker, settings, clock)
    sessions = [await login(client, email) for _ in range(3)]
    r = await client.post("/api/auth/logout-everywhere", headers=bearer(sessions[0]))
    assert r.status_code == 200
    assert r.json() == {"sessions_revoked": 3}
    for tokens in sessions:
        assert await me_status(client, tokens) == 401
        assert (await refresh(client, tokens["refresh_token"])).status_code == 401
    [entry] = await audit_entries(sessionmaker, "auth.logout_everywhere")
    assert entry.details == {"sessions_revoked": 3}
    assert await me_status(client, await login(client, email)) == 200  # logging in again works


async def test_password_change_revokes_other_sessions_but_not_the_current_one(
        client: httpx.AsyncClient, sessionmaker: SM, settings: Settings, clock: FakeClock) -> None:
    email = await _tech(sessionmaker, settings, clock)
    current, other = await login(client, email), await login(client, email)
    r = await client.post("/api/auth/password", headers=bearer(current),
                          json={"current_password": PASSWORD, "new_password": NEW_PASSWORD})
    assert r.status_code == 200, r.text
    assert r.json() == {"other_sessions_revoked": 1}
    assert await me_status(client, current) == 200
    assert (await refresh(client, current["refresh_token"])).status_code == 200
    assert await me_status(client, other) == 401
    assert (await refresh(client, other["refresh_token"])).status_code == 401
    bad = await client.post("/api/auth/login", json={"email": email, "password": PASSWORD})
    assert bad.status_code == 401
    await login(client, email, NEW_PASSWORD)
    [entry] = await audit_entries(sessionmaker, "user.password_changed")
    assert PASSWORD not in str(entry.details) and NEW_PASSWORD not in str(entry.details)


async def test_password_change_checks_current_password_and_policy(
        client: httpx.AsyncClient, sessionmaker: SM, settings: Settings, clock: FakeClock) -> None:
    email = await _tech(sessionmaker, settings, clock)
    tokens = await login(client, email)
    wrong = await client.post("/api/auth/password", headers=bearer(tokens),
                              json={"current_password": "Not-My-Password-1", "new_password": NEW_PASSWORD})
    assert wrong.status_code == 422
    assert wrong.json()["field"] == "current_password"
    weak = await client.post("/api/auth/password", headers=bearer(tokens),
                             json={"current_password": PASSWORD, "new_password": "password1234"})
    assert weak.status_code == 422
    assert weak.json()["field"] == "new_password"
    mine = await client.post("/api/auth/password", headers=bearer(tokens),
                             json={"current_password": PASSWORD, "new_password": f"xx-{email}-xx"})
    assert mine.status_code == 422
    assert "email" in mine.json()["message"]
    assert await me_status(client, tokens) == 200
    await login(client, email)  # unchanged


async def test_sessions_listing_and_revoking_one(client: httpx.AsyncClient, sessionmaker: SM,
                                                 settings: Settings, clock: FakeClock) -> None:
    async with sessionmaker() as s:
        acme = await make_company(s, clock, "Acme")
        mine = await make_user(s, settings, clock, Role.TECHNICIAN, [acme.id])
        theirs = await make_user(s, settings, clock, Role.TECHNICIAN, [acme.id])
    a, b = await login(client, mine), await login(client, mine)
    foreign = await login(client, theirs)
    listed = (await client.get("/api/auth/sessions", headers=bearer(a))).json()
    assert len(listed) == 2
    assert sum(s["current"] for s in listed) == 1
    foreign_id = (await client.get("/api/auth/sessions", headers=bearer(foreign))).json()[0]["id"]
    assert (await client.delete(f"/api/auth/sessions/{foreign_id}", headers=bearer(a))).status_code == 404
    assert await me_status(client, foreign) == 200
    other_id = next(s["id"] for s in listed if not s["current"])
    assert (await client.delete(f"/api/auth/sessions/{other_id}", headers=bearer(a))).status_code == 204
    assert await me_status(client, b) == 401
    assert await me_status(client, a) == 200
