"""RBAC matrix: walk the application's route table and prove no cross-company read or write.

Two companies (A and B) x three roles (msp_admin MSP-wide; company_admin and technician of A only).
Every HTTP route is called by the scoped roles with its path parameters pointing at company B's
resources and a body that would succeed if authorisation were missing. They must get no 2xx, see
nothing of B in the answer, and leave B's rows exactly as they were. New routes are covered
automatically; a route with a path parameter this file does not know fails the test until it is
added to ``PARAMS`` below.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import asyncssh
import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.routing import Mount, WebSocketRoute

import alertwhisperer.models  # noqa: F401  (every table in the metadata)
from alertwhisperer.auth.models import AuthSession, Membership, User
from alertwhisperer.auth.principal import Role
from alertwhisperer.clock import FakeClock
from alertwhisperer.config import Settings
from alertwhisperer.correlation.models import Incident
from alertwhisperer.correlation.service import correlate_deliveries
from alertwhisperer.db import Base
from alertwhisperer.ingest.models import Alert
from alertwhisperer.notify import service as notify_service
from alertwhisperer.remediation import gates
from alertwhisperer.remediation.models import RunbookVersion
from tests.auth.helpers import cheap_argon2, user_id  # noqa: F401  (cheap_argon2: autouse fixture)
from tests.factories import PASSWORD, bearer, login, make_asset, make_company, make_user

SM = async_sessionmaker[AsyncSession]
SKIP_PATHS = {"/healthz", "/readyz", "/metrics", "/api/docs", "/api/openapi.json", "/docs/oauth2-redirect",
              "/redoc"}
# Routes anyone may call (they authenticate the caller themselves): no 2xx rule, but still no leak of B.
PUBLIC = {("POST", "/api/auth/login"), ("POST", "/api/auth/refresh"), ("GET", "/login"), ("POST", "/login")}
STRONG = "Zebra-Mountain-Kettle-9"


@dataclass
class World:
    a: str
    b: str
    b_slug: str
    tokens: dict[str, dict[str, str]]
    emails: dict[str, str]
    params: dict[str, str]  # path parameter -> a resource of company B
    markers: list[str] = field(default_factory=list)  # strings that identify B's data


# path parameter -> how to find company B's resource of that kind in the world
PARAMS: dict[str, Callable[[World], str]] = {
    "company_id": lambda w: w.params["company_id"],
    "asset_id": lambda w: w.params["asset_id"],
    "user_id": lambda w: w.params["user_id"],
    "session_id": lambda w: w.params["session_id"],
    "heartbeat_name": lambda w: w.params["heartbeat_name"],
    "source": lambda w: "alertmanager",  # a monitoring tool key, not a tenant resource
    "alert_id": lambda w: w.params["alert_id"],
    "incident_id": lambda w: w.params["incident_id"],
    "window_id": lambda w: w.params["window_id"],  # a maintenance window of company B
    "schedule_id": lambda w: w.params["schedule_id"],  # an on-call schedule of company B
    "override_id": lambda w: w.params["override_id"],  # an override of that schedule
    "notification_id": lambda w: w.params["notification_id"],  # a notification of B's technician
    "room": lambda w: f"company:{w.b}",  # company B's chat room
    "runbook_id": lambda w: w.params["runbook_id"],  # a runbook of company B
    "version": lambda w: "1",  # a version number of that runbook
    "credential_id": lambda w: w.params["credential_id"],  # an SSH credential of company B
    "execution_id": lambda w: w.params["execution_id"],  # a runbook execution of company B (pending approval)
}

JSON_BODIES: dict[tuple[str, str], Callable[[World], Any]] = {
    ("POST", "/api/users"): lambda w: {"email": "probe@msp.example", "name": "Probe", "role": "technician",
                                       "company_ids": [w.b], "password": STRONG},
    ("PATCH", "/api/users/{user_id}"): lambda w: {"name": "Hijacked", "is_active": False},
    ("POST", "/api/companies"): lambda w: {"name": "Probe Co"},
    ("PATCH", "/api/companies/{company_id}"): lambda w: {"name": "Hijacked", "settings": {"notes": "x"}},
    ("DELETE", "/api/companies/{company_id}"): lambda w: {"confirm_slug": w.b_slug},
    ("POST", "/api/companies/{company_id}/assets"): lambda w: {"name": "probe-asset"},
    ("PATCH", "/api/assets/{asset_id}"): lambda w: {"name": "hijacked", "critical": True},
    ("POST", "/api/companies/{company_id}/heartbeats"): lambda w: {"name": "probe-hb", "interval_seconds": 300},
    ("POST", "/api/auth/password"): lambda w: {"current_password": "Wrong-Current-1", "new_password": STRONG},
    ("POST", "/api/auth/refresh"): lambda w: {"refresh_token": "awr_bogus"},
    ("POST", "/api/chat/rooms/{room}/messages"): lambda w: {"body": "probe"},
    ("POST", "/api/patches/scan"): lambda w: {"company_id": w.b},
    ("POST", "/api/executions"): lambda w: {"runbook_id": w.params["runbook_id"], "asset_id": w.params["asset_id"],
                                            "params": {}},
    ("PUT", "/api/assets/{asset_id}/access"): lambda w: {"executor": "local"},
    ("PUT", "/api/companies/{company_id}/remediation-policy"): lambda w: {"auto_run": False},
    ("POST", "/api/approvals/{execution_id}/approve"): lambda w: {"note": "probe"},
    ("POST", "/api/approvals/{execution_id}/reject"): lambda w: {"note": "probe"},
    ("PUT", "/api/runbooks/{runbook_id}"): lambda w: {"yaml": ZETA_RUNBOOK.replace("echo zeta", "echo hijacked")},
    ("POST", "/api/runbooks"): lambda w: {"company_id": w.b, "yaml": ZETA_RUNBOOK.replace("zeta-secret", "probe")},
}
ZETA_RUNBOOK = ("name: zeta-secret-runbook\ntitle: Zeta Secret Runbook\nrisk: medium\n"
                "steps:\n  linux:\n    - name: a\n      run: echo zeta\n")


def _generic_json(w: World) -> dict[str, Any]:
    return {"name": "probe", "company_id": w.b, "company_ids": [w.b], "confirm_slug": w.b_slug}


def _form(w: World, actor_email: str) -> dict[str, str]:
    """Fields the console's forms use, aimed at B wherever a company is named."""
    return {"name": "probe", "company_id": w.b, "company_ids": w.b, "confirm_slug": w.b_slug,
            "email": "probe@msp.example", "role": "technician", "password": STRONG, "slug": "probe-co",
            "current_password": "Wrong-Current-1", "new_password": STRONG, "confirm_password": STRONG,
            "timezone": "UTC", "type": "server", "interval_seconds": "300", "csrf_token": "none"}


