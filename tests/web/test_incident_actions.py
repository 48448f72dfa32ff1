"""The incident console's actions over HTTP (no browser) on both backends: the page shows only the valid buttons,
forms work without JavaScript (POST, redirect, flash) and with HTMX (the page comes back with an aw-flash trigger),
refusals come back as clear errors, the CSRF token is required, other companies get 404, and the list has
"My incidents", the assignee and SLA columns and a bulk bar that reports partial success."""

from __future__ import annotations

import json
import re
from urllib.parse import unquote

import httpx
import pytest
from fastapi import FastAPI

from alertwhisperer.clock import FakeClock
from alertwhisperer.config import Settings
from tests.auth.helpers import cheap_argon2  # noqa: F401  (autouse fixture)
from tests.factories import PASSWORD
from tests.incidents.lifecycle_world import SM, World, audit_actions, build, events, incident, open_incident

HX = {"HX-Request": "true"}


@pytest.fixture
async def world(client: httpx.AsyncClient, sessionmaker: SM, settings: Settings, clock: FakeClock) -> World:
    return await build(client, sessionmaker, settings, clock)


async def browser_login(client: httpx.AsyncClient, email: str) -> str:
    client.cookies.clear()
    r = await client.post("/login", data={"email": email, "password": PASSWORD, "next": "/incidents"})
    assert r.status_code == 303, r.text
    token = client.cookies.get("aw_csrf")
    assert token
    return token


def flash(response: httpx.Response) -> dict[str, str]:
    raw = response.cookies.get("aw_flash")
    assert raw, "no flash message set"
    data: dict[str, str] = json.loads(unquote(raw))
    return data


def buttons(page: str) -> list[str]:
    return re.findall(r'data-testid="action-([a-z-]+)"', page)


async def test_actions_without_javascript_redirect_with_a_flash(app: FastAPI, client: httpx.AsyncClient,
                                                                sessionmaker: SM, clock: FakeClock,
                                                                world: World) -> None:
    iid = await open_incident(app, client, sessionmaker, clock, world.acme, "DiskFull", "db-01:9100")
    token = await browser_login(client, world.emails["tech"])
    page = await client.get(f"/incidents/{iid}")
    assert page.status_code == 200
    assert buttons(page.text) == ["acknowledge", "start", "resolve-open", "resolve"]
    assert 'data-testid="incident-status">New<' in page.text
    assert "Nobody owns this incident yet." in page.text
    assert f'<option value="{world.ids["tech2"]}"' in page.text and world.ids["other"] not in page.text

    # no CSRF token: refused, nothing changed
    refused = await client.post(f"/incidents/{iid}/acknowledge", data={})
    assert refused.status_code == 403 and (await incident(sessionmaker, iid)).status == "new"

    r = await client.post(f"/incidents/{iid}/acknowledge", data={"csrf_token": token})
    assert r.status_code == 303 and r.headers["location"] == f"/incidents/{iid}"
    assert flash(r) == {"kind": "success", "message": "Acknowledged. The response time is recorded."}
    page = await client.get(f"/incidents/{iid}")
    assert buttons(page.text) == ["start", "resolve-open", "resolve"]
    assert "Acknowledged. The response time is recorded." in page.text  # the flash is shown once
    assert 'data-testid="assignee-name">' + world.emails["tech"].split("@")[0] in page.text
    assert 'data-testid="timeline-event" data-kind="status"' in page.text

    # a note, then an empty note (an error flash, no change)
    r = await client.post(f"/incidents/{iid}/notes", data={"csrf_token": token, "body": "Checked the volume"})
    assert r.status_code == 303 and flash(r)["message"] == "Note added."
    r = await client.post(f"/incidents/{iid}/notes", data={"csrf_token": token, "body": "  "})
    assert r.status_code == 303 and flash(r)["kind"] == "error" and "note" in flash(r)["message"]
    page = await client.get(f"/incidents/{iid}")
    assert 'data-testid="event-body">Checked the volume<' in page.text

    # resolve with a note; closing twice says there is nothing to do; a wrong move is explained
    r = await client.post(f"/incidents/{iid}/resolve", data={"csrf_token": token, "note": "Rotated logs"})
    assert r.status_code == 303 and flash(r)["message"] == "Resolved."
    page = await client.get(f"/incidents/{iid}")
    assert buttons(page.text) == ["close", "reopen"]
    r = await client.post(f"/incidents/{iid}/start", data={"csrf_token": token})
    assert r.status_code == 303 and flash(r)["kind"] == "error"
    assert "Incident is resolved" in flash(r)["message"]
    assert (await client.post(f"/incidents/{iid}/close", data={"csrf_token": token})).status_code == 303
    again = await client.post(f"/incidents/{iid}/close", data={"csrf_token": token})
    assert flash(again)["message"] == "Nothing to do: the incident is already closed."
    page = await client.get(f"/incidents/{iid}")
    assert buttons(page.text) == ["reopen"]
    assert [e.kind for e in await events(sessionmaker, iid)] == ["assignment", "status", "note", "status", "status"]


