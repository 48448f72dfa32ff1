"""The browser path: httpOnly SameSite cookies, CSRF on unsafe cookie requests, silent refresh."""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alertwhisperer.auth.principal import Role
from alertwhisperer.clock import FakeClock
from alertwhisperer.config import Settings
from alertwhisperer.deps import ACCESS_COOKIE, CSRF_COOKIE, REFRESH_COOKIE
from tests.auth.helpers import browser_login, cookie_header, refresh
from tests.factories import PASSWORD, bearer, login, make_company, make_user

SM = async_sessionmaker[AsyncSession]


async def _browser(client: httpx.AsyncClient, sm: SM, settings: Settings,
                   clock: FakeClock) -> tuple[str, dict[str, str], list[str]]:
    async with sm() as s:
        acme = await make_company(s, clock, "Acme")
        email = await make_user(s, settings, clock, Role.COMPANY_ADMIN, [acme.id])
    cookies, headers = await browser_login(sm, settings, clock, email, PASSWORD)
    _set(client, cookies)
    return email, cookies, headers


def _set(client: httpx.AsyncClient, cookies: dict[str, str]) -> None:
    for name, value in cookies.items():
        client.cookies.set(name, value, domain="testserver.local")  # where httpx files this host's cookies


async def test_cookie_flags(client: httpx.AsyncClient, sessionmaker: SM, settings: Settings,
                            clock: FakeClock) -> None:
    _, _, headers = await _browser(client, sessionmaker, settings, clock)
    access = cookie_header(headers, ACCESS_COOKIE).lower()
    refresh_cookie = cookie_header(headers, REFRESH_COOKIE).lower()
    csrf = cookie_header(headers, CSRF_COOKIE).lower()
    assert "httponly" in access and "samesite=lax" in access and "path=/" in access
    assert "httponly" in refresh_cookie and "samesite=strict" in refresh_cookie
    assert "httponly" not in csrf and "samesite=strict" in csrf  # the page's script reads it
    assert "secure" not in access  # development default

    settings.cookie_secure = True
    _, _, secure_headers = await _browser(client, sessionmaker, settings, clock)
    for name in (ACCESS_COOKIE, REFRESH_COOKIE, CSRF_COOKIE):
        assert "; secure" in cookie_header(secure_headers, name).lower()


async def test_cookie_requests_need_the_csrf_token_for_unsafe_methods(
        client: httpx.AsyncClient, sessionmaker: SM, settings: Settings, clock: FakeClock) -> None:
    _, cookies, _ = await _browser(client, sessionmaker, settings, clock)
    me = await client.get("/api/auth/me")  # safe method: cookies are enough
    assert me.status_code == 200
    company_id = me.json()["company_ids"][0]
    url = f"/api/companies/{company_id}"

    missing = await client.patch(url, json={"name": "Renamed"})
    assert missing.status_code == 403
    assert "CSRF" in missing.json()["message"]
    wrong = await client.patch(url, json={"name": "Renamed"}, headers={"X-CSRF-Token": "forged"})
    assert wrong.status_code == 403
    cross = await client.patch(url, json={"name": "Renamed"},
                               headers={"X-CSRF-Token": cookies[CSRF_COOKIE], "Origin": "https://evil.example"})
    assert cross.status_code == 403
    assert (await client.get(url)).json()["name"] == "Acme"  # none of them changed anything

    ok = await client.patch(url, json={"name": "Renamed"}, headers={"X-CSRF-Token": cookies[CSRF_COOKIE],
                                                                    "Origin": "http://testserver"})
    assert ok.status_code == 200, ok.text
    assert ok.json()["name"] == "Renamed"


async def test_form_posts_may_carry_the_csrf_token_in_the_body(
        client: httpx.AsyncClient, sessionmaker: SM, settings: Settings, clock: FakeClock) -> None:
    _, cookies, _ = await _browser(client, sessionmaker, settings, clock)
    r = await client.post("/api/auth/logout", data={"csrf_token": "forged"})
    assert r.status_code == 403
    r = await client.post("/api/auth/logout", data={"csrf_token": cookies[CSRF_COOKIE]})
    assert r.status_code == 204


