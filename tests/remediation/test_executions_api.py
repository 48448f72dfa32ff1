"""The executions API: manual runs through the gates, reading in scope, cancelling, and the self-healed KPI."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alertwhisperer.clock import FakeClock
from alertwhisperer.config import Settings
from alertwhisperer.correlation.models import Incident
from alertwhisperer.remediation import states
from alertwhisperer.remediation.models import Execution
from tests.remediation import runner_world as rw

SM = async_sessionmaker[AsyncSession]


async def _run(w: rw.World, who: str, runbook_id: str, **body: object) -> httpx.Response:
    return await w.client.post(
        "/api/executions", headers=w.auth[who], json={"runbook_id": runbook_id, "asset_id": w.asset_id, **body}
    )


async def test_manual_runs_meet_the_same_gates(
    app: FastAPI, client: httpx.AsyncClient, sessionmaker: SM, settings: Settings, clock: FakeClock, tmp_path: Path
) -> None:
    w = await rw.build(app, client, sessionmaker, settings, clock)
    incident_id = await rw.open_incident(w)
    marker = tmp_path / "ran"
    low, _ = await rw.add_runbook(
        w,
        rw.spec_dict(
            "tidy-tmp",
            [f"echo {{{{ what }}}} >> {marker}"],
            parameters=[{"name": "what", "type": "string", "default": "x"}],
        ),
    )
    medium, _ = await rw.add_runbook(w, rw.spec_dict("restart-app", ["echo restart"], risk="medium"))

    r = await _run(w, "tech", low, incident_id=incident_id, params={"what": "tidied"})
    assert r.status_code == 201, r.text
    queued = r.json()
    assert queued["status"] == states.QUEUED and queued["trigger"] == "manual"
    assert queued["incident_id"] == incident_id and queued["params"] == {"what": "tidied"}
    assert queued["requested_by_id"] == w.ids["tech"] and len(queued["binding_hash"]) == 64
    await w.drain()
    assert rw.lines(marker) == ["tidied"]

    r = await _run(w, "tech", medium, incident_id=incident_id)
    assert r.status_code == 201, r.text
    pending = r.json()
    assert pending["status"] == states.PENDING_APPROVAL and pending["approval_required"] is True
    assert pending["approver_role"] == "company_admin" and pending["expires_at"] is not None
    listed = await w.client.get("/api/executions?trigger=manual", headers=w.auth["tech"])
    assert {e["id"] for e in listed.json()} == {queued["id"], pending["id"]}
    assert (await w.client.get("/api/executions?trigger=auto", headers=w.auth["tech"])).json() == []

    r = await _run(w, "tech", low, params={"what": "; rm -rf /", "extra": 1})
    assert r.status_code == 422, r.text  # parameters are checked against the runbook

    r = await w.client.post(
        "/api/executions",
        headers=w.auth["tech"],  # another company's asset: not found
        json={"runbook_id": low, "asset_id": w.other_asset_id},
    )
    assert r.status_code == 404
    r = await w.client.post(
        "/api/executions",
        headers=w.auth["other"],
        json={"runbook_id": low, "asset_id": w.other_asset_id, "incident_id": incident_id},
    )
    assert r.status_code == 404  # the incident is outside their scope
    r = await w.client.post(
        "/api/executions",
        headers=w.auth["msp"],
        json={"runbook_id": low, "asset_id": w.other_asset_id, "incident_id": incident_id},
    )
    assert r.status_code == 422 and "another company" in r.text  # incident and asset of different companies
    acme_only, _ = await rw.add_runbook(w, rw.spec_dict("acme-special", ["echo acme"]), company_id=w.acme.id)
    r = await w.client.post(
        "/api/executions", headers=w.auth["msp"], json={"runbook_id": acme_only, "asset_id": w.other_asset_id}
    )
    assert r.status_code in (404, 422), r.text  # one company's runbook never runs on another's asset


async def test_reading_is_scoped(
    app: FastAPI, client: httpx.AsyncClient, sessionmaker: SM, settings: Settings, clock: FakeClock
) -> None:
    w = await rw.build(app, client, sessionmaker, settings, clock)
    _, version = await rw.add_runbook(w, rw.spec_dict("say-hi", ["echo hi there"]))
    mine = await rw.request(w, version)
    theirs = await rw.request(w, version, asset_id=w.other_asset_id, company=w.globex)
    await w.drain()

    r = await w.client.get("/api/executions", headers=w.auth["tech"])
    assert r.status_code == 200 and [e["id"] for e in r.json()] == [mine]
    r = await w.client.get("/api/executions", headers=w.auth["msp"], params={"status": "final"})
    assert {e["id"] for e in r.json()} == {mine, theirs}
    r = await w.client.get("/api/executions", headers=w.auth["msp"], params={"status": "waiting"})
    assert r.json() == []
    r = await w.client.get("/api/executions", headers=w.auth["tech"], params={"company_id": w.globex.id})
    assert r.status_code == 404
    r = await w.client.get("/api/executions", headers=w.auth["tech"], params={"status": "bogus"})
    assert r.status_code == 422
    r = await w.client.get("/api/executions", headers=w.auth["msp"], params={"runbook": "say-hi", "limit": 1})
    assert len(r.json()) == 1

    r = await w.client.get(f"/api/executions/{mine}", headers=w.auth["tech"])
    detail = r.json()
    assert r.status_code == 200 and detail["status"] == states.SUCCEEDED and "hi there" in detail["stdout"]
    assert detail["health_check"]["status"] == "skipped" and detail["approval"] is None
    assert detail["target"]["executor"] == "local"
    assert (await w.client.get(f"/api/executions/{theirs}", headers=w.auth["tech"])).status_code == 404
    r = await w.client.get(f"/api/executions/{mine}/output", headers=w.auth["tech"])
    pieces = r.json()
    assert [p["seq"] for p in pieces] == list(range(1, len(pieces) + 1))
    assert any("hi there" in p["text"] for p in pieces if p["stream"] == "stdout")
    r = await w.client.get(
        f"/api/executions/{mine}/output", headers=w.auth["tech"], params={"after_seq": pieces[-1]["seq"]}
    )
    assert r.json() == []
    assert (await w.client.get(f"/api/executions/{theirs}/output", headers=w.auth["tech"])).status_code == 404


async def test_cancel_rules(
    app: FastAPI, client: httpx.AsyncClient, sessionmaker: SM, settings: Settings, clock: FakeClock, tmp_path: Path
) -> None:
    w = await rw.build(app, client, sessionmaker, settings, clock)
    marker = tmp_path / "ran"
    low, _ = await rw.add_runbook(w, rw.spec_dict("tidy-tmp", [f"echo ran >> {marker}"]))
    medium, _ = await rw.add_runbook(w, rw.spec_dict("restart-app", ["echo restart"], risk="medium"))

    queued = (await _run(w, "tech", low)).json()["id"]
    r = await w.client.post(f"/api/executions/{queued}/cancel", headers=w.auth["tech2"], json={"note": "mine?"})
    assert r.status_code == 403  # another technician's request
    r = await w.client.post(f"/api/executions/{queued}/cancel", headers=w.auth["other"])
    assert r.status_code == 404
    r = await w.client.post(f"/api/executions/{queued}/cancel", headers=w.auth["tech"], json={"note": "wrong host"})
    assert r.status_code == 200 and r.json()["status"] == states.CANCELLED
    assert "wrong host" in r.json()["status_reason"]
    await w.drain()
    assert rw.lines(marker) == []  # cancelled before it ran: never runs
    r = await w.client.post(f"/api/executions/{queued}/cancel", headers=w.auth["tech"])
    assert r.status_code == 200 and r.json()["status"] == states.CANCELLED  # again: no change

    pending = (await _run(w, "tech", medium)).json()["id"]
    r = await w.client.post(f"/api/executions/{pending}/cancel", headers=w.auth["admin"])
    assert r.status_code == 200 and r.json()["status"] == states.CANCELLED  # an admin of the company may

    done = (await _run(w, "tech", low)).json()["id"]
    await w.drain()
    r = await w.client.post(f"/api/executions/{done}/cancel", headers=w.auth["tech"])
    assert r.status_code == 409 and "already finished" in r.text
    running = (await _run(w, "tech", low)).json()["id"]
    async with w.sm() as s:  # as if a worker had it on the host right now
        row = await s.get(Execution, running)
        assert row is not None
        row.status = states.RUNNING
        await s.commit()
    r = await w.client.post(f"/api/executions/{running}/cancel", headers=w.auth["msp"])
    assert r.status_code == 409 and "already running" in r.text


async def test_self_healed_kpi(
    app: FastAPI, client: httpx.AsyncClient, sessionmaker: SM, settings: Settings, clock: FakeClock
) -> None:
    w = await rw.build(app, client, sessionmaker, settings, clock)
    now = clock.now()
    rows = [  # (company, kind, seconds to resolve, resolved how long ago)
        (w.acme.id, "self_healed", 120.0, timedelta(days=1)),
        (w.acme.id, "self_healed", 240.0, timedelta(days=2)),
        (w.acme.id, "auto", 600.0, timedelta(days=3)),
        (w.acme.id, "manual", 3600.0, timedelta(days=4)),
        (w.acme.id, "manual", 1800.0, timedelta(days=40)),  # outside the 30-day window
        (w.globex.id, "manual", 60.0, timedelta(days=1)),  # another company
    ]
    async with w.sm() as s:
        for i, (company_id, kind, seconds, ago) in enumerate(rows):
            resolved = now - ago
            s.add(
                Incident(
                    company_id=company_id,
                    status="resolved",
                    title=f"i{i}",
                    symptom="disk",
                    severity="high",
                    key=f"k{i}",
                    first_seen=resolved - timedelta(seconds=seconds),
                    last_seen=resolved,
                    resolved_at=resolved,
                    time_to_resolve_seconds=seconds,
                    resolution_kind=kind,
                )
            )
        s.add(
            Incident(
                company_id=w.acme.id,
                status="new",
                title="open",
                symptom="disk",
                severity="high",
                key="open",
                first_seen=now,
                last_seen=now,
            )
        )
        await s.commit()
    r = await w.client.get("/api/kpis/self-healed", headers=w.auth["tech"])
    assert r.status_code == 200, r.text
    kpi = r.json()
    assert (kpi["resolved"], kpi["self_healed"], kpi["auto_resolved"], kpi["manual_resolved"]) == (4, 2, 1, 1)
    assert kpi["self_healed_pct"] == 50.0 and kpi["days"] == 30
    assert kpi["mttr_self_healed_seconds"] == 180.0
    assert kpi["mttr_automatic_seconds"] == 320.0  # (120 + 240 + 600) / 3
    assert kpi["mttr_manual_seconds"] == 3600.0
    r = await w.client.get("/api/kpis/self-healed", headers=w.auth["msp"], params={"days": 60})
    assert r.json()["resolved"] == 6 and r.json()["self_healed_pct"] == round(200 / 6, 1)
    r = await w.client.get("/api/kpis/self-healed", headers=w.auth["tech"], params={"company_id": w.globex.id})
    assert r.status_code == 404
    r = await w.client.get("/api/kpis/self-healed", headers=w.auth["other"])
    assert r.json()["resolved"] == 1 and r.json()["self_healed_pct"] == 0.0
