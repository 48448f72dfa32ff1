"""The runbooks HTTP API with real users and roles, on both backends."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alertwhisperer.audit.models import AuditEntry
from alertwhisperer.auth.principal import Role
from alertwhisperer.clock import FakeClock
from alertwhisperer.config import Settings
from alertwhisperer.remediation.library import shipped
from tests.auth.helpers import cheap_argon2  # noqa: F401  (autouse fixture)
from tests.factories import bearer, login, make_company, make_user

SM = async_sessionmaker[AsyncSession]

OWN = """name: acme-cache-warm
title: Warm the Acme cache
description: Calls the warm-up endpoint.
risk: low
trigger:
  symptoms: [latency]
parameters:
  - name: url_path
    default: /warm
    pattern: '/[a-z/-]*'
steps:
  linux:
    - name: Warm
      run: curl -fsS http://127.0.0.1:8080{{ url_path }}
health_check:
  kind: alert_resolved
  within_minutes: 5
"""


@dataclass
class World:
    acme: str
    globex: str
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
    return World(acme.id, globex.id, headers)


async def test_list_the_library_and_a_companys_effective_view(client: httpx.AsyncClient, world: World) -> None:
    r = await client.get("/api/runbooks", headers=world.h["tech"])
    assert r.status_code == 200, r.text
    rows = r.json()
    assert len(rows) == len(shipped()) >= 20
    nginx = next(x for x in rows if x["slug"] == "restart-nginx")
    assert nginx["builtin"] and nginx["scope"] == "library" and nginx["risk"] == "low" and nginx["auto_approve"]
    assert nginx["oses"] == ["linux"] and nginx["symptoms"] == ["service_down:nginx"] and not nginx["overridden"]
    high = (await client.get("/api/runbooks?risk=high", headers=world.h["tech"])).json()
    assert {x["slug"] for x in high} == {"patch-install", "reboot-server"}
    trig = (await client.get("/api/runbooks", params={"trigger": "service_down:redis"}, headers=world.h["tech"])).json()
    assert {"restart-redis", "restart-service"} <= {x["slug"] for x in trig}
    found = (await client.get("/api/runbooks?q=fail2ban", headers=world.h["tech"])).json()
    assert [x["slug"] for x in found] == ["ssh-bruteforce-mitigation"]
    # Overrides show in the company's effective view only.
    created = await client.post(
        "/api/runbooks",
        headers=world.h["admin"],
        json={"company_id": world.acme, "yaml": shipped()["restart-nginx"].text.replace("Restart nginx", "Acme nginx")},
    )
    assert created.status_code == 201, created.text
    acme = (await client.get(f"/api/runbooks?company_id={world.acme}", headers=world.h["tech"])).json()
    mine = next(x for x in acme if x["slug"] == "restart-nginx")
    assert mine["overridden"] and mine["scope"] == "company" and mine["id"] == created.json()["id"]
    assert len(acme) == len(rows)
    library = (await client.get("/api/runbooks", headers=world.h["tech"])).json()
    assert next(x for x in library if x["slug"] == "restart-nginx")["builtin"]
    assert (await client.get(f"/api/runbooks?company_id={world.globex}", headers=world.h["tech"])).status_code == 404


async def test_create_read_edit_versions(client: httpx.AsyncClient, world: World, sessionmaker: SM) -> None:
    r = await client.post(
        "/api/runbooks", headers=world.h["admin"], json={"company_id": world.acme, "yaml": OWN, "note": "first cut"}
    )
    assert r.status_code == 201, r.text
    body = r.json()
    rid = body["id"]
    assert body["current_version"] == 1 and body["yaml"] == OWN and body["versions"][0]["note"] == "first cut"
    assert body["spec"]["parameters"][0]["default"] == "/warm" and not body["overridden"]
    edited = OWN.replace("within_minutes: 5", "within_minutes: 7")
    r = await client.put(f"/api/runbooks/{rid}", headers=world.h["admin"], json={"yaml": edited, "note": "slower"})
    assert r.status_code == 200 and r.headers["x-runbook-changed"] == "true"
    assert r.json()["current_version"] == 2 and [v["version"] for v in r.json()["versions"]] == [2, 1]
    same = await client.put(f"/api/runbooks/{rid}", headers=world.h["admin"], json={"yaml": edited + "\n# same\n"})
    assert same.status_code == 200 and same.headers["x-runbook-changed"] == "false"
    assert same.json()["current_version"] == 2
    old = await client.get(f"/api/runbooks/{rid}/versions/1", headers=world.h["tech"])
    assert old.status_code == 200 and old.json()["yaml"] == OWN and old.json()["version"] == 1
    assert (await client.get(f"/api/runbooks/{rid}/versions/9", headers=world.h["tech"])).status_code == 404
    detail = (await client.get(f"/api/runbooks/{rid}", headers=world.h["tech"])).json()
    assert detail["spec"]["health_check"]["within_minutes"] == 7 and detail["update_available"] is None
    async with sessionmaker() as s:
        actions = list(
            (
                await s.execute(select(AuditEntry.action).where(AuditEntry.target_id == rid).order_by(AuditEntry.seq))
            ).scalars()
        )
    assert actions == ["runbook.created", "runbook.updated"]


async def test_invalid_yaml_is_422_with_problems_and_lines(client: httpx.AsyncClient, world: World) -> None:
    bad = OWN.replace("risk: low", "risk: low\nauto_approve: true\nrisk_level: 2").replace(
        "{{ url_path }}", "{{ path }}"
    )
    r = await client.post("/api/runbooks", headers=world.h["msp"], json={"yaml": bad})
    assert r.status_code == 422, r.text
    problems = r.json()["details"]["problems"]
    assert problems == [{"line": 6, "field": "risk_level", "message": "unknown field 'risk_level'"}]
    fixed_field = bad.replace("risk_level: 2\n", "")
    r = await client.post("/api/runbooks", headers=world.h["msp"], json={"yaml": fixed_field})
    assert r.status_code == 422
    assert r.json()["details"]["problems"][0]["line"] == 15
    assert "{{ path }} names no declared parameter" in r.json()["details"]["problems"][0]["message"]
    check = await client.post("/api/runbooks/validate", headers=world.h["tech"], json={"yaml": fixed_field})
    assert check.status_code == 200 and not check.json()["valid"] and check.json()["problems"][0]["line"] == 15
    ok = await client.post("/api/runbooks/validate", headers=world.h["tech"], json={"yaml": OWN})
    assert ok.json()["valid"] and ok.json()["problems"] == [] and len(ok.json()["spec_hash"]) == 64
    assert (await client.get("/api/runbooks?q=acme-cache", headers=world.h["msp"])).json() == []  # nothing written
    dup = await client.post("/api/runbooks", headers=world.h["msp"], json={"yaml": shipped()["restart-nginx"].text})
    assert dup.status_code == 409 and dup.json()["details"]["problems"][0]["line"] == 1


async def test_roles(client: httpx.AsyncClient, world: World) -> None:
    own = (
        await client.post("/api/runbooks", headers=world.h["admin"], json={"company_id": world.acme, "yaml": OWN})
    ).json()["id"]
    nginx = next(
        x for x in (await client.get("/api/runbooks", headers=world.h["tech"])).json() if x["slug"] == "restart-nginx"
    )["id"]
    tech, admin, other, msp = (world.h[k] for k in ("tech", "admin", "globex_admin", "msp"))
    edit = {"yaml": OWN.replace("Warm the", "Warmer"), "note": "x"}
    # Technicians read, never write.
    assert (await client.get(f"/api/runbooks/{own}", headers=tech)).status_code == 200
    assert (await client.put(f"/api/runbooks/{own}", headers=tech, json=edit)).status_code == 403
    assert (
        await client.post("/api/runbooks", headers=tech, json={"company_id": world.acme, "yaml": OWN})
    ).status_code == 403
    assert (await client.post(f"/api/runbooks/{own}/disable", headers=tech)).status_code == 403
    assert (await client.delete(f"/api/runbooks/{own}", headers=tech)).status_code == 403
    # Another company's runbook does not exist for its admin.
    for method, url in (
        ("GET", f"/api/runbooks/{own}"),
        ("GET", f"/api/runbooks/{own}/versions/1"),
        ("PUT", f"/api/runbooks/{own}"),
        ("POST", f"/api/runbooks/{own}/disable"),
        ("DELETE", f"/api/runbooks/{own}"),
    ):
        r = await client.request(method, url, headers=other, json=edit if method == "PUT" else None)
        assert r.status_code == 404, (method, url, r.status_code)
    assert (
        await client.post("/api/runbooks", headers=other, json={"company_id": world.acme, "yaml": OWN})
    ).status_code == 404
    # Company admins do not change the library; the MSP admin does.
    assert (await client.post("/api/runbooks", headers=admin, json={"yaml": OWN})).status_code == 403
    assert (await client.post(f"/api/runbooks/{nginx}/disable", headers=admin)).status_code == 403
    r = await client.post(f"/api/runbooks/{nginx}/disable", headers=msp)
    assert r.status_code == 200 and not r.json()["enabled"]
    assert (await client.post(f"/api/runbooks/{nginx}/enable", headers=msp)).json()["enabled"]
    assert (await client.delete(f"/api/runbooks/{nginx}", headers=msp)).status_code == 409
    # The company admin runs their own runbook's life cycle.
    assert (await client.put(f"/api/runbooks/{own}", headers=admin, json=edit)).json()["current_version"] == 2
    assert not (await client.post(f"/api/runbooks/{own}/disable", headers=admin)).json()["enabled"]
    assert (await client.delete(f"/api/runbooks/{own}", headers=admin)).status_code == 204
    assert (await client.get(f"/api/runbooks/{own}", headers=admin)).status_code == 404
    assert (await client.get("/api/runbooks")).status_code == 401
