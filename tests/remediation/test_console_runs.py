"""Manual runs from the incident page over HTTP (no browser), both backends: the Automation card loads its
decisions and runs, the run form offers the company's runbooks (the fitting ones first) and its reachable assets,
a POST requests the run through the real gates and lands on the execution's page; invalid parameters come back
inline, another company's asset is not found."""

from __future__ import annotations

import html
import re

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from alertwhisperer.clock import FakeClock
from alertwhisperer.config import Settings
from alertwhisperer.remediation.models import Decision, Execution
from tests.auth.helpers import cheap_argon2  # noqa: F401  (autouse fixture)
from tests.remediation.test_console_world import SM, World, browser_login, build, manual_run

HX = {"HX-Request": "true"}


@pytest.fixture
async def world(
    app: FastAPI, client: httpx.AsyncClient, sessionmaker: SM, settings: Settings, clock: FakeClock
) -> World:
    return await build(app, client, sessionmaker, settings, clock)


async def runs_of(sm: SM, incident_id: str) -> list[Execution]:
    async with sm() as s:
        rows = await s.execute(
            select(Execution).where(Execution.incident_id == incident_id).order_by(Execution.created_at)
        )
        return list(rows.scalars())


def field_error(page: str, name: str) -> str | None:
    found = re.search(rf'id="{re.escape(name)}-error"[^>]*>([^<]*)<', page)
    return html.unescape(found.group(1)) if found else None


def run_form(token: str, w: World, **values: str) -> dict[str, str]:
    return {
        "csrf_token": token,
        "runbook_id": w.echo,
        "asset_id": w.asset_a,
        "param.count": "2",
        "param.word": "disk",
        **values,
    }


async def test_incident_page_has_the_card_and_the_form_offers_runbooks_and_assets(
    client: httpx.AsyncClient, world: World
) -> None:
    await browser_login(client, world.emails["tech"])
    page = (await client.get(f"/incidents/{world.incident}")).text
    assert 'id="incident-automation"' in page and '<div id="automation-keep" hx-preserve="true">' in page
    assert f'hx-get="/incidents/{world.incident}/automation"' in page
    assert f"aw-execution-updated[detail.data.incident_id=='{world.incident}'] from:body" in page

    r = await client.get(f"/incidents/{world.incident}/automation/run", headers=HX)
    assert r.status_code == 200 and "<html" not in r.text
    form = r.text
    # runbooks whose trigger fits (symptom disk) first, those with steps for the target's OS (linux) before the
    # others; the best fit is preselected
    fitting, rest = form.split('label="Fit this incident"')[1].split('label="Other runbooks"')
    assert f'value="{world.echo}"' in fitting and f'value="{world.hello}"' in rest
    assert re.search(r'<option value="[0-9a-f]+" selected>Disk usage report', fitting)
    assert fitting.index("Print a few lines") < fitting.index("Windows disk cleanup")
    assert "Windows disk cleanup (temp files, component store) · low · no linux steps" in fitting
    r = await client.get(f"/incidents/{world.incident}/automation/run", headers=HX, params={"runbook_id": world.echo})
    form = r.text
    assert f'<option value="{world.echo}" selected' in form
    assert 'name="param.count" type="number" value="3"' in form and 'name="param.word" type="text" value="line"' in form
    assert f'<option value="{world.asset_a}" selected>web-01 · local · probable root cause</option>' in form
    assert world.asset_b not in form and "db-01" not in form
    assert "Needs approval by a company admin of this company or an MSP admin." in form
    assert "Request approval" in form

    # choosing the other runbook re-renders the form with its rule (no parameters, runs right away)
    r = await client.get(
        f"/incidents/{world.incident}/automation/run",
        headers=HX,
        params={"runbook_id": world.hello, "asset_id": world.asset_a},
    )
    assert "Runs right away: low risk and marked auto-approve." in r.text and "takes no parameters" in r.text
    assert f'<option value="{world.hello}" selected' in r.text

    # without JavaScript the same form is a page of its own
    r = await client.get(f"/incidents/{world.incident}/automation/run")
    assert r.status_code == 200 and "<h1>Run a runbook</h1>" in r.text and 'data-testid="run-form"' in r.text


