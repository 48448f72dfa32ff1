"""SLA compliance and MTTR KPIs on SQLite and PostgreSQL: what counts, by severity and company, manual vs
automatic, the window, and the actor's scope (service and API)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alertwhisperer.auth.principal import Principal, Role
from alertwhisperer.clock import FakeClock
from alertwhisperer.config import Settings
from alertwhisperer.correlation.models import Incident
from alertwhisperer.incidents import kpis
from tests.auth.helpers import cheap_argon2  # noqa: F401  (autouse fixture)
from tests.factories import bearer, login, make_company, make_user

SM = async_sessionmaker[AsyncSession]
M = timedelta(minutes=1)


@dataclass
class World:
    acme: str
    globex: str
    headers: dict[str, dict[str, str]]


def incident(company_id: str, severity: str, start: datetime, **fields: Any) -> Incident:
    """An incident whose SLA started at ``start`` with the default targets of its severity."""
    targets = {"critical": (30, 240), "high": (120, 480), "medium": (480, 1440), "low": (1440, 2880)}
    response, resolution = targets[severity]
    values: dict[str, Any] = {
        "company_id": company_id, "title": f"{severity} thing", "symptom": "cpu", "severity": severity,
        "key": f"k-{start.isoformat()}-{severity}-{len(fields)}-{id(fields)}", "first_seen": start - 2 * M,
        "last_seen": start, "status": "new", "sla_started_at": start, "response_due_at": start + response * M,
        "resolution_due_at": start + resolution * M, "created_at": start, "updated_at": start}
    values.update(fields)
    return Incident(**values)


@pytest.fixture
async def world(client: httpx.AsyncClient, sessionmaker: SM, settings: Settings, clock: FakeClock) -> World:
    now = clock.now()
    async with sessionmaker() as s:
        acme = await make_company(s, clock, "Acme")
        globex = await make_company(s, clock, "Globex")
        emails = {"msp": await make_user(s, settings, clock, Role.MSP_ADMIN),
                  "tech": await make_user(s, settings, clock, Role.TECHNICIAN, [acme.id]),
                  "globex": await make_user(s, settings, clock, Role.COMPANY_ADMIN, [globex.id])}
        t = now - timedelta(days=2)
        s.add_all([
            # critical: acknowledged in 10 min, resolved by hand in 60 min -> both met
            incident(acme.id, "critical", t, status="resolved", acknowledged_at=t + 10 * M, resolved_at=t + 60 * M,
                     resolution_kind="manual"),
            # critical: response breached, resolved automatically after 5 h -> both breached
            incident(acme.id, "critical", t, status="closed", response_breached_at=t + 30 * M,
                     acknowledged_at=t + 50 * M, resolution_breached_at=t + 240 * M, resolved_at=t + 300 * M,
                     closed_at=t + 310 * M, resolution_kind="auto"),
            # high: resolved by itself after 20 min without an acknowledgement -> both met (resolving responds)
            incident(acme.id, "high", t, status="resolved", resolved_at=t + 20 * M, resolution_kind="self_healed"),
            # high: still new, past its response deadline, timer not run yet -> response breached, resolution running
            incident(acme.id, "high", now - 3 * 60 * M),
            # medium: acknowledged in time, still being worked on -> response met, resolution running
            incident(acme.id, "medium", now - 60 * M, status="in_progress", acknowledged_at=now - 50 * M),
            # merged before anything was decided -> not counted
            incident(acme.id, "medium", now - 60 * M, status="merged"),
            # outside the 30-day window
            incident(acme.id, "critical", now - timedelta(days=40), status="resolved",
                     resolved_at=now - timedelta(days=40) + 10 * M, acknowledged_at=now - timedelta(days=40) + M,
                     resolution_kind="manual"),
            # another company: critical, both met, manual in 2 h
            incident(globex.id, "critical", t, status="resolved", acknowledged_at=t + 5 * M, resolved_at=t + 120 * M,
                     resolution_kind="manual"),
        ])
        await s.commit()
    headers = {k: bearer(await login(client, e)) for k, e in emails.items()}
    return World(acme.id, globex.id, headers)


async def test_compliance_and_mttr_for_one_company(sessionmaker: SM, world: World, clock: FakeClock) -> None:
    actor = Principal("x", "x@example.com", Role.TECHNICIAN, frozenset({world.acme}))
    async with sessionmaker() as s:
        result = await kpis.sla_kpis(s, actor=actor, now=clock.now())
    o = result.overall.as_dict()
    # response: met = critical#1, high#1 (resolved), medium -> 3; breached = critical#2, high#2 -> 2
    assert o["response"] == {"met": 3, "breached": 2, "compliance_pct": 60.0}
    # resolution: met = critical#1, high#1; breached = critical#2 -> 2 / 3
    assert o["resolution"] == {"met": 2, "breached": 1, "compliance_pct": 66.7}
    assert o["compliance_pct"] == 62.5  # 5 met of 8 decided
    assert o["running"] == 2  # high#2's and the medium's resolution targets
    assert o["resolved"] == 3
    assert o["mttr_seconds"] == pytest.approx((60 + 300 + 20) * 60 / 3)
    assert (o["resolved_manual"], o["mttr_manual_seconds"]) == (1, 3600)
    assert (o["resolved_auto"], o["mttr_auto_seconds"]) == (2, pytest.approx((300 + 20) * 60 / 2))
    by_sev = {k: v.as_dict() for k, v in result.by_severity.items()}
    assert list(by_sev) == ["critical", "high", "medium"]
    assert by_sev["critical"]["response"]["compliance_pct"] == 50.0
    assert by_sev["high"]["resolution"] == {"met": 1, "breached": 0, "compliance_pct": 100.0}
    assert by_sev["medium"]["resolution"]["compliance_pct"] is None  # nothing decided yet
    assert list(result.by_company) == [world.acme]  # the technician sees Acme only


async def test_window_and_msp_scope(sessionmaker: SM, world: World, clock: FakeClock) -> None:
    msp = Principal("m", "m@example.com", Role.MSP_ADMIN)
    async with sessionmaker() as s:
        month = await kpis.sla_kpis(s, actor=msp, now=clock.now())
        quarter = await kpis.sla_kpis(s, actor=msp, now=clock.now(), days=90)
        one = await kpis.sla_kpis(s, actor=msp, now=clock.now(), company_id=world.globex)
        outsider = await kpis.sla_kpis(s, actor=Principal("t", "t@e.com", Role.TECHNICIAN, frozenset({world.acme})),
                                       now=clock.now(), company_id=world.globex)
    assert [month.company_names[c] for c in month.by_company] == ["Acme", "Globex"]
    assert month.overall.resolved == 4 and quarter.overall.resolved == 5  # the 40-day-old one
    assert one.overall.as_dict()["compliance_pct"] == 100.0 and one.overall.mttr_seconds == 7200
    assert outsider.overall.as_dict()["resolved"] == 0 and outsider.by_company == {}


async def test_api(client: httpx.AsyncClient, world: World) -> None:
    r = await client.get("/api/kpis/sla", headers=world.headers["tech"])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["days"] == 30 and body["overall"]["response"]["met"] == 3
    assert [c["name"] for c in body["by_company"]] == ["Acme"]
    assert "outcome is known" in body["counting"]
    assert set(body["by_severity"]) == {"critical", "high", "medium"}
    scoped = await client.get(f"/api/kpis/sla?company_id={world.globex}", headers=world.headers["globex"])
    assert scoped.status_code == 200 and scoped.json()["overall"]["compliance_pct"] == 100.0
    hidden = await client.get(f"/api/kpis/sla?company_id={world.globex}", headers=world.headers["tech"])
    assert hidden.status_code == 404
    assert (await client.get("/api/kpis/sla?days=0", headers=world.headers["tech"])).status_code == 422
    wide = await client.get("/api/kpis/sla?days=90", headers=world.headers["msp"])
    assert wide.status_code == 200 and wide.json()["overall"]["resolved"] == 5
