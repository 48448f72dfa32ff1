"""After a technician merges incident S into T by hand, correlation (whose state still knows S as an incident of
its own) sends what it groups into S to T: alerts are linked to the survivor, the survivor's facts follow and it
reopens when resolved, S stays merged and gets no alerts; chains S → T → U are followed; an incident correlation
folds into S goes to T too (and if T itself is folded into S, T stays the live one). Both backends, and both ways
decisions are stored (the inbox job, planned through a read session; ``correlate_deliveries`` in one transaction)."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from alertwhisperer.clock import FakeClock
from alertwhisperer.config import Settings
from alertwhisperer.correlation import service
from alertwhisperer.correlation.models import IncidentAlert
from alertwhisperer.incidents import hooks
from alertwhisperer.ingest.models import Alert
from alertwhisperer.jobs.models import Job
from alertwhisperer.realtime.hub import Event, Subscription, publish_pending
from tests.auth.helpers import cheap_argon2  # noqa: F401  (autouse fixture)
from tests.correlation.replay_data import T0, am
from tests.factories import MadeCompany
from tests.incidents.lifecycle_world import SM, World, build, drain, incident, open_incident

DISK, NGINX, CPU = ("DiskFull", "db-01:9100"), ("NginxDown", "web-01:9100"), ("HighCPU", "app-01:9100")


@pytest.fixture
async def world(client: httpx.AsyncClient, sessionmaker: SM, settings: Settings, clock: FakeClock) -> World:
    return await build(client, sessionmaker, settings, clock)


async def _send(app: FastAPI, client: httpx.AsyncClient, sm: SM, clock: FakeClock, company: MadeCompany,
                alert: tuple[str, str], *, fingerprint: str | None = None, path: str = "inbox") -> str:
    """Post one firing Alertmanager alert and correlate it (``path``: "inbox" = the inbox job, planned through a
    read session; "direct" = ``correlate_deliveries`` in one transaction). Returns the alert id."""
    name, host = alert
    body = am(name, host, fingerprint=fingerprint or f"{name}-{host}", at=(clock.now() - T0).total_seconds())
    r = await client.post("/api/webhooks/alertmanager", content=json.dumps(body),
                          headers={"X-API-Key": company.api_key, "Content-Type": "application/json"})
    assert r.status_code == 202, r.text
    alert_id: str = r.json()["alert_ids"][0]
    if path == "inbox":
        await drain(app, sm, clock)
    else:
        async with sm() as s:
            await service.correlate_deliveries(s, now=clock.now(), delivery_ids=[r.json()["delivery_id"]])
            await s.commit()
            await publish_pending(s, app.state.hub)
    return alert_id


async def _merge(client: httpx.AsyncClient, world: World, source: str, into: str) -> None:
    r = await client.post(f"/api/incidents/{source}/merge", headers=world.auth["tech"], json={"into": into})
    assert r.status_code == 200, r.text


async def _links(sm: SM, alert_id: str) -> tuple[str | None, list[str]]:
    """(the incident the alert points at, the incidents it is linked to)."""
    async with sm() as s:
        alert = await s.get(Alert, alert_id)
        assert alert is not None and alert.outcome is not None, "the alert was not correlated"
        linked = list((await s.execute(select(IncidentAlert.incident_id)
                                       .where(IncidentAlert.alert_id == alert_id))).scalars())
    return alert.incident_id, linked


async def _pointing(sm: SM, incident_id: str) -> set[str]:
    async with sm() as s:
        return set((await s.execute(select(Alert.id).where(Alert.incident_id == incident_id))).scalars())


async def _has_alerts(sm: SM, incident_id: str) -> bool:
    async with sm() as s:
        pointing = await s.scalar(select(Alert.id).where(Alert.incident_id == incident_id).limit(1))
        linked = await s.scalar(select(IncidentAlert.alert_id).where(IncidentAlert.incident_id == incident_id)
                                .limit(1))
    return pointing is not None or linked is not None


async def _received(subscription: Subscription) -> list[Event]:
    """The events already delivered to this subscription (the local hub delivers while publishing)."""
    out: list[Event] = []
    while True:
        try:
            out.append(await asyncio.wait_for(anext(subscription), timeout=0.05))
        except TimeoutError:
            subscription.close()
            return out


def _at(clock: FakeClock) -> datetime:
    return clock.now()


@pytest.mark.parametrize("path", ["inbox", "direct"])
async def test_alerts_of_a_merged_incident_go_to_its_survivor(app: FastAPI, client: httpx.AsyncClient,
                                                              sessionmaker: SM, clock: FakeClock, world: World,
                                                              path: str) -> None:
    source = await open_incident(app, client, sessionmaker, clock, world.acme, *DISK)
    clock.advance(seconds=30)
    target = await open_incident(app, client, sessionmaker, clock, world.acme, *NGINX)
    assert source != target
    await _merge(client, world, source, target)
    before = await incident(sessionmaker, target)
    assert (before.alert_count, before.duplicate_count) == (2, 0)
    subscription = app.state.hub.listen()

    clock.advance(seconds=60)
    repeat = await _send(app, client, sessionmaker, clock, world.acme, DISK, path=path)  # fires again
    clock.advance(seconds=60)
    joined = await _send(app, client, sessionmaker, clock, world.acme, DISK, fingerprint="second-disk", path=path)
    joined_at = _at(clock)
    events = await _received(subscription)

    assert await _links(sessionmaker, repeat) == (target, [target])
    assert await _links(sessionmaker, joined) == (target, [target])
    async with sessionmaker() as s:
        outcomes = {a.id: a.outcome for a in (await s.execute(select(Alert).where(Alert.id.in_([repeat, joined]))))
                    .scalars()}
    assert outcomes == {repeat: "duplicate", joined: "correlated"}  # correlation still grouped them into S
    survivor = await incident(sessionmaker, target)
    assert survivor.status == "new"
    assert (survivor.alert_count, survivor.duplicate_count) == (3, 1)  # one more alert, one repeat
    assert survivor.last_seen == joined_at and survivor.first_seen == before.first_seen
    merged = await incident(sessionmaker, source)
    assert merged.status == "merged" and merged.merged_into == target
    assert not await _has_alerts(sessionmaker, source), "no alert is linked to the merged incident"
    updated = [e for e in events if e.type.startswith("incident.")]
    assert {e.data["id"] for e in updated} == {target}, "live events name the survivor, never the merged incident"
    assert updated[-1].type == "incident.updated" and updated[-1].data["alert_count"] == 3


async def test_a_resolved_survivor_reopens_when_an_alert_joins(app: FastAPI, client: httpx.AsyncClient,
                                                               sessionmaker: SM, clock: FakeClock,
                                                               world: World) -> None:
    source = await open_incident(app, client, sessionmaker, clock, world.acme, *DISK)
    clock.advance(seconds=30)
    target = await open_incident(app, client, sessionmaker, clock, world.acme, *NGINX)
    tech = world.auth["tech"]
    for iid in (target, source):  # resolved by hand while their alerts still fire (correlation is not told)
        assert (await client.post(f"/api/incidents/{iid}/resolve", headers=tech)).status_code == 200
    await _merge(client, world, source, target)

    # a repeat is not new activity: like any incident resolved while its alert fires, it stays resolved
    clock.advance(seconds=60)
    repeat = await _send(app, client, sessionmaker, clock, world.acme, DISK)
    assert await _links(sessionmaker, repeat) == (target, [target])
    assert (await incident(sessionmaker, target)).status == "resolved"

    # a new alert correlation groups into the merged incident reopens the survivor
    clock.advance(seconds=60)
    joined = await _send(app, client, sessionmaker, clock, world.acme, DISK, fingerprint="second-disk")
    assert await _links(sessionmaker, joined) == (target, [target])
    survivor = await incident(sessionmaker, target)
    assert survivor.status == "new" and survivor.resolved_at is None and survivor.resolution_kind == ""
    assert survivor.last_seen == _at(clock)
    merged = await incident(sessionmaker, source)
    assert merged.status == "merged" and merged.merged_into == target
    assert not await _has_alerts(sessionmaker, source)
    async with sessionmaker() as s:
        lifecycle = [(j.payload["incident_id"], j.payload["event"]) for j in (await s.execute(
            select(Job).where(Job.kind == hooks.LIFECYCLE_JOB).order_by(Job.created_at))).scalars()]
    assert (target, hooks.REOPENED) in lifecycle and (source, hooks.REOPENED) not in lifecycle


async def test_a_chain_of_merges_is_followed_to_the_end(app: FastAPI, client: httpx.AsyncClient, sessionmaker: SM,
                                                        clock: FakeClock, world: World) -> None:
    first = await open_incident(app, client, sessionmaker, clock, world.acme, *DISK)
    clock.advance(seconds=20)
    middle = await open_incident(app, client, sessionmaker, clock, world.acme, *NGINX)
    clock.advance(seconds=20)
    last = await open_incident(app, client, sessionmaker, clock, world.acme, *CPU)
    assert len({first, middle, last}) == 3
    await _merge(client, world, first, middle)
    await _merge(client, world, middle, last)
    before = await incident(sessionmaker, last)
    assert before.alert_count == 3

    clock.advance(seconds=60)
    joined = await _send(app, client, sessionmaker, clock, world.acme, DISK, fingerprint="second-disk")  # into S
    clock.advance(seconds=10)
    again = await _send(app, client, sessionmaker, clock, world.acme, NGINX)  # a repeat of T's alert
    assert await _links(sessionmaker, joined) == (last, [last])
    assert await _links(sessionmaker, again) == (last, [last])
    survivor = await incident(sessionmaker, last)
    assert survivor.status == "new" and survivor.alert_count == 4 and survivor.duplicate_count == 1
    for iid, into in ((first, middle), (middle, last)):
        row = await incident(sessionmaker, iid)
        assert row.status == "merged" and row.merged_into == into
        assert not await _has_alerts(sessionmaker, iid)


async def test_without_a_manual_merge_alerts_join_their_incident_as_before(app: FastAPI, client: httpx.AsyncClient,
                                                                           sessionmaker: SM, clock: FakeClock,
                                                                           world: World) -> None:
    disk = await open_incident(app, client, sessionmaker, clock, world.acme, *DISK)
    clock.advance(seconds=30)
    nginx = await open_incident(app, client, sessionmaker, clock, world.acme, *NGINX)
    clock.advance(seconds=60)
    repeat = await _send(app, client, sessionmaker, clock, world.acme, DISK)
    joined = await _send(app, client, sessionmaker, clock, world.acme, DISK, fingerprint="second-disk")
    assert await _links(sessionmaker, repeat) == (disk, [disk])
    assert await _links(sessionmaker, joined) == (disk, [disk])
    row = await incident(sessionmaker, disk)
    assert (row.status, row.alert_count, row.duplicate_count) == ("new", 2, 1)
    assert (await incident(sessionmaker, nginx)).alert_count == 1


def _down(n: int) -> tuple[str, str]:
    return "HostDown", f"10.9.0.{n}:9100"


async def test_an_incident_correlation_folds_into_a_merged_one_goes_to_the_survivor(
        app: FastAPI, client: httpx.AsyncClient, sessionmaker: SM, clock: FakeClock, world: World) -> None:
    """A host-down storm folds the later incident into the earliest, which a technician had merged elsewhere."""
    target = await open_incident(app, client, sessionmaker, clock, world.acme, *NGINX)
    clock.advance(seconds=10)
    first = await open_incident(app, client, sessionmaker, clock, world.acme, *_down(1))
    clock.advance(seconds=10)
    second = await open_incident(app, client, sessionmaker, clock, world.acme, *_down(2))
    assert len({target, first, second}) == 3
    second_alerts = await _pointing(sessionmaker, second)
    await _merge(client, world, first, target)
    before = await incident(sessionmaker, target)
    assert before.alert_count == 2

    clock.advance(seconds=10)
    third = await _send(app, client, sessionmaker, clock, world.acme, _down(3))  # the storm: all into `first`
    assert await _links(sessionmaker, third) == (target, [target])
    folded = await incident(sessionmaker, second)
    assert folded.status == "merged" and folded.merged_into == target  # straight to where `first` lives on
    assert second_alerts and second_alerts <= await _pointing(sessionmaker, target)
    assert not await _has_alerts(sessionmaker, second) and not await _has_alerts(sessionmaker, first)
    survivor = await incident(sessionmaker, target)
    assert survivor.status == "new" and survivor.alert_count == 4  # + the folded incident's alert + the new one
    assert (await incident(sessionmaker, first)).merged_into == target


async def test_an_incident_correlation_folds_into_its_own_merged_source_stays_the_survivor(
        app: FastAPI, client: httpx.AsyncClient, sessionmaker: SM, clock: FakeClock, world: World) -> None:
    """Merged by hand A into B, then correlation folds B into A: B stays the live incident (never both merged)."""
    first = await open_incident(app, client, sessionmaker, clock, world.acme, *_down(1))
    clock.advance(seconds=10)
    second = await open_incident(app, client, sessionmaker, clock, world.acme, *_down(2))
    assert first != second
    await _merge(client, world, first, second)

    clock.advance(seconds=10)
    third = await _send(app, client, sessionmaker, clock, world.acme, _down(3))
    assert await _links(sessionmaker, third) == (second, [second])
    survivor = await incident(sessionmaker, second)
    assert survivor.status == "new" and survivor.merged_into is None and survivor.alert_count == 3
    merged = await incident(sessionmaker, first)
    assert merged.status == "merged" and merged.merged_into == second
    assert not await _has_alerts(sessionmaker, first)
