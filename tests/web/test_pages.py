"""Console pages over HTTP (no browser): cookies, CSRF, login redirects, one-time secrets, inline errors."""

from __future__ import annotations

import re

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alertwhisperer.auth.principal import Role
from alertwhisperer.clock import FakeClock
from alertwhisperer.config import Settings
from tests.factories import PASSWORD, bearer, login, make_asset, make_company, make_user

KEY_RE = re.compile(r"aw_[A-Za-z0-9_\-]{20,}")


async def _browser_login(client: httpx.AsyncClient, email: str) -> str:
    """Log in through the form; returns the CSRF token (readable cookie)."""
    r = await client.post("/login", data={"email": email, "password": PASSWORD, "next": "/companies"})
    assert r.status_code == 303, r.text
    token = client.cookies.get("aw_csrf")
    assert token
    return token


async def _admin(sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, clock: FakeClock) -> str:
    async with sessionmaker() as s:
        return await make_user(s, settings, clock, Role.MSP_ADMIN)


async def test_login_form_sets_httponly_samesite_cookies(client: httpx.AsyncClient,
                                                        sessionmaker: async_sessionmaker[AsyncSession],
                                                        settings: Settings, clock: FakeClock) -> None:
    email = await _admin(sessionmaker, settings, clock)
    r = await client.post("/login", data={"email": email, "password": PASSWORD, "next": "/companies"})
    assert r.status_code == 303
    assert r.headers["location"] == "/companies"
    cookies = {c.split("=", 1)[0]: c.lower() for c in r.headers.get_list("set-cookie")}
    assert "httponly" in cookies["aw_access"] and "samesite=lax" in cookies["aw_access"]
    assert "httponly" in cookies["aw_refresh"] and "samesite=strict" in cookies["aw_refresh"]
    assert "httponly" not in cookies["aw_csrf"]  # the page's script reads it for HTMX requests
    page = await client.get("/companies")
    assert page.status_code == 200
    assert 'name="csrf_token"' in page.text and client.cookies["aw_csrf"] in page.text


async def test_wrong_password_is_shown_on_the_form(client: httpx.AsyncClient,
                                                   sessionmaker: async_sessionmaker[AsyncSession],
                                                   settings: Settings, clock: FakeClock) -> None:
    email = await _admin(sessionmaker, settings, clock)
    r = await client.post("/login", data={"email": email, "password": "not-the-password"})
    assert r.status_code == 401
    assert "Wrong email or password" in r.text
    assert "aw_access" not in r.headers.get("set-cookie", "")


async def test_unauthenticated_page_redirects_to_login_with_local_next(client: httpx.AsyncClient) -> None:
    r = await client.get("/companies?x=1")
    assert r.status_code == 303
    assert r.headers["location"] == "/login?next=/companies%3Fx%3D1"
    form = await client.get("/login", params={"next": "//evil.example/steal"})
    assert 'name="next" value="/"' in form.text
    hx = await client.get("/users", headers={"HX-Request": "true"})
    assert hx.headers["HX-Redirect"].startswith("/login")
    api = await client.get("/api/companies")  # the API keeps answering JSON
    assert api.status_code == 401 and api.json()["error"] == "unauthenticated"


async def test_csrf_token_required_for_cookie_posts(client: httpx.AsyncClient,
                                                    sessionmaker: async_sessionmaker[AsyncSession],
                                                    settings: Settings, clock: FakeClock) -> None:
    email = await _admin(sessionmaker, settings, clock)
    token = await _browser_login(client, email)
    refused = await client.post("/companies", data={"name": "No Token Corp"})
    assert refused.status_code == 403
    assert "CSRF" in refused.text and "<html" in refused.text
    wrong = await client.post("/companies", data={"name": "No Token Corp", "csrf_token": "nope"})
    assert wrong.status_code == 403
    cross = await client.post("/companies", data={"name": "X", "csrf_token": token},
                              headers={"Origin": "https://evil.example"})
    assert cross.status_code == 403
    header = await client.post("/companies", data={"name": "Header Token Corp"}, headers={"X-CSRF-Token": token})
    assert header.status_code == 200
    assert "Header Token Corp" in header.text