async def test_bearer_requests_do_not_need_csrf(client: httpx.AsyncClient, sessionmaker: SM,
                                                settings: Settings, clock: FakeClock) -> None:
    async with sessionmaker() as s:
        acme = await make_company(s, clock, "Acme")
        email = await make_user(s, settings, clock, Role.COMPANY_ADMIN, [acme.id])
    tokens = await login(client, email)
    r = await client.patch(f"/api/companies/{acme.id}", json={"name": "Renamed"}, headers=bearer(tokens))
    assert r.status_code == 200


async def test_expired_access_cookie_is_refreshed_silently_and_rotated(
        client: httpx.AsyncClient, sessionmaker: SM, settings: Settings, clock: FakeClock) -> None:
    _, cookies, _ = await _browser(client, sessionmaker, settings, clock)
    clock.advance(minutes=31)
    r = await client.get("/api/auth/me")
    assert r.status_code == 200, r.text
    set_cookies = r.headers.get_list("set-cookie")
    new_access = cookie_header(set_cookies, ACCESS_COOKIE)
    new_refresh = cookie_header(set_cookies, REFRESH_COOKIE)
    assert "httponly" in new_access.lower() and "httponly" in new_refresh.lower()
    assert client.cookies[ACCESS_COOKIE] != cookies[ACCESS_COOKIE]
    assert client.cookies[REFRESH_COOKIE] != cookies[REFRESH_COOKIE]
    # the old refresh token now counts as used (rotation), and the new cookies keep working
    clock.advance(seconds=11)
    assert (await refresh(client, cookies[REFRESH_COOKIE])).status_code == 401
    # ...which was a reuse: the family is revoked, so the browser session is over too
    client.cookies.delete(ACCESS_COOKIE, domain="testserver.local")
    assert (await client.get("/api/auth/me")).status_code == 401


async def test_silent_refresh_then_keeps_working_with_the_rotated_cookies(
        client: httpx.AsyncClient, sessionmaker: SM, settings: Settings, clock: FakeClock) -> None:
    await _browser(client, sessionmaker, settings, clock)
    for _ in range(3):
        clock.advance(minutes=31)
        assert (await client.get("/api/auth/me")).status_code == 200
    clock.advance(days=8)  # past the refresh token's life
    assert (await client.get("/api/auth/me")).status_code == 401


async def test_logout_clears_the_cookies(client: httpx.AsyncClient, sessionmaker: SM, settings: Settings,
                                         clock: FakeClock) -> None:
    _, cookies, _ = await _browser(client, sessionmaker, settings, clock)
    r = await client.post("/api/auth/logout", headers={"X-CSRF-Token": cookies[CSRF_COOKIE]})
    assert r.status_code == 204
    assert ACCESS_COOKIE not in client.cookies and REFRESH_COOKIE not in client.cookies
    _set(client, cookies)  # a copy of the old cookies is useless now
    assert (await client.get("/api/auth/me")).status_code == 401


async def test_console_login_sets_the_same_cookies(client: httpx.AsyncClient, sessionmaker: SM,
                                                   settings: Settings, clock: FakeClock) -> None:
    """The real browser path: the console's login form answers with the httpOnly/SameSite cookies."""
    async with sessionmaker() as s:
        acme = await make_company(s, clock, "Acme")
        email = await make_user(s, settings, clock, Role.TECHNICIAN, [acme.id])
    r = await client.post("/login", data={"email": email, "password": PASSWORD})
    assert r.status_code == 303, r.text
    headers = r.headers.get_list("set-cookie")
    assert "httponly" in cookie_header(headers, ACCESS_COOKIE).lower()
    assert "samesite=strict" in cookie_header(headers, REFRESH_COOKIE).lower()
    assert "httponly" not in cookie_header(headers, CSRF_COOKIE).lower()
    assert (await client.get("/api/auth/me")).json()["email"] == email
    assert (await client.post("/api/auth/logout-everywhere")).status_code == 403  # cookies, no CSRF token
