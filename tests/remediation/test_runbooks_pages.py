"""The runbook console pages over HTTP (no browser), both backends: library, detail, versions, editor."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alertwhisperer.auth.principal import Role
from alertwhisperer.clock import FakeClock
from alertwhisperer.config import Settings
from alertwhisperer.remediation.library import shipped
from tests.auth.helpers import cheap_argon2  # noqa: F401  (autouse fixture)
from tests.factories import PASSWORD, bearer, login, make_company, make_user

SM = async_sessionmaker[AsyncSession]

OWN = """name: acme-warm
title: Warm the Acme cache
risk: low
steps:
  linux:
    - name: Warm
      run: curl -fsS http://127.0.0.1:8080/warm
"""


@dataclass
class World:
    acme: str
    globex: str
    emails: dict[str, str]
    h: dict[str, dict[str, str]]


@pytest.fixture
async def world(client: httpx.AsyncClient, sessionmaker: SM, settings: Settings, clock: FakeClock) -> World:
    async with sessionmaker() as s:
        acme = await make_company(s, clock, "Acme")
        globex = await make_company(s, clock, "Globex")
        emails = {
            "msp": await make_user(s, settings, clock, Role.MSP_ADMIN),
            "admin": await make_user(s, settings, clock, Role.COMPANY_ADMIN, [acme.id]),
            "tech": await make_user(s, settings, clock, Role.TECHNICIAN, [acme.id]),
            "globex_admin": await make_user(s, settings, clock, Role.COMPANY_ADMIN, [globex.id]),
        }
    headers = {who: bearer(await login(client, email)) for who, email in emails.items()}
    return World(acme.id, globex.id, emails, headers)


def editor_text(page: str) -> str:
    found = re.search(r'<textarea[^>]*data-testid="yaml-editor"[^>]*>(.*?)</textarea>', page, re.S)
    assert found, "no YAML editor on the page"
    return html.unescape(found.group(1))


def rows(page: str) -> list[str]:
    return re.findall(r'data-testid="runbook-row" data-slug="([a-z0-9-]+)"', page)


async def runbook_id(client: httpx.AsyncClient, w: World, slug: str, company_id: str | None = None) -> str:
    params = {"company_id": company_id} if company_id else {}
    listed = (await client.get("/api/runbooks", params=params, headers=w.h["msp"])).json()
    return str(next(x["id"] for x in listed if x["slug"] == slug))


async def test_library_page_lists_filters_and_shows_overrides(client: httpx.AsyncClient, world: World) -> None:
    page = await client.get("/runbooks", headers=world.h["tech"])
    assert page.status_code == 200, page.text
    assert len(rows(page.text)) == len(shipped())
    for testid in (
        "runbook-filters",
        "filter-q",
        "filter-risk",
        "filter-trigger",
        "filter-company",
        "risk-badge",
        "auto-badge",
    ):
        assert f'data-testid="{testid}"' in page.text
    assert 'data-testid="new-runbook"' not in page.text  # technicians do not create
    admin_page = await client.get("/runbooks", headers=world.h["admin"])
    assert f'href="/runbooks/new?company_id={world.acme}" data-testid="new-runbook"' in admin_page.text
    msp_page = await client.get(f"/runbooks?company_id={world.globex}", headers=world.h["msp"])
    assert f'href="/runbooks/new?company_id={world.globex}" data-testid="new-runbook"' in msp_page.text
    high = await client.get("/runbooks?risk=high", headers=world.h["tech"])
    assert set(rows(high.text)) == {"patch-install", "reboot-server"}
    # The filters ask for the list only (htmx): no layout around it.
    part = await client.get("/runbooks?trigger=service_down:nginx", headers={**world.h["tech"], "HX-Request": "true"})
    assert part.status_code == 200 and "<html" not in part.text and 'id="runbooks-list"' in part.text
    assert {"restart-nginx", "restart-service"} <= set(rows(part.text)) and "disk-cleanup" not in rows(part.text)
    none = await client.get("/runbooks?q=no+such+thing+anywhere", headers=world.h["tech"])
    assert 'data-testid="runbooks-empty"' in none.text and "No runbook matches these filters" in none.text
    created = await client.post(
        "/api/runbooks",
        headers=world.h["admin"],
        json={"company_id": world.acme, "yaml": shipped()["restart-redis"].text.replace("Restart Redis", "Acme Redis")},
    )
    assert created.status_code == 201
    effective = await client.get(f"/runbooks?company_id={world.acme}&q=redis", headers=world.h["tech"])
    assert "Acme Redis" in effective.text and 'data-testid="override-badge"' in effective.text
    assert "Acme" in effective.text
    # Without a company in the query, the switcher's company (a technician's own) is the default view.
    assert "Acme Redis" in (await client.get("/runbooks?q=redis", headers=world.h["tech"])).text
    assert "Acme Redis" not in (await client.get("/runbooks?q=redis&company_id=", headers=world.h["tech"])).text
    assert "Acme Redis" not in (await client.get("/runbooks?q=redis", headers=world.h["msp"])).text
    assert (await client.get(f"/runbooks?company_id={world.globex}", headers=world.h["tech"])).status_code == 404


async def test_detail_page_shows_everything_and_old_versions(client: httpx.AsyncClient, world: World) -> None:
    rid = await runbook_id(client, world, "ssh-bruteforce-mitigation")
    page = await client.get(f"/runbooks/{rid}", headers=world.h["tech"])
    assert page.status_code == 200
    text = html.unescape(page.text)
    for piece in (
        "SSH brute-force mitigation",
        "Medium risk",
        'data-testid="runbook-trigger"',
        "security",
        'data-testid="runbook-parameters"',
        "bantime",
        'data-testid="steps-linux"',
        "Install fail2ban",
        'data-testid="health-check"',
        "fail2ban-client status sshd",
        'data-testid="rollback-linux"',
        'data-testid="versions"',
        'data-testid="runbook-yaml"',
        'data-testid="read-only"',
    ):
        assert piece in text, piece
    assert 'data-testid="edit-yaml"' not in text  # technicians read only
    edited = shipped()["ssh-bruteforce-mitigation"].text.replace("default: 1h", "default: 2h")
    r = await client.put(f"/api/runbooks/{rid}", headers=world.h["msp"], json={"yaml": edited, "note": "longer"})
    assert r.status_code == 200
    msp_view = html.unescape((await client.get(f"/runbooks/{rid}", headers=world.h["msp"])).text)
    assert 'data-testid="edit-yaml"' in msp_view and "longer" in msp_view and "2h" in msp_view
    assert msp_view.count('data-testid="version-row"') == 2
    old = html.unescape((await client.get(f"/runbooks/{rid}/versions/1", headers=world.h["msp"])).text)
    assert 'data-testid="old-version"' in old and 'data-testid="restore-version"' in old
    assert "default: 1h" in old
    assert (await client.get(f"/runbooks/{rid}/versions/7", headers=world.h["msp"])).status_code == 404


async def test_edit_with_errors_shows_them_inline_and_keeps_the_text(client: httpx.AsyncClient, world: World) -> None:
    created = await client.post("/api/runbooks", headers=world.h["admin"], json={"company_id": world.acme, "yaml": OWN})
    rid = created.json()["id"]
    form = await client.get(f"/runbooks/{rid}/edit", headers=world.h["admin"])
    assert form.status_code == 200 and 'data-testid="yaml-editor"' in form.text
    assert editor_text(form.text) == OWN
    broken = OWN.replace("risk: low", "risk: extreme").replace("curl -fsS", "curl {{ host }} -fsS")
    r = await client.post(f"/runbooks/{rid}/edit", headers=world.h["admin"], data={"yaml": broken, "note": "oops"})
    assert r.status_code == 422
    assert editor_text(r.text) == broken  # the text is kept as typed
    problems = re.findall(r'data-testid="problem" data-line="(\d+)"', r.text)
    assert problems == ["3"]  # field problems first; the placeholder is checked once the fields are valid
    assert 'data-testid="gutter-problem"' in r.text and 'id="rb-line-3" class="rb-bad"' in r.text
    assert "must be one of" in html.unescape(r.text) and 'data-testid="inline-problems"' in r.text
    assert 'value="oops"' in r.text
    r = await client.post(
        f"/runbooks/{rid}/edit", headers=world.h["admin"], data={"yaml": broken.replace("extreme", "low")}
    )
    assert r.status_code == 422 and re.findall(r'data-testid="problem" data-line="(\d+)"', r.text) == ["7"]
    assert "{{ host }} names no declared parameter" in html.unescape(r.text)
    saved = await client.post(
        f"/runbooks/{rid}/edit",
        headers=world.h["admin"],
        data={"yaml": OWN.replace("/warm", "/warm-up"), "note": "new path"},
    )
    assert saved.status_code == 303 and saved.headers["location"] == f"/runbooks/{rid}"
    assert (await client.get(f"/api/runbooks/{rid}", headers=world.h["admin"])).json()["current_version"] == 2
    same = await client.post(
        f"/runbooks/{rid}/edit", headers=world.h["admin"], data={"yaml": OWN.replace("/warm", "/warm-up")}
    )
    assert same.status_code == 303
    assert (await client.get(f"/api/runbooks/{rid}", headers=world.h["admin"])).json()["current_version"] == 2
    check = await client.post("/runbooks/check", headers=world.h["tech"], data={"yaml": broken})
    assert check.status_code == 200 and 'data-testid="problem" data-line="3"' in check.text
    valid = await client.post("/runbooks/check", headers=world.h["tech"], data={"yaml": OWN})
    assert 'data-testid="problems-none"' in valid.text


async def test_new_runbook_and_company_override_pages(client: httpx.AsyncClient, world: World) -> None:
    new = await client.get("/runbooks/new", headers=world.h["msp"])
    assert new.status_code == 200 and "New library runbook" in new.text
    r = await client.post("/runbooks/new", headers=world.h["msp"], data={"yaml": "name: x\n"})
    assert r.status_code == 422 and 'data-testid="problem"' in r.text
    r = await client.post("/runbooks/new", headers=world.h["msp"], data={"yaml": OWN, "note": "hello"})
    assert r.status_code == 303
    assert (await client.get("/api/runbooks?q=acme-warm", headers=world.h["tech"])).json()[0]["scope"] == "library"
    again = await client.post("/runbooks/new", headers=world.h["msp"], data={"yaml": OWN})
    assert again.status_code == 422 and "already" in again.text
    # Override: from the library runbook's page, a company admin starts from its YAML.
    nginx = await runbook_id(client, world, "restart-nginx")
    detail = await client.get(f"/runbooks/{nginx}", headers=world.h["admin"])
    assert 'data-testid="override-form"' in detail.text and 'data-testid="edit-yaml"' not in detail.text
    start = await client.get(f"/runbooks/new?company_id={world.acme}&from={nginx}", headers=world.h["admin"])
    assert start.status_code == 200 and "New runbook for Acme" in start.text
    assert editor_text(start.text) == shipped()["restart-nginx"].text
    text = shipped()["restart-nginx"].text.replace("Restart nginx (after", "Restart Acme nginx (after")
    made = await client.post("/runbooks/new", headers=world.h["admin"], data={"yaml": text, "company_id": world.acme})
    assert made.status_code == 303
    override = made.headers["location"].rsplit("/", 1)[1]
    shown = html.unescape((await client.get(made.headers["location"], headers=world.h["tech"])).text)
    assert "Restart Acme nginx" in shown and "override of the library runbook" in shown
    # Technicians and other companies cannot use the editor.
    assert (await client.get("/runbooks/new", headers=world.h["tech"])).status_code == 403
    assert (await client.get(f"/runbooks/new?company_id={world.acme}", headers=world.h["tech"])).status_code == 403
    assert (await client.get(f"/runbooks/{override}/edit", headers=world.h["tech"])).status_code == 403
    assert (
        await client.post(f"/runbooks/{override}/edit", headers=world.h["tech"], data={"yaml": text})
    ).status_code == 403
    assert (await client.get(f"/runbooks/{override}", headers=world.h["globex_admin"])).status_code == 404
    assert (await client.post(f"/runbooks/{override}/disable", headers=world.h["globex_admin"])).status_code == 404
    # Delete the override: back to the library runbook.
    gone = await client.post(f"/runbooks/{override}/delete", headers=world.h["admin"])
    assert gone.status_code == 303 and gone.headers["location"] == f"/runbooks?company_id={world.acme}"
    effective = (await client.get(f"/api/runbooks?company_id={world.acme}", headers=world.h["tech"])).json()
    assert next(x for x in effective if x["slug"] == "restart-nginx")["builtin"]


async def test_the_browser_flow_with_cookies_and_csrf(client: httpx.AsyncClient, world: World) -> None:
    r = await client.post("/login", data={"email": world.emails["admin"], "password": PASSWORD, "next": "/"})
    assert r.status_code == 303
    token = client.cookies["aw_csrf"]
    page = await client.get("/runbooks/new", params={"company_id": world.acme})
    assert f'name="csrf_token" value="{token}"' in page.text
    assert (await client.post("/runbooks/new", data={"yaml": OWN, "company_id": world.acme})).status_code == 403
    made = await client.post("/runbooks/new", data={"yaml": OWN, "company_id": world.acme, "csrf_token": token})
    assert made.status_code == 303
    off = await client.post(f"{made.headers['location']}/disable", data={"csrf_token": token})
    assert off.status_code == 303
    shown = await client.get(made.headers["location"])
    assert 'data-testid="disabled-note"' in shown.text and ">Enable<" in shown.text