def http_routes(app: FastAPI) -> list[tuple[str, str, bool]]:
    """(method, path template, is_api) for every HTTP route, the console's included."""
    out = []
    for rc in iter_route_contexts(app.routes):
        route = rc.original_route
        if isinstance(route, (WebSocketRoute, Mount)) or rc.path is None or rc.path in SKIP_PATHS:
            continue
        if type(route).__name__ == "APIWebSocketRoute":
            continue
        for method in sorted((rc.methods or set()) - {"HEAD", "OPTIONS"}):
            out.append((method, rc.path, rc.path.startswith("/api/")))
    assert len(out) > 20, "the route walk found almost nothing; has the router API changed?"
    return out


def fill(path: str, w: World) -> str:
    import re

    def sub(m: re.Match[str]) -> str:
        name = m.group(1).split(":")[0]
        if name not in PARAMS:
            raise AssertionError(
                f"route {path} has path parameter {{{name}}} that the RBAC matrix does not know: add it to "
                f"PARAMS in tests/test_rbac_matrix.py (and a resource of company B for it to the world)")
        return PARAMS[name](w)

    return re.sub(r"\{([^}]+)\}", sub, path)


async def build_world(client: httpx.AsyncClient, sm: SM, settings: Settings, clock: FakeClock) -> World:
    async with sm() as s:
        a = await make_company(s, clock, "Acme Visible", slug="acme-visible")
        b = await make_company(s, clock, "Zeta Hidden Corp", slug="zeta-hidden")
        await make_asset(s, clock, a.id, "acme-db-01")
        b_db = await make_asset(s, clock, b.id, "zeta-secret-db", ip="10.99.0.5")
        b_app = await make_asset(s, clock, b.id, "zeta-secret-app", depends_on=["zeta-secret-db"])
        emails = {
            "msp_admin": await make_user(s, settings, clock, Role.MSP_ADMIN, email="msp@msp.example"),
            "company_admin": await make_user(s, settings, clock, Role.COMPANY_ADMIN, [a.id], email="ca@acme.example"),
            "technician": await make_user(s, settings, clock, Role.TECHNICIAN, [a.id], email="ta@acme.example"),
            "b_admin": await make_user(s, settings, clock, Role.COMPANY_ADMIN, [b.id], email="cb@zeta-mail.example"),
            "b_tech": await make_user(s, settings, clock, Role.TECHNICIAN, [b.id], email="tb@zeta-mail.example"),
        }
        await make_user(s, settings, clock, Role.TECHNICIAN, [a.id, b.id], email="shared@msp.example")
    tokens = {role: await login(client, emails[role]) for role in ("msp_admin", "company_admin", "technician")}
    b_tech_tokens = await login(client, emails["b_tech"])
    b_tech_id = await user_id(sm, emails["b_tech"])
    async with sm() as s:
        session_id = (await s.execute(select(AuthSession.id).where(AuthSession.user_id == b_tech_id))).scalar_one()
    w = World(a.id, b.id, "zeta-hidden", tokens, emails, {
        "company_id": b.id, "asset_id": b_app.id, "user_id": b_tech_id, "session_id": session_id,
        "heartbeat_name": "zeta-heartbeat"})
    hb = await client.post(f"/api/companies/{b.id}/heartbeats", headers=bearer(tokens["msp_admin"]),
                           json={"name": "zeta-heartbeat", "interval_seconds": 300})
    assert hb.status_code in (201, 404, 405), hb.text  # 404/405 once heartbeats move elsewhere
    sent = await client.post(f"/api/companies/{b.id}/integrations/alertmanager/test",
                             headers=bearer(tokens["msp_admin"]))
    assert sent.status_code in (202, 404, 405), sent.text
    w.params["alert_id"] = sent.json()["alert_ids"][0] if sent.status_code == 202 else "0" * 32
    async with sm() as s:  # correlate B's alert into an incident (what the inbox job does)
        deliveries = list((await s.execute(select(Alert.delivery_id).where(Alert.company_id == b.id))).scalars())
        await correlate_deliveries(s, now=clock.now(), delivery_ids=deliveries)
        await s.commit()
        incident = (await s.execute(select(Incident.id).where(Incident.company_id == b.id))).scalars().first()
    w.params["incident_id"] = incident or "0" * 32
    window = await client.post(f"/api/companies/{b.id}/maintenance-windows", headers=bearer(tokens["msp_admin"]),
                               json={"id": "zeta-window", "name": "Zeta Secret Upgrade", "assets": ["zeta-secret-db"],
                                     "start": "2030-01-01T00:00:00+00:00", "end": "2030-01-02T00:00:00+00:00"})
    assert window.status_code in (201, 404, 405), window.text
    w.params["window_id"] = "zeta-window"
    sched = await client.post("/api/schedules", headers=bearer(tokens["msp_admin"]), json={
        "company_id": b.id, "name": "Zeta Secret Rota",
        "layers": [{"name": "Zeta layer", "starts_on": "2026-01-05", "members": [b_tech_id]}]})
    assert sched.status_code == 201, sched.text
    w.params["schedule_id"] = sched.json()["id"]
    override = await client.post(f"/api/schedules/{w.params['schedule_id']}/overrides",
                                 headers=bearer(tokens["msp_admin"]),
                                 json={"user_id": b_tech_id, "starts_at": "2030-01-01T00:00:00+00:00",
                                       "ends_at": "2030-01-02T00:00:00+00:00", "reason": "zeta swap"})
    assert override.status_code == 201, override.text
    w.params["override_id"] = override.json()["id"]
    async with sm() as s:
        notes = await notify_service.notify(s, clock=clock, kind="assignment", user_ids=[b_tech_id],
                                            title="Zeta secret notification", company_id=b.id, severity="critical")
        await s.commit()
    w.params["notification_id"] = notes[0].id
    await _remediation_of_b(client, sm, settings, clock, w, b_app.id)
    w.markers = ["Zeta Hidden Corp", "zeta-hidden", b.id, b_db.id, b_app.id, "zeta-secret-db", "zeta-secret-app",
                 "10.99.0.5", b_tech_id, "Zeta Secret Rota", w.params["schedule_id"], w.params["override_id"],
                 w.params["notification_id"], "Zeta secret notification", await user_id(sm, emails["b_admin"]),
                 emails["b_tech"],
                 emails["b_admin"], session_id, w.params["alert_id"], w.params["incident_id"], b.api_key,
                 b.company.api_key_hash, b_tech_tokens["refresh_token"], "Zeta Secret Upgrade",
                 "Zeta Secret Runbook", "zeta-secret-runbook", w.params["runbook_id"], w.params["credential_id"],
                 "zeta-secret-key", w.params["execution_id"]]
    return w