async def test_company_create_shows_api_key_exactly_once(client: httpx.AsyncClient,
                                                         sessionmaker: async_sessionmaker[AsyncSession],
                                                         settings: Settings, clock: FakeClock) -> None:
    email = await _admin(sessionmaker, settings, clock)
    token = await _browser_login(client, email)
    r = await client.post("/companies", data={"name": "Initech", "slug": "initech", "timezone": "Europe/Berlin",
                                              "csrf_token": token})
    assert r.status_code == 200
    keys = set(KEY_RE.findall(r.text))
    assert len(keys) == 1
    key = keys.pop()
    assert "you will not see it again" in r.text
    company_id = re.search(r'data-replace-url="/companies/([0-9a-f]+)"', r.text)
    assert company_id
    detail = await client.get(f"/companies/{company_id.group(1)}")
    assert detail.status_code == 200
    assert key not in detail.text and not KEY_RE.search(detail.text)
    assert key[:11] in detail.text  # the stored prefix only
    listing = await client.get("/companies")
    assert key not in listing.text and "Initech" in listing.text
    # regenerating shows the new key once; the old one is gone
    regen = await client.post(f"/companies/{company_id.group(1)}/api-key", data={"csrf_token": token})
    new_key = KEY_RE.search(regen.text)
    assert new_key and new_key.group(0) != key
    assert "previous key has stopped working" in regen.text


async def test_form_errors_are_shown_inline(client: httpx.AsyncClient,
                                            sessionmaker: async_sessionmaker[AsyncSession],
                                            settings: Settings, clock: FakeClock) -> None:
    async with sessionmaker() as s:
        acme = await make_company(s, clock, "Acme")
        await make_asset(s, clock, acme.id, "db-01")
        await make_asset(s, clock, acme.id, "app-01", depends_on=["db-01"])
        email = await make_user(s, settings, clock, Role.MSP_ADMIN)
    token = await _browser_login(client, email)
    bad_tz = await client.post(f"/companies/{acme.id}", data={
        "name": "Acme", "timezone": "Mars/Olympus", "settings.ingest.rate_limit_per_minute": "600",
        "settings.ingest.burst": "600", "csrf_token": token})
    assert bad_tz.status_code == 422
    assert re.search(r'id="timezone-error"[^>]*>[^<]*unknown timezone', bad_tz.text, re.I)
    assets_page = await client.get(f"/companies/{acme.id}/assets")
    db_id = re.search(r'href="/assets/([0-9a-f]+)"><strong>db-01', assets_page.text)
    assert db_id
    cycle = await client.post(f"/assets/{db_id.group(1)}", data={
        "name": "db-01", "type": "database", "depends_on": "app-01", "csrf_token": token})
    assert cycle.status_code == 422
    assert re.search(r'id="depends_on-error"[^>]*>dependency cycle: db-01 -&gt; app-01 -&gt; db-01', cycle.text, re.I)
    bad_ip = await client.post(f"/companies/{acme.id}/assets", data={
        "name": "web-01", "ip": "999.1.1.1", "csrf_token": token})
    assert bad_ip.status_code == 422 and 'id="ip-error"' in bad_ip.text


async def test_pages_accept_bearer_tokens_and_enforce_scope(client: httpx.AsyncClient,
                                                            sessionmaker: async_sessionmaker[AsyncSession],
                                                            settings: Settings, clock: FakeClock) -> None:
    async with sessionmaker() as s:
        acme = await make_company(s, clock, "Acme")
        globex = await make_company(s, clock, "Globex")
        globex_db = await make_asset(s, clock, globex.id, "globex-db")
        tech = await make_user(s, settings, clock, Role.TECHNICIAN, [acme.id])
        admin = await make_user(s, settings, clock, Role.COMPANY_ADMIN, [acme.id])
    headers = bearer(await login(client, tech))
    assert (await client.get("/", headers=headers)).status_code == 200
    assert (await client.get(f"/companies/{acme.id}/assets", headers=headers)).status_code == 200
    forbidden = await client.get("/users", headers=headers)
    assert forbidden.status_code == 403 and "<html" in forbidden.text
    hidden = await client.get(f"/companies/{globex.id}", headers=headers)
    assert hidden.status_code == 404 and "Globex" not in hidden.text
    admin_headers = bearer(await login(client, admin))
    assert (await client.get(f"/assets/{globex_db.id}", headers=admin_headers)).status_code == 404
    write = await client.post(f"/assets/{globex_db.id}/delete", headers=admin_headers)
    assert write.status_code == 404
    created = await client.post("/users", headers=admin_headers, data={
        "name": "New Tech", "email": "newtech@msp.example", "role": "technician", "company_ids": acme.id})
    assert created.status_code == 200
    assert "you will not see it again" in created.text


async def test_logout_revokes_the_session(client: httpx.AsyncClient,
                                          sessionmaker: async_sessionmaker[AsyncSession],
                                          settings: Settings, clock: FakeClock) -> None:
    email = await _admin(sessionmaker, settings, clock)
    token = await _browser_login(client, email)
    access = client.cookies["aw_access"]
    r = await client.post("/logout", data={"csrf_token": token})
    assert r.status_code == 303 and r.headers["location"] == "/login"
    client.cookies.clear()
    client.cookies.set("aw_access", access)
    stale = await client.get("/")
    assert stale.status_code == 303 and stale.headers["location"].startswith("/login")
