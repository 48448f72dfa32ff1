"""Manual merge and split over the API on both backends: alerts move with their records, counts follow, both
timelines and the audit log say what happened, and the rules (same company, not merged, keep one alert) hold."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from alertwhisperer.clock import FakeClock
from alertwhisperer.config import Settings
from alertwhisperer.correlation.models import IncidentAlert
from alertwhisperer.ingest.models import Alert
from tests.auth.helpers import cheap_argon2  # noqa: F401  (autouse fixture)
from tests.incidents.lifecycle_world import SM, World, audit_actions, build, events, incident, open_incident


@pytest.fixture
async def world(client: httpx.AsyncClient, sessionmaker: SM, settings: Settings, clock: FakeClock) -> World:
    return await build(client, sessionmaker, settings, clock)


async def _alerts(sm: SM, incident_id: str) -> tuple[set[str], set[str]]:
    """(alerts pointing at the incident, alerts linked to it)."""
    async with sm() as s:
        pointing = set((await s.execute(select(Alert.id).where(Alert.incident_id == incident_id))).scalars())
        linked = set((await s.execute(select(IncidentAlert.alert_id)
                                      .where(IncidentAlert.incident_id == incident_id))).scalars())
    return pointing, linked


async def test_merge_moves_alerts_and_keeps_the_record(app: FastAPI, client: httpx.AsyncClient, sessionmaker: SM,
                                                       clock: FakeClock, world: World) -> None:
    target = await open_incident(app, client, sessionmaker, clock, world.acme, "DiskFull", "db-01:9100")
    source = await open_incident(app, client, sessionmaker, clock, world.acme, "NginxDown", "web-01:9100")
    hidden = await open_incident(app, client, sessionmaker, clock, world.globex, "DiskFull", "vault-01:9100")
    source_alerts, _ = await _alerts(sessionmaker, source)
    tech = world.auth["tech"]

    # the rules: not into itself, not across companies (out of scope is 404; an MSP admin gets 422)
    assert (await client.post(f"/api/incidents/{source}/merge", headers=tech, json={"into": source})).status_code == 422
    assert (await client.post(f"/api/incidents/{source}/merge", headers=tech, json={"into": hidden})).status_code == 404
    cross = await client.post(f"/api/incidents/{source}/merge", headers=world.auth["msp"], json={"into": hidden})
    assert cross.status_code == 422 and cross.json()["field"] == "into"

    r = await client.post(f"/api/incidents/{source}/merge", headers=tech, json={"into": target})
    assert r.status_code == 200, r.text
    survivor = r.json()
    assert survivor["id"] == target and survivor["alert_count"] == 2
    assert set(survivor["tools"]) == {"alertmanager"}
    merged = await incident(sessionmaker, source)
    assert merged.status == "merged" and merged.merged_into == target
    pointing, linked = await _alerts(sessionmaker, target)
    assert source_alerts <= pointing and source_alerts <= linked and len(linked) == 2
    assert await _alerts(sessionmaker, source) == (set(), set())

    # both timelines and the audit log record it, with the alerts that moved
    src_entry = next(e for e in await events(sessionmaker, source) if e.kind == "merge")
    dst_entry = next(e for e in await events(sessionmaker, target) if e.kind == "merge")
    assert set(src_entry.data["alert_ids"]) == source_alerts
    assert src_entry.data["target"] == target and dst_entry.data["source"] == source
    assert await audit_actions(sessionmaker, source) == ["incident.merged"]
    assert await audit_actions(sessionmaker, target) == ["incident.merge_received"]

    # a merged incident is no longer acted on; reading it gives the survivor
    again = await client.post(f"/api/incidents/{source}/merge", headers=tech, json={"into": target})
    assert again.status_code == 409 and again.json()["details"]["merged_into"] == target
    assert (await client.post(f"/api/incidents/{source}/acknowledge", headers=tech)).status_code == 409
    assert (await client.get(f"/api/incidents/{source}", headers=tech)).json()["id"] == target
    assert source not in {i["id"] for i in (await client.get("/api/incidents", headers=tech)).json()}


async def test_an_open_incident_is_not_merged_into_a_resolved_one(app: FastAPI, client: httpx.AsyncClient,
                                                                  sessionmaker: SM, clock: FakeClock,
                                                                  world: World) -> None:
    target = await open_incident(app, client, sessionmaker, clock, world.acme, "DiskFull", "db-01:9100")
    source = await open_incident(app, client, sessionmaker, clock, world.acme, "NginxDown", "web-01:9100")
    tech = world.auth["tech"]
    assert (await client.post(f"/api/incidents/{target}/resolve", headers=tech)).status_code == 200
    r = await client.post(f"/api/incidents/{source}/merge", headers=tech, json={"into": target})
    assert r.status_code == 409 and "reopen" in r.json()["message"]
    # the other way round is fine
    assert (await client.post(f"/api/incidents/{target}/merge", headers=tech, json={"into": source})).status_code == 200


async def test_split_moves_chosen_alerts_into_a_new_incident(app: FastAPI, client: httpx.AsyncClient,
                                                             sessionmaker: SM, clock: FakeClock, world: World) -> None:
    iid = await open_incident(app, client, sessionmaker, clock, world.acme, "DiskFull", "db-01:9100")
    clock.advance(seconds=30)
    joined = await open_incident(app, client, sessionmaker, clock, world.acme, "DiskFull", "db-01:9100",
                                 fingerprint="second-disk")
    assert joined == iid, "the second disk alert on the same host joins the first incident"
    pointing, _ = await _alerts(sessionmaker, iid)
    assert len(pointing) == 2
    async with sessionmaker() as s:
        second = (await s.execute(select(Alert.id).where(Alert.incident_id == iid)
                                  .order_by(Alert.received_at.desc(), Alert.id.desc()))).scalars().first()
    assert second is not None
    tech = world.auth["tech"]
    url = f"/api/incidents/{iid}/split"

    assert (await client.post(url, headers=tech, json={"alert_ids": ["nope"]})).status_code == 422
    all_of_them = await client.post(url, headers=tech, json={"alert_ids": sorted(pointing)})
    assert all_of_them.status_code == 422 and "merge instead" in all_of_them.json()["message"]
    assert (await client.post(url, headers=world.auth["other"], json={"alert_ids": [second]})).status_code == 404

    r = await client.post(url, headers=tech, json={"alert_ids": [second], "title": "Second disk on db-01"})
    assert r.status_code == 201, r.text
    new = r.json()
    assert new["title"] == "Second disk on db-01" and new["split_from"] == iid and new["status"] == "new"
    assert new["alert_count"] == 1 and new["company_id"] == world.acme.id
    assert await _alerts(sessionmaker, new["id"]) == ({second}, {second})
    assert await _alerts(sessionmaker, iid) == (pointing - {second}, pointing - {second})
    assert (await incident(sessionmaker, iid)).alert_count == 1
    async with sessionmaker() as s:
        link = (await s.execute(select(IncidentAlert).where(IncidentAlert.alert_id == second))).scalar_one()
    assert link.explanation["split_from"] == iid and link.reason  # why it joined originally is kept

    original_entry = next(e for e in await events(sessionmaker, iid) if e.kind == "split")
    new_entry = next(e for e in await events(sessionmaker, new["id"]) if e.kind == "split")
    assert original_entry.data["alert_ids"] == [second] and original_entry.data["new"] == new["id"]
    assert new_entry.data["original"] == iid
    assert await audit_actions(sessionmaker, iid) == ["incident.split"]
    assert await audit_actions(sessionmaker, new["id"]) == ["incident.split_created"]

    # without a title, one is derived from the first alert
    third = await open_incident(app, client, sessionmaker, clock, world.acme, "DiskFull", "db-01:9100",
                                fingerprint="third-disk")
    assert third == iid
    pointing, _ = await _alerts(sessionmaker, iid)
    newest = sorted(pointing)[-1]
    r = await client.post(url, headers=tech, json={"alert_ids": [newest]})
    assert r.status_code == 201 and "db-01" in r.json()["title"]