async def _remediation_of_b(client: httpx.AsyncClient, sm: SM, settings: Settings, clock: FakeClock, w: World,
                            asset_id: str) -> None:
    """Company B's runbook, SSH credential, the asset's remote access and an execution waiting for approval."""
    h = bearer(w.tokens["msp_admin"])
    runbook = await client.post("/api/runbooks", headers=h, json={"company_id": w.b, "yaml": ZETA_RUNBOOK})
    assert runbook.status_code == 201, runbook.text
    w.params["runbook_id"] = runbook.json()["id"]
    key = asyncssh.generate_private_key("ssh-ed25519").export_private_key().decode()
    cred = await client.post(f"/api/companies/{w.b}/credentials", headers=h, json={
        "name": "zeta-secret-key", "kind": "ssh_key", "username": "zeta", "private_key": key})
    assert cred.status_code == 201, cred.text
    w.params["credential_id"] = cred.json()["id"]
    access = await client.put(f"/api/assets/{asset_id}/access", headers=h, json={
        "executor": "ssh", "host": "10.99.0.6", "credential_id": w.params["credential_id"]})
    assert access.status_code == 200, access.text
    async with sm() as s:
        version_id = (await s.execute(select(RunbookVersion.id).where(
            RunbookVersion.runbook_id == w.params["runbook_id"]))).scalar_one()
        execution = await gates.request(s, clock=clock, settings=settings, company_id=w.b,
                                        runbook_version_id=version_id, params={}, asset_id=asset_id,
                                        actor=None, trigger="auto")
        await s.commit()
    w.params["execution_id"] = execution.id


