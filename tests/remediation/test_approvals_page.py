"""The /approvals console page: the inbox renders per viewer, approve redirects to the execution, refusals
are shown next to the request, the live list refreshes as a fragment."""

from __future__ import annotations

import json
import re
from urllib.parse import unquote

import httpx
import pytest

from alertwhisperer.clock import FakeClock
from alertwhisperer.config import Settings
from alertwhisperer.remediation import states
from tests.factories import PASSWORD
from tests.remediation.test_gates_world import HIGH, MEDIUM, SM, World, build, execution, make_request

NGINX = {"service": "nginx"}


@pytest.fixture
async def world(sessionmaker: SM, settings: Settings, clock: FakeClock) -> World:
    return await build(sessionmaker, settings, clock)


async def browser_login(client: httpx.AsyncClient, email: str) -> str:
    client.cookies.clear()
    r = await client.post("/login", data={"email": email, "password": PASSWORD, "next": "/approvals"})
    assert r.status_code == 303, r.text
    token = client.cookies.get("aw_csrf")
    assert token
    return token


def request_card(html: str, execution_id: str) -> str:
    start = html.index(f'id="request-{execution_id}"')
    return html[start : html.index("</li>", start)]


async def test_empty_inbox(client: httpx.AsyncClient, world: World) -> None:
    await browser_login(client, world.emails["admin"])
    r = await client.get("/approvals")
    assert r.status_code == 200
    assert 'data-testid="approvals-empty"' in r.text and "Nothing waits for your approval" in r.text
    assert "No answered or expired requests yet" in r.text


async def test_inbox_shows_requests_with_what_the_viewer_may_do(
    client: httpx.AsyncClient, sessionmaker: SM, settings: Settings, clock: FakeClock, world: World
) -> None:
    medium = await make_request(sessionmaker, settings, clock, world, MEDIUM, params=NGINX, by="tech")
    high = await make_request(sessionmaker, settings, clock, world, HIGH, by="admin")
    clock.advance(minutes=17)
    await browser_login(client, world.emails["admin"])
    html = (await client.get("/approvals")).text
    card = request_card(html, medium.id)
    assert "Medium risk" in card and "expires in 43 min" in card and 'data-remaining="2580"' in card
    assert "service=nginx" in card and "web-01" in card and medium.runbook_title in card
    assert re.search(r'data-testid="approve" data-answer\s*>', card)  # enabled
    own = request_card(html, high.id)
    assert "Your request" in own and re.search(r'data-testid="approve" data-answer disabled', own)
    assert "nobody approves their own request" in own
    await browser_login(client, world.emails["tech"])
    card = request_card((await client.get("/approvals")).text, medium.id)
    assert "disabled" in card and "Your request" in card
    await browser_login(client, world.emails["admin_b"])
    assert medium.id not in (await client.get("/approvals")).text


async def test_approve_redirects_to_the_execution(
    client: httpx.AsyncClient, sessionmaker: SM, settings: Settings, clock: FakeClock, world: World
) -> None:
    ex = await make_request(sessionmaker, settings, clock, world, MEDIUM, params=NGINX, by="tech")
    token = await browser_login(client, world.emails["admin"])
    r = await client.post(f"/approvals/{ex.id}/approve", data={"note": "go", "csrf_token": token})
    assert r.status_code == 303 and r.headers["location"] == f"/executions/{ex.id}"
    flash = json.loads(unquote(r.cookies["aw_flash"]))
    assert flash["kind"] == "success" and "queued" in flash["message"]
    assert (await execution(sessionmaker, ex.id)).status == states.APPROVED
    decided = (await client.get("/approvals")).text
    assert 'data-testid="decided-row"' in decided and "Approved" in decided and "“go”" in decided


async def test_refusals_are_shown_inline(
    client: httpx.AsyncClient, sessionmaker: SM, settings: Settings, clock: FakeClock, world: World
) -> None:
    ex = await make_request(sessionmaker, settings, clock, world, MEDIUM, params=NGINX, by="admin")
    token = await browser_login(client, world.emails["admin"])
    r = await client.post(f"/approvals/{ex.id}/approve", data={"note": "", "csrf_token": token})
    assert r.status_code == 403 and "nobody approves their own request" in request_card(r.text, ex.id)
    token = await browser_login(client, world.emails["admin2"])
    r = await client.post(f"/approvals/{ex.id}/reject", data={"note": "", "csrf_token": token})
    assert r.status_code == 422
    assert 'data-testid="answer-error"' in request_card(r.text, ex.id) and "Say why" in r.text
    clock.advance(minutes=61)
    r = await client.post(f"/approvals/{ex.id}/approve", data={"note": "late", "csrf_token": token})
    assert r.status_code == 409 and 'data-testid="approval-error"' in r.text and "expired" in r.text
    assert (await execution(sessionmaker, ex.id)).status == states.EXPIRED
    r = await client.post(f"/approvals/{ex.id}/approve", data={"note": "late"})  # no CSRF token
    assert r.status_code == 403


async def test_live_refresh_returns_the_fragment(
    client: httpx.AsyncClient, sessionmaker: SM, settings: Settings, clock: FakeClock, world: World
) -> None:
    ex = await make_request(sessionmaker, settings, clock, world, MEDIUM, params=NGINX, by="tech")
    await browser_login(client, world.emails["msp"])
    r = await client.get("/approvals", headers={"HX-Request": "true", "HX-Target": "approvals-live"})
    assert r.status_code == 200 and r.text.lstrip().startswith('<div id="approvals-live"')
    assert "<html" not in r.text and f'id="request-{ex.id}"' in r.text
    assert 'name="csrf_token" value="' + client.cookies["aw_csrf"] + '"' in r.text
