"""Within one company, who may do what (seed 003, "Role-Based Access Control").

MSP admin: everything, including creating/deleting companies, regenerating API keys, verifying the audit chain.
Company admin: its company's data and settings, its technicians, its audit entries; no API keys, no new companies.
Technician: reads its company's data; no user management, no settings, no writes to assets, no audit log.
Every successful state change also adds an audit entry.
"""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alertwhisperer.auth.principal import Role
from alertwhisperer.clock import FakeClock
from alertwhisperer.config import Settings
from tests.auth.helpers import audit_entries, user_id
from tests.factories import bearer, login, make_asset, make_company, make_user

SM = async_sessionmaker[AsyncSession]
STRONG = "Zebra-Mountain-Kettle-9"


def _user(email: str, role: str, companies: list[str]) -> dict[str, object]:
    return {"email": email, "name": email.split("@")[0], "role": role, "company_ids": companies, "password": STRONG}


# (role, method, url, body, expected status); {A} company A, {asset} an asset of A, {del_*} assets to delete,
# {tech} a technician of A
TABLE: list[tuple[str, str, str, dict[str, object] | None, int]] = [
    ("technician", "GET", "/api/companies", None, 200),
    ("technician", "GET", "/api/companies/{A}", None, 200),
    ("technician", "GET", "/api/companies/{A}/assets", None, 200),
    ("technician", "GET", "/api/assets/{asset}", None, 200),
    ("technician", "POST", "/api/companies/{A}/assets", {"name": "t-asset"}, 403),
    ("technician", "PATCH", "/api/assets/{asset}", {"critical": True}, 403),
    ("technician", "DELETE", "/api/assets/{asset}", None, 403),
    ("technician", "PATCH", "/api/companies/{A}", {"name": "By Tech"}, 403),
    ("technician", "POST", "/api/companies/{A}/api-key", None, 403),
    ("technician", "DELETE", "/api/companies/{A}", {"confirm_slug": "acme"}, 403),
    ("technician", "POST", "/api/companies", {"name": "Tech Co"}, 403),
    ("technician", "GET", "/api/users", None, 403),
    ("technician", "POST", "/api/users", _user("t1@msp.example", "technician", ["{A}"]), 403),
    ("technician", "PATCH", "/api/users/{tech}", {"name": "Renamed"}, 404),
    ("technician", "GET", "/api/audit", None, 403),
    ("technician", "GET", "/api/audit/export", None, 403),
    ("technician", "GET", "/api/audit/verify", None, 403),
    ("company_admin", "GET", "/api/companies/{A}", None, 200),
    ("company_admin", "PATCH", "/api/companies/{A}", {"settings": {"notes": "by admin"}}, 200),
    ("company_admin", "POST", "/api/companies/{A}/api-key", None, 403),
    ("company_admin", "DELETE", "/api/companies/{A}", {"confirm_slug": "acme"}, 403),
    ("company_admin", "POST", "/api/companies", {"name": "Admin Co"}, 403),
    ("company_admin", "POST", "/api/companies/{A}/assets", {"name": "ca-asset", "depends_on": ["acme-db"]}, 201),
    ("company_admin", "PATCH", "/api/assets/{asset}", {"tags": {"owner": "ca"}}, 200),
    ("company_admin", "DELETE", "/api/assets/{del_ca}", None, 204),
    ("company_admin", "GET", "/api/users", None, 200),
    ("company_admin", "POST", "/api/users", _user("t2@msp.example", "technician", ["{A}"]), 201),
    ("company_admin", "POST", "/api/users", _user("a2@msp.example", "company_admin", ["{A}"]), 403),
    ("company_admin", "POST", "/api/users", _user("m2@msp.example", "msp_admin", []), 403),
    ("company_admin", "PATCH", "/api/users/{tech}", {"skills": ["Linux"]}, 200),
    ("company_admin", "GET", "/api/audit", None, 200),
    ("company_admin", "GET", "/api/audit/export", None, 200),
    ("company_admin", "GET", "/api/audit/verify", None, 403),
    ("msp_admin", "GET", "/api/companies/{A}", None, 200),
    ("msp_admin", "POST", "/api/companies", {"name": "New Client"}, 201),
    ("msp_admin", "PATCH", "/api/companies/{A}", {"timezone": "Europe/Berlin"}, 200),
    ("msp_admin", "POST", "/api/companies/{A}/api-key", None, 200),
    ("msp_admin", "POST", "/api/companies/{A}/assets", {"name": "msp-asset"}, 201),
    ("msp_admin", "PATCH", "/api/assets/{asset}", {"critical": True}, 200),
    ("msp_admin", "DELETE", "/api/assets/{del_msp}", None, 204),
    ("msp_admin", "GET", "/api/users", None, 200),
    ("msp_admin", "POST", "/api/users", _user("a3@msp.example", "company_admin", ["{A}"]), 201),
    ("msp_admin", "POST", "/api/users", _user("m3@msp.example", "msp_admin", []), 201),
    ("msp_admin", "PATCH", "/api/users/{tech}", {"on_leave": True}, 200),
    ("msp_admin", "GET", "/api/audit", None, 200),
    ("msp_admin", "GET", "/api/audit/verify", None, 200),
    ("msp_admin", "DELETE", "/api/companies/{A}", {"confirm_slug": "acme"}, 204),
]


def _subst(value: object, ids: dict[str, str]) -> object:
    if isinstance(value, str):
        for key, real in ids.items():
            value = value.replace("{" + key + "}", real)
        return value
    if isinstance(value, list):
        return [_subst(v, ids) for v in value]
    if isinstance(value, dict):
        return {k: _subst(v, ids) for k, v in value.items()}
    return value


async def test_role_permission_table(client: httpx.AsyncClient, sessionmaker: SM, settings: Settings,
                                     clock: FakeClock) -> None:
    async with sessionmaker() as s:
        a = await make_company(s, clock, "Acme", slug="acme")
        asset = await make_asset(s, clock, a.id, "acme-db")
        del_ca = await make_asset(s, clock, a.id, "acme-old-1")
        del_msp = await make_asset(s, clock, a.id, "acme-old-2")
        emails = {role: await make_user(s, settings, clock, role, [] if role is Role.MSP_ADMIN else [a.id])
                  for role in Role}
        tech = await make_user(s, settings, clock, Role.TECHNICIAN, [a.id])
    ids = {"A": a.id, "asset": asset.id, "del_ca": del_ca.id, "del_msp": del_msp.id,
           "tech": await user_id(sessionmaker, tech)}
    tokens = {role.value: bearer(await login(client, email)) for role, email in emails.items()}
    problems = []
    for role, method, url, body, expected in TABLE:
        before = len(await audit_entries(sessionmaker))
        r = await client.request(method, str(_subst(url, ids)), json=_subst(body, ids), headers=tokens[role])
        if r.status_code != expected:
            problems.append(f"{role} {method} {url}: expected {expected}, got {r.status_code} {r.text[:150]}")
        grew = len(await audit_entries(sessionmaker)) > before
        if method != "GET" and 200 <= r.status_code < 300 and not grew:
            problems.append(f"{role} {method} {url}: changed state without an audit entry")
        if method != "GET" and r.status_code >= 400 and grew:
            problems.append(f"{role} {method} {url}: refused but wrote an audit entry")
    assert not problems, "\n".join(problems)