async def test_manual_run_post_redirects_to_the_execution(
    client: httpx.AsyncClient, sessionmaker: SM, world: World
) -> None:
    token = await browser_login(client, world.emails["tech"])
    r = await client.post(f"/incidents/{world.incident}/automation/run", data=run_form(token, world))
    assert r.status_code == 303
    [run] = await runs_of(sessionmaker, world.incident)
    assert r.headers["location"] == f"/executions/{run.id}"
    assert (run.status, run.trigger, run.params, run.asset_id) == (
        "pending_approval",
        "manual",
        {"count": 2, "word": "disk"},
        world.asset_a,
    )
    page = (await client.get(r.headers["location"])).text
    assert "Requested: waiting for approval by a company admin." in page  # the flash
    assert "Waiting for approval by a company admin" in page

    # the card lists it
    r = await client.get(f"/incidents/{world.incident}/automation", headers=HX)
    assert r.status_code == 200 and f'href="/executions/{run.id}"' in r.text
    assert "Pending approval" in r.text and "waiting for a company admin" in r.text

    # with HTMX the answer tells the browser where to go
    r = await client.post(
        f"/incidents/{world.incident}/automation/run", headers=HX, data=run_form(token, world, runbook_id=world.hello)
    )
    assert r.status_code == 200
    runs = await runs_of(sessionmaker, world.incident)
    assert len(runs) == 2 and runs[1].status == "queued"
    assert r.headers["HX-Redirect"] == f"/executions/{runs[1].id}"


async def test_invalid_parameters_come_back_inline(client: httpx.AsyncClient, sessionmaker: SM, world: World) -> None:
    token = await browser_login(client, world.emails["tech"])
    r = await client.post(
        f"/incidents/{world.incident}/automation/run", data=run_form(token, world, **{"param.word": "rm -rf /"})
    )
    assert r.status_code == 422
    assert "does not match the allowed pattern" in (field_error(r.text, "param.word") or "")
    assert 'value="rm -rf /"' in r.text  # what was typed stays
    r = await client.post(
        f"/incidents/{world.incident}/automation/run", data=run_form(token, world, **{"param.count": "many"})
    )
    assert r.status_code == 422 and "not a whole number" in (field_error(r.text, "param.count") or "")

    # with HTMX: the form fragment with the error, as a 200 so that htmx swaps it in place
    r = await client.post(
        f"/incidents/{world.incident}/automation/run",
        headers=HX,
        data=run_form(token, world, **{"param.count": "many"}),
    )
    assert r.status_code == 200 and "<html" not in r.text and field_error(r.text, "param.count")
    r = await client.post(f"/incidents/{world.incident}/automation/run", data=run_form(token, world, runbook_id="nope"))
    assert r.status_code == 422 and field_error(r.text, "runbook_id")
    assert await runs_of(sessionmaker, world.incident) == []


async def test_other_company_asset_or_incident_is_not_found(
    client: httpx.AsyncClient, sessionmaker: SM, settings: Settings, clock: FakeClock, world: World
) -> None:
    token = await browser_login(client, world.emails["tech"])
    r = await client.post(
        f"/incidents/{world.incident}/automation/run", data=run_form(token, world, asset_id=world.asset_b)
    )
    assert r.status_code == 404
    assert await runs_of(sessionmaker, world.incident) == []

    await manual_run(sessionmaker, settings, clock, world)
    token = await browser_login(client, world.emails["other"])
    for path in ("/automation", "/automation/run"):
        assert (await client.get(f"/incidents/{world.incident}{path}")).status_code == 404
        r = await client.get(f"/incidents/{world.incident}{path}", headers=HX)  # htmx: an error toast instead
        assert r.headers["HX-Retarget"] == "#toasts" and "web-01" not in r.text
    r = await client.post(
        f"/incidents/{world.incident}/automation/run",
        data=run_form(token, world, runbook_id=world.echo_b, asset_id=world.asset_b),
    )
    assert r.status_code == 404


async def test_card_shows_the_decision_engine_verdicts(
    client: httpx.AsyncClient, sessionmaker: SM, world: World
) -> None:
    async with sessionmaker() as s:
        s.add(
            Decision(
                company_id=world.a.id,
                incident_id=world.incident,
                action="escalate",
                runbook_id=world.echo,
                runbook_version=1,
                reasons=["echo-lines fits: symptom disk", "loop guard: ran 3 times on web-01 in the last hour"],
                advisor={"provider": "anthropic", "status": "timeout"},
            )
        )
        await s.commit()
    await browser_login(client, world.emails["tech"])
    card = (await client.get(f"/incidents/{world.incident}/automation", headers=HX)).text
    assert 'data-action="escalate"' in card and "escalated to a technician" in card
    assert "Print a few lines" in card and "loop guard: ran 3 times on web-01 in the last hour" in card
    assert "AI advisor (anthropic) did not help (timeout): the rules decided alone." in card