async def test_htmx_actions_answer_with_the_page_and_a_toast(app: FastAPI, client: httpx.AsyncClient,
                                                              sessionmaker: SM, clock: FakeClock,
                                                              world: World) -> None:
    iid = await open_incident(app, client, sessionmaker, clock, world.acme, "DiskFull", "db-01:9100")
    token = await browser_login(client, world.emails["admin"])
    r = await client.post(f"/incidents/{iid}/assign", data={"csrf_token": token, "user_id": world.ids["tech2"]},
                          headers=HX)
    assert r.status_code == 200
    assert json.loads(r.headers["hx-trigger"]) == {"aw-flash": {"message": "Assigned.", "kind": "success"}}
    assert 'id="incident-main"' in r.text and world.emails["tech2"].split("@")[0] in r.text
    assert (await incident(sessionmaker, iid)).assignee_id == world.ids["tech2"]

    r = await client.post(f"/incidents/{iid}/assign", data={"csrf_token": token, "user_id": "me"}, headers=HX)
    assert json.loads(r.headers["hx-trigger"])["aw-flash"]["message"] == "Assigned to you."
    # a refusal with HTMX is an error toast
    bad = await client.post(f"/incidents/{iid}/close", data={"csrf_token": token}, headers=HX)
    assert bad.status_code == 200 and bad.headers["hx-retarget"] == "#toasts" and "toast-error" in bad.text
    r = await client.post(f"/incidents/{iid}/start", data={"csrf_token": token}, headers=HX)
    assert r.status_code == 200 and (await incident(sessionmaker, iid)).status == "in_progress"
    assert await audit_actions(sessionmaker, iid) == ["incident.assigned", "incident.assigned",
                                                      "incident.acknowledged", "incident.started"]


async def test_merge_and_split_from_the_page(app: FastAPI, client: httpx.AsyncClient, sessionmaker: SM,
                                             clock: FakeClock, world: World) -> None:
    target = await open_incident(app, client, sessionmaker, clock, world.acme, "DiskFull", "db-01:9100")
    source = await open_incident(app, client, sessionmaker, clock, world.acme, "NginxDown", "web-01:9100")
    token = await browser_login(client, world.emails["tech"])
    options = await client.get(f"/incidents/{source}/merge-targets", params={"q": "Disk"})
    assert options.status_code == 200 and f'value="{target}"' in options.text and source not in options.text
    by_id = await client.get(f"/incidents/{source}/merge-targets", params={"q": target})
    assert f'value="{target}"' in by_id.text
    r = await client.post(f"/incidents/{source}/merge", data={"csrf_token": token, "into": target})
    assert r.status_code == 303 and r.headers["location"] == f"/incidents/{target}"
    assert (await incident(sessionmaker, source)).status == "merged"

    clock.advance(seconds=20)
    await open_incident(app, client, sessionmaker, clock, world.acme, "DiskFull", "db-01:9100", fingerprint="d2")
    page = await client.get(f"/incidents/{target}")
    picks = re.findall(r'name="alert_ids" value="([0-9a-f]+)"', page.text)
    assert len(picks) == 3
    r = await client.post(f"/incidents/{target}/split",
                          data={"csrf_token": token, "alert_ids": picks[-1], "title": "Second disk"})
    assert r.status_code == 303 and r.headers["location"] != f"/incidents/{target}"
    new_page = await client.get(r.headers["location"])
    assert 'data-testid="incident-title">Second disk<' in new_page.text and "Split off from" in new_page.text


