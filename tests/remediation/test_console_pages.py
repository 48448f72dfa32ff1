"""The executions console over HTTP (no browser), both backends: the list with its filters, badges and self-healed
KPI strip; a run's page with its approval block, stored output (escaped), the output endpoint the live view fills
gaps from, and cancelling; nothing of another company is visible."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI

from alertwhisperer.clock import FakeClock
from alertwhisperer.config import Settings
from alertwhisperer.remediation.models import ExecutionChunk
from alertwhisperer.web.pages.executions import duration_ms, expiry_text
from tests.auth.helpers import cheap_argon2  # noqa: F401  (autouse fixture)
from tests.incidents.test_kpis import incident as make_incident
from tests.remediation.test_console_world import SM, World, browser_login, build, load, manual_run

HX = {"HX-Request": "true"}


@pytest.fixture
async def world(
    app: FastAPI, client: httpx.AsyncClient, sessionmaker: SM, settings: Settings, clock: FakeClock
) -> World:
    return await build(app, client, sessionmaker, settings, clock)


def row_ids(page: str) -> list[str]:
    return re.findall(r'<tr data-id="([0-9a-f]+)" data-status="[a-z_]+" data-testid="execution-row"', page)


def shown_text(page: str, testid: str) -> str:
    dot = '<span class="ex-dot" aria-hidden="true"></span>'
    found = re.search(rf'data-testid="{testid}"[^>]*>(?:{dot})?([^<]*)<', page)
    assert found, f"{testid} not on the page"
    return html.unescape(found.group(1)).strip()


async def test_list_shows_runs_with_filters_and_hides_other_companies(
    client: httpx.AsyncClient, sessionmaker: SM, settings: Settings, clock: FakeClock, world: World
) -> None:
    pending = await manual_run(sessionmaker, settings, clock, world)  # medium: waits for an approval
    clock.advance(seconds=5)
    queued = await manual_run(sessionmaker, settings, clock, world, runbook=world.hello, incident=False)
    assert (pending.status, queued.status) == ("pending_approval", "queued")

    await browser_login(client, world.emails["tech"])
    r = await client.get("/executions")
    assert r.status_code == 200
    assert row_ids(r.text) == [queued.id, pending.id]  # newest first
    for label in ("Pending approval", "Queued", "Print a few lines", "Say hello", "web-01", "medium risk"):
        assert label in r.text
    assert 'data-testid="self-healed-kpis"' in r.text

    # filters: status, trigger, runbook, incident; a filter without matches shows its empty state
    r = await client.get("/executions", params={"status": "pending_approval"})
    assert row_ids(r.text) == [pending.id]
    r = await client.get("/executions", params={"runbook": "say-hello"})
    assert row_ids(r.text) == [queued.id]
    r = await client.get("/executions", params={"incident": world.incident})
    assert row_ids(r.text) == [pending.id]
    r = await client.get("/executions", params={"trigger": "auto"})
    assert row_ids(r.text) == [] and "No executions match these filters" in r.text
    r = await client.get("/executions", params={"trigger": "manual", "status": "waiting"})
    assert row_ids(r.text) == [queued.id, pending.id]

    # the live refresh asks for the list part only, with the same filters
    r = await client.get("/executions", params={"status": "queued"}, headers={**HX, "HX-Target": "executions-live"})
    assert r.text.lstrip().startswith('<div id="executions-live"') and "<html" not in r.text
    assert row_ids(r.text) == [queued.id] and 'hx-get="/executions?status=queued"' in r.text

    # another company's technician sees none of it, and cannot ask for company a
    await browser_login(client, world.emails["other"])
    r = await client.get("/executions")
    assert row_ids(r.text) == [] and "No runbook has run yet" in r.text and "web-01" not in r.text
    assert (await client.get("/executions", params={"company_id": world.a.id})).status_code == 404


async def test_kpi_strip_counts_self_healed_incidents_and_splits_mttr(
    client: httpx.AsyncClient, sessionmaker: SM, clock: FakeClock, world: World
) -> None:
    now = clock.now()
    t = now - timedelta(days=3)
    async with sessionmaker() as s:
        s.add_all(
            [
                make_incident(
                    world.a.id,
                    "high",
                    t,
                    status="resolved",
                    resolved_at=t + timedelta(minutes=4),
                    resolution_kind="self_healed",
                    time_to_resolve_seconds=240,
                ),
                make_incident(
                    world.a.id,
                    "high",
                    t,
                    status="resolved",
                    resolved_at=t + timedelta(minutes=6),
                    resolution_kind="self_healed",
                    time_to_resolve_seconds=360,
                ),
                make_incident(
                    world.a.id,
                    "medium",
                    t,
                    status="closed",
                    resolved_at=t + timedelta(hours=2),
                    resolution_kind="manual",
                    time_to_resolve_seconds=7200,
                ),
                make_incident(
                    world.a.id,
                    "low",
                    t,
                    status="resolved",
                    resolved_at=t + timedelta(hours=1),
                    resolution_kind="manual",
                    time_to_resolve_seconds=3600,
                ),
                # older than 30 days, and another company's: not counted
                make_incident(
                    world.a.id,
                    "low",
                    now - timedelta(days=40),
                    status="resolved",
                    resolved_at=now - timedelta(days=40),
                    resolution_kind="self_healed",
                    time_to_resolve_seconds=60,
                ),
                make_incident(
                    world.b.id,
                    "low",
                    t,
                    status="resolved",
                    resolved_at=t + timedelta(minutes=1),
                    resolution_kind="self_healed",
                    time_to_resolve_seconds=60,
                ),
            ]
        )
        await s.commit()
    await browser_login(client, world.emails["tech"])
    page = (await client.get("/executions")).text
    assert shown_text(page, "kpi-self-healed-percent") == "50%"
    assert shown_text(page, "kpi-self-healed-count") == "2"
    assert shown_text(page, "kpi-mttr-auto") == "5 min"  # (4 + 6) / 2
    assert shown_text(page, "kpi-mttr-manual") == "1 h 30 min"  # (2 h + 1 h) / 2
    assert "of 4 resolved incidents" in page and "automatic is 94% faster" in page


async def test_detail_shows_approval_block_and_escaped_output(
    client: httpx.AsyncClient, sessionmaker: SM, settings: Settings, clock: FakeClock, world: World
) -> None:
    run = await manual_run(sessionmaker, settings, clock, world, params={"count": "2", "word": "disk"})
    async with sessionmaker() as s:
        s.add_all(
            [
                ExecutionChunk(
                    execution_id=run.id,
                    company_id=world.a.id,
                    seq=1,
                    stream="system",
                    text="connected to web-01\n",
                    at=clock.now(),
                ),
                ExecutionChunk(
                    execution_id=run.id,
                    company_id=world.a.id,
                    seq=2,
                    stream="stdout",
                    text="<script>alert('owned')</script>\n",
                    at=clock.now(),
                ),
                ExecutionChunk(
                    execution_id=run.id,
                    company_id=world.a.id,
                    seq=3,
                    stream="stderr",
                    text="rm: cannot remove <b>x</b>\n",
                    at=clock.now(),
                ),
            ]
        )
        await s.commit()

    # the requester: read-only approval block ("waiting for approval by a company admin"), no approve form
    await browser_login(client, world.emails["tech"])
    r = await client.get(f"/executions/{run.id}")
    assert r.status_code == 200
    page = r.text
    assert shown_text(page, "execution-status") == "Pending approval"
    assert "Print a few lines" in page and "v1" in page and "medium risk" in page
    assert "Waiting for approval by a company admin of this company or an MSP admin" in page
    assert "you requested this run" in page and 'data-testid="approve"' not in page
    assert shown_text(page, "approval-expiry") == "expires in 1 h"
    assert shown_text(page, "binding-hash") == run.binding_hash[:12]
    assert '<dt class="mono">count</dt><dd class="mono break">2</dd>' in page
    assert 'data-testid="cancel-execution"' in page  # the requester may withdraw it
    # output: in seq order, by stream, escaped — never markup
    assert "<script>alert(" not in page and "<b>x</b>" not in page
    assert (
        '<span class="ex-system" data-seq="1">connected to web-01\n</span>'
        '<span class="ex-stdout" data-seq="2">&lt;script&gt;alert(&#39;owned&#39;)&lt;/script&gt;\n</span>'
        '<span class="ex-stderr" data-seq="3">rm: cannot remove &lt;b&gt;x&lt;/b&gt;\n</span>'
    ) in page
    assert 'data-last-seq="3"' in page and 'data-state="waiting"' in page

    # the output endpoint the live view fills gaps from
    r = await client.get(f"/executions/{run.id}/output", params={"after": 1})
    assert r.status_code == 200
    assert r.json() == {
        "status": "pending_approval",
        "truncated": False,
        "chunks": [
            {"seq": 2, "stream": "stdout", "text": "<script>alert('owned')</script>\n"},
            {"seq": 3, "stream": "stderr", "text": "rm: cannot remove <b>x</b>\n"},
        ],
    }

    # a company admin of the company may approve: the form posts to the approvals routes
    await browser_login(client, world.emails["admin"])
    page = (await client.get(f"/executions/{run.id}")).text
    assert f'formaction="/approvals/{run.id}/approve" data-testid="approve"' in page
    assert f'formaction="/approvals/{run.id}/reject" data-testid="reject"' in page

    # after the deadline it shows as expired, without the form
    clock.advance(seconds=3601)
    await browser_login(client, world.emails["admin"])
    page = (await client.get(f"/executions/{run.id}")).text
    assert 'data-testid="approve"' not in page and shown_text(page, "approval-expiry").startswith("expired")

    # another company's people: not found
    await browser_login(client, world.emails["other"])
    assert (await client.get(f"/executions/{run.id}")).status_code == 404
    assert (await client.get(f"/executions/{run.id}/output")).status_code == 404


async def test_cancel_from_the_page(
    client: httpx.AsyncClient, sessionmaker: SM, settings: Settings, clock: FakeClock, world: World
) -> None:
    run = await manual_run(sessionmaker, settings, clock, world)
    token = await browser_login(client, world.emails["other"])
    r = await client.post(f"/executions/{run.id}/cancel", data={"csrf_token": token})
    assert r.status_code == 404 and (await load(sessionmaker, run.id)).status == "pending_approval"

    token = await browser_login(client, world.emails["tech"])
    assert (await client.post(f"/executions/{run.id}/cancel", data={})).status_code == 403  # no CSRF token
    r = await client.post(f"/executions/{run.id}/cancel", data={"csrf_token": token})
    assert r.status_code == 303 and r.headers["location"] == f"/executions/{run.id}"
    assert (await load(sessionmaker, run.id)).status == "cancelled"
    page = (await client.get(f"/executions/{run.id}")).text
    assert "Request withdrawn. It will not start." in page
    assert shown_text(page, "execution-status") == "Cancelled" and 'data-testid="cancel-execution"' not in page
    assert "It never ran, so there is no output." in page

    # cancelling again changes nothing
    r = await client.post(f"/executions/{run.id}/cancel", data={"csrf_token": token})
    assert r.status_code == 303 and (await load(sessionmaker, run.id)).status == "cancelled"


def test_small_formatters() -> None:
    assert [duration_ms(v) for v in (None, 420, 1234, 95_000)] == ["—", "420 ms", "1.2 s", "2 min"]
    from datetime import UTC, datetime

    now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    assert expiry_text(now + timedelta(minutes=43), now) == "expires in 43 min"
    assert expiry_text(now - timedelta(minutes=5), now) == "expired 5 min ago"
    assert expiry_text(None, now) == ""
