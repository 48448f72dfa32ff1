"""Incidents console over HTTP (no browser), on SQLite and PostgreSQL: list (filters, sort, search, live partial),
detail (why it opened, why each alert joined, priority breakdown), merged redirect, dashboard KPIs and scope.

Incidents come from real deliveries to the webhooks, correlated by the real inbox worker."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI
from markupsafe import escape
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alertwhisperer.auth.models import User
from alertwhisperer.auth.principal import Role
from alertwhisperer.clock import FakeClock
from alertwhisperer.config import Settings
from alertwhisperer.correlation.models import Incident, IncidentAlert
from alertwhisperer.jobs.registry import build_registry
from alertwhisperer.jobs.worker import Worker
from alertwhisperer.tenants.models import Asset
from tests.auth.helpers import cheap_argon2  # noqa: F401  (autouse fixture)
from tests.correlation.replay_data import T0, am, datadog, zabbix
from tests.factories import MadeCompany, bearer, login, make_asset, make_company, make_user

SM = async_sessionmaker[AsyncSession]
HX_LIST = {"HX-Request": "true", "HX-Target": "incidents-list"}


@dataclass
class World:
    acme: MadeCompany
    globex: MadeCompany
    auth: dict[str, dict[str, str]]  # role -> bearer headers (company_admin/technician of Acme only)


async def _world(client: httpx.AsyncClient, sm: SM, settings: Settings, clock: FakeClock) -> World:
    async with sm() as s:
        acme = await make_company(s, clock, "Acme Dental")
        globex = await make_company(s, clock, "Globex Hidden")
        await make_asset(s, clock, acme.id, "db-01", ip="10.1.0.5", type="database", critical=True)
        await make_asset(s, clock, acme.id, "app-01", ip="10.1.0.10", depends_on=["db-01"])
        await make_asset(s, clock, acme.id, "app-02", ip="10.1.0.11", depends_on=["db-01"])
        await make_asset(s, clock, globex.id, "globex-vault-01", ip="10.7.0.5")
        emails = {"admin": await make_user(s, settings, clock, Role.COMPANY_ADMIN, [acme.id]),
                  "tech": await make_user(s, settings, clock, Role.TECHNICIAN, [acme.id]),
                  "msp": await make_user(s, settings, clock, Role.MSP_ADMIN)}
    return World(acme, globex, {role: bearer(await login(client, email)) for role, email in emails.items()})


async def _world_logins(client: httpx.AsyncClient, sm: SM, w: World) -> World:
    async with sm() as s:
        users = {u.role: u.email for u in (await s.execute(select(User))).scalars()}
    return World(w.acme, w.globex, {"admin": bearer(await login(client, users[Role.COMPANY_ADMIN.value])),
                                    "msp": bearer(await login(client, users[Role.MSP_ADMIN.value]))})


def _at(clock: FakeClock) -> float:
    return (clock.now() - T0).total_seconds()


async def _post(client: httpx.AsyncClient, company: MadeCompany, source: str, body: dict[str, Any]) -> str:
    r = await client.post(f"/api/webhooks/{source}", content=json.dumps(body),
                          headers={"X-API-Key": company.api_key, "Content-Type": "application/json"})
    assert r.status_code == 202, r.text
    alert_id: str = r.json()["alert_ids"][0]
    return alert_id


async def _drain(app: FastAPI, sm: SM, clock: FakeClock) -> None:
    await Worker(sm, build_registry(), clock, hub=app.state.hub).run_until_idle()


async def _db_fault(app: FastAPI, client: httpx.AsyncClient, sm: SM, clock: FakeClock, w: World) -> Incident:
    """Two tools report db-01's connection problem, and app-01 (depends on db-01) starts failing: one incident.
    Plus an unrelated host on Acme and a problem at Globex: two more incidents."""
    await _post(client, w.acme, "alertmanager", am("PostgresqlTooManyConnections", "10.1.0.5:9100",
                                                    fingerprint="pg1", at=_at(clock)))
    clock.advance(seconds=40)
    await _post(client, w.acme, "zabbix", zabbix("Too many connections on PostgreSQL", "DB-01", event_id="z1",
                                                 at=_at(clock)))
    clock.advance(seconds=45)
    await _post(client, w.acme, "datadog", datadog("HTTP 5xx error rate high", "app-01", event_id="dd1",
                                                   at=_at(clock)))
    clock.advance(seconds=5)
    await _post(client, w.acme, "alertmanager", am("HostDown", "mystery-07:9100", fingerprint="hd1", at=_at(clock),
                                                    severity="warning"))
    await _post(client, w.globex, "alertmanager", am("GlobexVaultSealed", "10.7.0.5:9100", fingerprint="gv1",
                                                      at=_at(clock)))
    await _drain(app, sm, clock)
    async with sm() as s:
        rows = (await s.execute(select(Incident).where(Incident.company_id == w.acme.id,
                                                       Incident.status != "merged"))).scalars().all()
    assert len(rows) == 2, [r.title for r in rows]
    (fault,) = [r for r in rows if r.root_asset_name == "db-01"]
    assert fault.alert_count == 3 and fault.tools == ["alertmanager", "datadog", "zabbix"]
    return fault


async def _links(sm: SM, incident_id: str) -> list[IncidentAlert]:
    async with sm() as s:
        return list((await s.execute(select(IncidentAlert).where(IncidentAlert.incident_id == incident_id)
                                     .order_by(IncidentAlert.joined_at))).scalars())


def esc(text: str) -> str:
    return str(escape(text))


async def _readable(sm: SM, company_id: str, incident_id: str, text: str) -> str:
    """How the page words a stored reason: asset ids by name, the incident itself as "this incident"."""
    async with sm() as s:
        for asset in (await s.execute(select(Asset).where(Asset.company_id == company_id))).scalars():
            text = text.replace(asset.id, asset.name)
    return text.replace(f"New incident {incident_id}", "New incident").replace(f"incident {incident_id}",
                                                                               "this incident")


def _titles(page: str) -> list[str]:
    return re.findall(r'data-incident="([^"]*)"', page)


async def test_incident_list_filters_sorts_searches_and_stays_in_scope(app: FastAPI, client: httpx.AsyncClient,
                                                                       sessionmaker: SM, settings: Settings,
                                                                       clock: FakeClock) -> None:
    w = await _world(client, sessionmaker, settings, clock)
    fault = await _db_fault(app, client, sessionmaker, clock, w)
    admin = w.auth["admin"]

    page = await client.get("/incidents", headers=admin)
    assert page.status_code == 200
    titles = _titles(page.text)
    assert titles[0] == fault.title and len(titles) == 2  # highest priority first
    assert 'data-testid="incidents-total">2<' in page.text
    assert "globex-vault-01" not in page.text and "Globex Hidden" not in page.text
    assert "root cause <strong class=\"mono\">db-01</strong>" in page.text
    assert "Alertmanager" in page.text and "Datadog" in page.text and "Zabbix" in page.text  # its tools
    assert f'data-testid="priority">{fault.priority}<' in page.text
    assert 'href="/incidents"' in page.text and "nav-link active" in page.text  # navigation entry

    newest = _titles((await client.get("/incidents?sort=first_seen", headers=admin)).text)
    assert newest == list(reversed(titles))
    by_severity = _titles((await client.get("/incidents?sort=severity", headers=admin)).text)
    assert by_severity[0] == fault.title  # critical before warning (medium)

    search = await client.get("/incidents?q=MYSTERY", headers=admin)
    assert _titles(search.text) == [t for t in titles if "mystery-07" in t]
    critical = await client.get("/incidents?severity=critical&status=open", headers=admin)
    assert _titles(critical.text) == [fault.title]
    none = await client.get("/incidents?status=resolved", headers=admin)
    assert _titles(none.text) == [] and "No incidents match these filters" in none.text

    partial = await client.get("/incidents?sort=first_seen",
                               headers={**admin, **HX_LIST, "HX-Trigger": "incident-filters"})
    assert partial.text.lstrip().startswith('<section class="card" id="incidents-list"')
    assert "<html" not in partial.text and partial.headers["HX-Push-Url"] == "/incidents?sort=first_seen"
    assert 'data-incident-filter="{&#34;company_id&#34;: &#34;' + w.acme.id in partial.text

    # a company outside the caller's scope: 404 on the page, nothing from the API
    assert (await client.get(f"/incidents?company_id={w.globex.id}", headers=admin)).status_code == 404
    api = await client.get("/api/incidents", headers=admin, params={"company": w.globex.id})
    assert api.status_code == 200 and api.json() == []
    msp = await client.get("/incidents", headers=w.auth["msp"])
    assert "globex-vault-01" in msp.text and len(_titles(msp.text)) == 3
    only = await client.get(f"/incidents?company_id={w.globex.id}", headers=w.auth["msp"])
    assert len(_titles(only.text)) == 1 and "globex-vault-01" in only.text

    # the API takes the same sort and search
    r = await client.get("/api/incidents", headers=admin, params={"sort": "first_seen", "q": "db-01"})
    assert [i["id"] for i in r.json()] == [fault.id]
    r = await client.get("/api/incidents", headers=admin, params={"sort": "first_seen"})
    assert [i["title"] for i in r.json()] == newest
    assert (await client.get("/api/incidents", headers=admin, params={"sort": "bogus"})).status_code == 422


async def test_incident_detail_explains_why_it_opened_and_why_each_alert_joined(
        app: FastAPI, client: httpx.AsyncClient, sessionmaker: SM, settings: Settings, clock: FakeClock) -> None:
    w = await _world(client, sessionmaker, settings, clock)
    fault = await _db_fault(app, client, sessionmaker, clock, w)
    links = await _links(sessionmaker, fault.id)
    assert [link.explanation["rule"] for link in links] == ["new", "key", "topology"]

    page = await client.get(f"/incidents/{fault.id}", headers=w.auth["tech"])
    assert page.status_code == 200
    text = page.text
    assert f'data-testid="incident-title">{esc(fault.title)}<' in text
    assert 'probable root cause <strong class="mono" data-testid="root-cause">db-01</strong>' in text
    reasons = [esc(await _readable(sessionmaker, w.acme.id, fault.id, link.reason)) for link in links]
    timeline = text[text.index('data-testid="incident-timeline"'):text.index('data-testid="priority-breakdown"')]
    positions = [timeline.index(reason) for reason in reasons]  # every alert's reason, in the order they joined
    assert positions == sorted(positions)
    assert "Joined this incident" in timeline and "db-01|db_connections" in timeline
    assert fault.root_asset_key not in timeline  # asset ids are shown by name
    assert "Same grouping key" in text and "Topology (depends on)" in text
    assert "app-01 → depends_on → db-01" in text  # the topology path
    gap = int(links[2].explanation["time_gap_seconds"])
    assert f"<dt>Time gap</dt><dd>{gap} s</dd>" in timeline
    opened = text[text.index('data-testid="incident-opened"'):text.index('data-testid="incident-story"')]
    assert reasons[0] in opened and "New incident" in opened
    breakdown = text[text.index('data-testid="priority-breakdown"'):]
    for term in fault.priority_breakdown:
        assert f'data-term="{term["name"]}"' in breakdown and esc(term["detail"]) in breakdown
    assert "+90" in breakdown and "+20" in breakdown and "+10" in breakdown  # critical, critical asset, 3 tools
    assert f"<strong>{fault.priority}</strong>" in breakdown
    assets = text[text.index('data-testid="incident-assets"'):]
    assert "db-01" in assets and "app-01" in assets and "probable root cause" in assets
    assert f'data-incident-filter="{{&#34;company_id&#34;: &#34;{w.acme.id}&#34;, &#34;id&#34;: &#34;{fault.id}' in text

    # Globex's incident does not exist for Acme's people
    async with sessionmaker() as s:
        theirs = (await s.execute(select(Incident).where(Incident.company_id == w.globex.id))).scalar_one()
    for role in ("admin", "tech"):
        hidden = await client.get(f"/incidents/{theirs.id}", headers=w.auth[role])
        assert hidden.status_code == 404 and "globex-vault-01" not in hidden.text
    assert (await client.get(f"/incidents/{theirs.id}", headers=w.auth["msp"])).status_code == 200
    assert (await client.get("/incidents/no-such-incident", headers=w.auth["msp"])).status_code == 404


async def test_a_merged_incident_redirects_to_its_survivor(app: FastAPI, client: httpx.AsyncClient,
                                                           sessionmaker: SM, settings: Settings,
                                                           clock: FakeClock) -> None:
    w = await _world(client, sessionmaker, settings, clock)
    fault = await _db_fault(app, client, sessionmaker, clock, w)
    async with sessionmaker() as s:  # fold the other Acme incident into the fault, as the service records a merge
        other = (await s.execute(select(Incident).where(Incident.company_id == w.acme.id,
                                                        Incident.id != fault.id))).scalar_one()
        other.status, other.merged_into = "merged", fault.id
        for link in (await s.execute(select(IncidentAlert).where(IncidentAlert.incident_id == other.id))).scalars():
            link.incident_id = fault.id
        await s.commit()
    r = await client.get(f"/incidents/{other.id}", headers=w.auth["admin"])
    assert r.status_code == 303 and r.headers["location"] == f"/incidents/{fault.id}"
    survivor = await client.get(r.headers["location"], headers=w.auth["admin"])
    assert survivor.status_code == 200 and "mystery-07" in survivor.text  # the folded alert is in its timeline
    assert "opened, merged in" in survivor.text
    text = survivor.text
    opened = text[text.index('data-testid="incident-opened"'):text.index('data-testid="incident-story"')]
    assert "db_connections on db-01" in opened and "mystery-07" not in opened  # still why *this* one opened
    assert _titles((await client.get("/incidents", headers=w.auth["admin"])).text) == [fault.title]
    assert (await client.get(f"/incidents/{other.id}", headers=w.auth["tech"])).status_code == 303


async def test_a_resolved_incident_shows_its_time_to_resolve(app: FastAPI, client: httpx.AsyncClient,
                                                             sessionmaker: SM, settings: Settings,
                                                             clock: FakeClock) -> None:
    w = await _world(client, sessionmaker, settings, clock)
    await _post(client, w.acme, "alertmanager", am("HighCPU", "10.1.0.10:9100", fingerprint="c1", at=_at(clock)))
    await _drain(app, sessionmaker, clock)
    clock.advance(minutes=12)
    await _post(client, w.acme, "alertmanager", am("HighCPU", "10.1.0.10:9100", status="resolved", fingerprint="c1",
                                                    at=_at(clock)))
    await _drain(app, sessionmaker, clock)
    clock.advance(hours=1)
    await _drain(app, sessionmaker, clock)
    async with sessionmaker() as s:
        (incident,) = (await s.execute(select(Incident))).scalars().all()
    assert incident.status == "resolved" and incident.time_to_resolve_seconds
    w = await _world_logins(client, sessionmaker, w)  # the access tokens expired meanwhile
    page = await client.get(f"/incidents/{incident.id}", headers=w.auth["admin"])
    assert 'data-testid="time-to-resolve">' in page.text and "Time to resolve" in page.text
    assert _titles((await client.get("/incidents?status=resolved", headers=w.auth["admin"])).text) == [incident.title]
    assert _titles((await client.get("/incidents?status=open", headers=w.auth["admin"])).text) == []


async def test_dashboard_shows_incident_kpis_and_top_open_incidents(app: FastAPI, client: httpx.AsyncClient,
                                                                    sessionmaker: SM, settings: Settings,
                                                                    clock: FakeClock) -> None:
    w = await _world(client, sessionmaker, settings, clock)
    empty = await client.get("/", headers=w.auth["admin"])
    assert 'data-testid="kpi-noise">—<' in empty.text and "No open incidents" in empty.text
    fault = await _db_fault(app, client, sessionmaker, clock, w)

    page = await client.get("/", headers=w.auth["admin"])  # Acme only: 4 alerts -> 2 incidents
    assert page.status_code == 200
    assert 'data-testid="kpi-noise">50%<' in page.text and "4 alerts → 2 incidents" in page.text
    assert 'data-testid="kpi-open-incidents">2<' in page.text
    assert 'data-testid="kpi-open-critical">1<' in page.text and 'data-testid="kpi-open-high">0<' in page.text
    assert 'href="/incidents?status=open&amp;severity=critical"' in page.text
    assert "1 \u2212 incidents opened ÷ alerts received" in page.text
    top = page.text[page.text.index('data-testid="top-incidents"'):]
    assert top.index(esc(fault.title)) < top.index("mystery-07")
    assert "globex-vault-01" not in page.text

    msp = await client.get("/", headers=w.auth["msp"])  # all companies: 5 alerts -> 3 incidents
    assert 'data-testid="kpi-noise">40%<' in msp.text and 'data-testid="kpi-open-critical">2<' in msp.text
    clock.advance(hours=25)  # the window moves on; open incidents stay open
    w = await _world_logins(client, sessionmaker, w)
    later = await client.get("/", headers=w.auth["admin"])
    assert 'data-testid="kpi-noise">—<' in later.text and 'data-testid="kpi-open-incidents">2<' in later.text


async def test_the_list_loads_more_incidents_on_demand(app: FastAPI, client: httpx.AsyncClient, sessionmaker: SM,
                                                       settings: Settings, clock: FakeClock) -> None:
    w = await _world(client, sessionmaker, settings, clock)
    body = am("NodeFilesystemAlmostOutOfSpace", "host-0:9100", fingerprint="d0", at=_at(clock))
    body["alerts"] = [{**body["alerts"][0], "fingerprint": f"d{n}",
                       "labels": {**body["alerts"][0]["labels"], "instance": f"host-{n}:9100"}} for n in range(51)]
    await _post(client, w.acme, "alertmanager", body)  # one delivery, 51 disks filling on 51 hosts
    await _drain(app, sessionmaker, clock)
    first = await client.get("/incidents", headers=w.auth["admin"])
    assert 'data-testid="incidents-total">51<' in first.text and len(_titles(first.text)) == 50
    assert "Showing 50 of 51" in first.text and 'href="/incidents?limit=100"' in first.text
    more = await client.get("/incidents?limit=100", headers={**w.auth["admin"], **HX_LIST, "HX-Trigger": "load-more"})
    assert len(_titles(more.text)) == 51 and "Showing" not in more.text
    assert more.headers["HX-Push-Url"] == "/incidents?limit=100"