async def test_other_companies_get_404_on_every_action(app: FastAPI, client: httpx.AsyncClient, sessionmaker: SM,
                                                       clock: FakeClock, world: World) -> None:
    iid = await open_incident(app, client, sessionmaker, clock, world.acme, "DiskFull", "db-01:9100")
    token = await browser_login(client, world.emails["other"])
    for action in ("acknowledge", "start", "resolve", "close", "reopen", "notes", "assign", "auto-assign", "merge",
                   "split"):
        r = await client.post(f"/incidents/{iid}/{action}", data={"csrf_token": token, "body": "x", "into": iid})
        assert r.status_code == 404, action
    assert (await client.get(f"/incidents/{iid}/merge-targets")).status_code == 404
    assert await audit_actions(sessionmaker, iid) == []


async def test_my_incidents_list_columns_and_bulk_bar(app: FastAPI, client: httpx.AsyncClient, sessionmaker: SM,
                                                      clock: FakeClock, world: World) -> None:
    a = await open_incident(app, client, sessionmaker, clock, world.acme, "DiskFull", "db-01:9100")
    b = await open_incident(app, client, sessionmaker, clock, world.acme, "NginxDown", "web-01:9100")
    hidden = await open_incident(app, client, sessionmaker, clock, world.globex, "DiskFull", "vault-01:9100")
    token = await browser_login(client, world.emails["tech"])
    r = await client.post(f"/incidents/{a}/acknowledge", data={"csrf_token": token})
    assert r.status_code == 303

    mine = await client.get("/incidents", params={"mine": "1", "status": "open"})
    assert mine.status_code == 200
    assert "<h1>My incidents</h1>" in mine.text and 'class="nav-link active"' in mine.text
    rows = re.findall(r'<tr data-id="([0-9a-f]+)"', mine.text)
    assert rows == [a]
    everything = await client.get("/incidents", params={"company_id": world.acme.id})
    assert set(re.findall(r'<tr data-id="([0-9a-f]+)"', everything.text)) == {a, b}
    assert 'data-testid="assignee-cell">' in everything.text and "unassigned" in everything.text
    assert 'data-testid="bulk-bar"' in everything.text
    assert f'<option value="{world.ids["tech2"]}">' in everything.text  # the company's people to assign to
    unassigned = await client.get("/incidents", params={"assignee": "none"})
    assert re.findall(r'<tr data-id="([0-9a-f]+)"', unassigned.text) == [b]

    # bulk: one resolved, one out of scope (reported, untouched)
    r = await client.post("/incidents/bulk", data={"csrf_token": token, "action": "resolve",
                                                   "incident_ids": [a, hidden],
                                                   "next": f"/incidents?company_id={world.acme.id}"})
    assert r.status_code == 303 and r.headers["location"] == f"/incidents?company_id={world.acme.id}"
    message = flash(r)
    assert message["kind"] == "info" and message["message"].startswith("1 incident resolved. 1 could not be")
    assert "incident not found" in message["message"]
    assert (await incident(sessionmaker, a)).status == "resolved"
    assert (await incident(sessionmaker, hidden)).status == "new"
    r = await client.post("/incidents/bulk", data={"csrf_token": token, "action": "assign", "user_id": "me",
                                                   "incident_ids": b})
    assert flash(r)["message"] == "1 incident assigned."
    assert (await incident(sessionmaker, b)).assignee_id == world.ids["tech"]
    nothing = await client.post("/incidents/bulk", data={"csrf_token": token, "action": "resolve"})
    assert flash(nothing)["kind"] == "error"