async def snapshot_b(sm: SM, w: World) -> dict[str, list[str]]:
    """Every row that belongs to company B or to its users."""
    out: dict[str, list[str]] = {}
    async with sm() as s:
        b_users = list((await s.execute(select(Membership.user_id).where(Membership.company_id == w.b))).scalars())
        for table in Base.metadata.sorted_tables:
            if "company_id" in table.c:
                rows = (await s.execute(select(table).where(table.c.company_id == w.b))).all()
            elif table.name == "companies":
                rows = (await s.execute(select(table).where(table.c.id == w.b))).all()
            else:
                continue
            out[table.name] = sorted(repr(tuple(r)) for r in rows)
        for model, column in ((User, User.id), (Membership, Membership.user_id), (AuthSession, AuthSession.user_id)):
            rows = (await s.execute(select(model.__table__).where(column.in_(b_users)))).all()
            out[f"{model.__tablename__}:b_users"] = sorted(repr(tuple(r)) for r in rows)
        out["refresh_tokens"] = sorted(repr(tuple(r)) for r in (await s.execute(text(
            "SELECT token_hash, used_at FROM refresh_tokens WHERE session_id = :sid"),
            {"sid": w.params["session_id"]})).all())
    return out


async def _send(client: httpx.AsyncClient, w: World, role: str | None, method: str, template: str,
                is_api: bool) -> tuple[str, httpx.Response]:
    url = fill(template, w)
    headers = bearer(w.tokens[role]) if role else {}
    email = w.emails[role] if role else "nobody@msp.example"
    if (method, template) in PUBLIC:
        creds = {"email": email, "password": "Wrong-Password-1"}
        if is_api:
            return url, await client.request(method, url, json=creds if method != "GET" else None, headers=headers)
        return url, await client.request(method, url, data=creds if method != "GET" else None, headers=headers)
    if method == "GET":
        return url, await client.get(url, headers=headers)
    if is_api:
        make_body: Callable[[World], Any] = JSON_BODIES.get((method, template), _generic_json)
        body = make_body(w)
        return url, await client.request(method, url, json=body, headers=headers)
    return url, await client.request(method, url, data=_form(w, email), headers=headers)


