"""The bell's API: own notifications only, unread count, mark read / all read; preferences validation; the
per-incident delivery log scoped by company."""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alertwhisperer.clock import FakeClock
from alertwhisperer.correlation.models import Incident
from alertwhisperer.notify import service
from tests.factories import bearer, login
from tests.notify.conftest import World

SM = async_sessionmaker[AsyncSession]


async def ring(sm: SM, clock: FakeClock, w: World, who: list[str], severity: str = "medium") -> None:
    async with sm() as s:
        incident = await s.get(Incident, w.incident_id)
        await service.notify(s, clock=clock, kind="sla_warning", user_ids=[w.users[u] for u in who],
                             severity=severity, title="Response due soon: disk on db-01", incident=incident,
                             context={"target": "response", "due_at": clock.now().isoformat()})
        await s.commit()
    clock.advance(seconds=1)


async def test_bell_api_is_per_user(client: httpx.AsyncClient, sessionmaker: SM, clock: FakeClock,
                                    world: World) -> None:
    tina = bearer(await login(client, world.emails["tech"]))
    tom = bearer(await login(client, world.emails["tech2"]))
    await ring(sessionmaker, clock, world, ["tech", "tech2"])
    await ring(sessionmaker, clock, world, ["tech"])
    await ring(sessionmaker, clock, world, ["tech"])
    assert (await client.get("/api/notifications/unread-count", headers=tina)).json() == {"unread": 3}
    assert (await client.get("/api/notifications/unread-count", headers=tom)).json() == {"unread": 1}
    mine = (await client.get("/api/notifications?limit=2", headers=tina)).json()
    assert len(mine) == 2 and mine[0]["created_at"] > mine[1]["created_at"]  # newest first
    assert mine[0]["url"] == f"/incidents/{world.incident_id}" and mine[0]["kind"] == "sla_warning"
    toms = (await client.get("/api/notifications", headers=tom)).json()
    # another user's notification does not exist for you
    r = await client.post(f"/api/notifications/{toms[0]['id']}/read", headers=tina)
    assert r.status_code == 404
    assert (await client.post("/api/notifications/nope/read", headers=tina)).status_code == 404
    r = await client.post(f"/api/notifications/{mine[0]['id']}/read", headers=tina)
    assert r.status_code == 200 and r.json()["read_at"] is not None
    again = await client.post(f"/api/notifications/{mine[0]['id']}/read", headers=tina)
    assert again.json()["read_at"] == r.json()["read_at"]  # idempotent
    unread = (await client.get("/api/notifications?unread=1", headers=tina)).json()
    assert len(unread) == 2 and mine[0]["id"] not in {n["id"] for n in unread}
    r = await client.post("/api/notifications/read-all", headers=tina)
    assert r.json() == {"marked": 2, "unread": 0}
    assert (await client.get("/api/notifications/unread-count", headers=tina)).json() == {"unread": 0}
    assert (await client.get("/api/notifications/unread-count", headers=tom)).json() == {"unread": 1}


async def test_preferences_validation_and_defaults(client: httpx.AsyncClient, world: World) -> None:
    h = bearer(await login(client, world.emails["tech"]))
    prefs = (await client.get("/api/notifications/preferences", headers=h)).json()
    assert prefs["is_default"] is True and prefs["quiet_hours"] is None and prefs["apprise_targets"] == []
    assert prefs["channels"]["critical"] == ["inapp", "browser", "email", "apprise"]
    assert prefs["channels"]["low"] == ["inapp"]
    for body, words in (({"quiet_hours": {"start": "22:00", "end": "07:00", "timezone": "Mars/Olympus"}},
                         "unknown timezone"),
                        ({"quiet_hours": {"start": "25:00", "end": "07:00"}}, "HH:MM"),
                        ({"quiet_hours": {"start": "07:00", "end": "07:00"}}, "empty"),
                        ({"channels": {"critical": ["pager"]}}, "critical"),
                        ({"channels": {"urgent": ["email"]}}, "urgent")):
        r = await client.put("/api/notifications/preferences", headers=h, json=body)
        assert r.status_code == 422 and words in r.text, (body, r.text)
    r = await client.put("/api/notifications/preferences", headers=h, json={
        "channels": {"critical": ["email"], "info": []},
        "quiet_hours": {"start": "7:30", "end": "06:00", "timezone": "Europe/Berlin"}})
    assert r.status_code == 200, r.text
    saved = r.json()
    assert saved["channels"]["critical"] == ["inapp", "email"]  # the bell is always on
    assert saved["channels"]["info"] == ["inapp"] and saved["channels"]["high"][:2] == ["inapp", "browser"]
    assert saved["quiet_hours"] == {"start": "07:30", "end": "06:00", "timezone": "Europe/Berlin"}
    assert saved["is_default"] is False


async def test_delivery_log_is_scoped_by_company(client: httpx.AsyncClient, sessionmaker: SM, clock: FakeClock,
                                                 world: World) -> None:
    await ring(sessionmaker, clock, world, ["tech"], severity="critical")
    for who in ("tech2", "admin", "msp"):
        r = await client.get(f"/api/incidents/{world.incident_id}/notifications",
                             headers=bearer(await login(client, world.emails[who])))
        assert r.status_code == 200 and [d["channel"] for d in r.json()] == ["email"], who
        assert r.json()[0]["target"] == world.emails["tech"] and "context" not in r.json()[0]
    outsider = bearer(await login(client, world.emails["outsider"]))
    r = await client.get(f"/api/incidents/{world.incident_id}/notifications", headers=outsider)
    assert r.status_code == 404 and world.emails["tech"] not in r.text
    assert (await client.get("/api/incidents/nope/notifications", headers=outsider)).status_code == 404


async def test_send_yourself_a_test(client: httpx.AsyncClient, world: World) -> None:
    h = bearer(await login(client, world.emails["tech"]))
    r = await client.post("/api/notifications/test", headers=h, json={"severity": "critical"})
    assert r.status_code == 202 and r.json()[0]["kind"] == "test" and r.json()[0]["url"] == "/notifications"
    assert (await client.get("/api/notifications/unread-count", headers=h)).json() == {"unread": 1}