def _leaks(w: World, url: str, response: httpx.Response) -> list[str]:
    body = response.text.replace(url, "")  # an echo of the requested path is not a leak
    return [m for m in w.markers if m and m in body]


async def _keep_logged_in(client: httpx.AsyncClient, w: World, role: str) -> None:
    """Logout-style routes end the caller's own session: log in again so later checks stay meaningful."""
    if (await client.get("/api/auth/me", headers=bearer(w.tokens[role]))).status_code == 401:
        w.tokens[role] = await login(client, w.emails[role], PASSWORD)


async def test_no_cross_company_read_or_write(app: FastAPI, client: httpx.AsyncClient, sessionmaker: SM,
                                              settings: Settings, clock: FakeClock) -> None:
    w = await build_world(client, sessionmaker, settings, clock)
    routes = http_routes(app)
    for _method, template, _ in routes:
        fill(template, w)  # every path parameter is known before anything is sent
    before = await snapshot_b(sessionmaker, w)
    problems: list[str] = []
    for role in ("company_admin", "technician"):
        for method, template, is_api in routes:
            url, r = await _send(client, w, role, method, template, is_api)
            where = f"{role} {method} {template} -> {r.status_code}"
            if r.status_code >= 500:
                problems.append(f"{where}: server error {r.text[:200]}")
            if "{" in template and 200 <= r.status_code < 300 and (method, template) not in PUBLIC:
                problems.append(f"{where}: answered 2xx for company B's resource")
            leaked = _leaks(w, url, r)
            if leaked:
                problems.append(f"{where}: leaks B's data {leaked}")
            if method != "GET":
                await _keep_logged_in(client, w, role)
    after = await snapshot_b(sessionmaker, w)
    for table in before:
        if before[table] != after[table]:
            problems.append(f"company B's {table} rows changed: {before[table]} -> {after[table]}")
    assert not problems, "\n".join(problems)


async def test_every_route_requires_authentication(app: FastAPI, client: httpx.AsyncClient, sessionmaker: SM,
                                                   settings: Settings, clock: FakeClock) -> None:
    w = await build_world(client, sessionmaker, settings, clock)
    before = await snapshot_b(sessionmaker, w)
    problems = []
    for method, template, is_api in http_routes(app):
        if (method, template) in PUBLIC:
            continue
        url, r = await _send(client, w, None, method, template, is_api)
        to_login = r.status_code == 303 and r.headers.get("location", "").startswith("/login")
        if not (r.status_code == 401 or to_login):
            problems.append(f"{method} {template} without credentials -> {r.status_code}")
        if _leaks(w, url, r):
            problems.append(f"{method} {template} without credentials leaks {_leaks(w, url, r)}")
    assert not problems, "\n".join(problems)
    assert await snapshot_b(sessionmaker, w) == before


async def test_msp_admin_reads_company_b(app: FastAPI, client: httpx.AsyncClient, sessionmaker: SM,
                                         settings: Settings, clock: FakeClock) -> None:
    w = await build_world(client, sessionmaker, settings, clock)
    problems = []
    for method, template, is_api in http_routes(app):
        if method != "GET" or (method, template) in PUBLIC:
            continue
        url, r = await _send(client, w, "msp_admin", method, template, is_api)
        if r.status_code >= 500:
            problems.append(f"msp_admin GET {template} -> {r.status_code}")
    assert not problems, "\n".join(problems)
    h = bearer(w.tokens["msp_admin"])
    for url in (f"/api/companies/{w.b}", f"/api/companies/{w.b}/assets", f"/api/assets/{w.params['asset_id']}",
                f"/api/users/{w.params['user_id']}"):
        r = await client.get(url, headers=h)
        assert r.status_code == 200, (url, r.text)
    listed = (await client.get("/api/companies", headers=h)).text
    assert "Zeta Hidden Corp" in listed and "Acme Visible" in listed


def test_a_route_with_an_unknown_parameter_fails_the_matrix() -> None:
    w = World("a", "b", "b", {}, {}, {"company_id": "b"})
    with pytest.raises(AssertionError, match=r"\{gadget_id\}.*add it to PARAMS"):
        fill("/api/companies/{company_id}/gadgets/{gadget_id}", w)
