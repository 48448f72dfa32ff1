"""Patch compliance API: who may read and ask for scans (scope, roles), what a request enqueues and audits, and the
compliance arithmetic per company."""

from __future__ import annotations

from datetime import timedelta

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from alertwhisperer.audit.models import AuditEntry
from alertwhisperer.clock import FakeClock
from alertwhisperer.config import Settings
from alertwhisperer.jobs.models import Job
from alertwhisperer.remediation.hooks import PATCH_SCAN_JOB
from alertwhisperer.remediation.patch_parsers import PatchCounts
from alertwhisperer.remediation.patch_scan import store
from tests.auth.helpers import cheap_argon2  # noqa: F401  (autouse fixture)
from tests.factories import make_asset
from tests.remediation.patches_world import SM, aws_access, build, local_access


def counts(missing: int = 0, *, failed: int = 0, critical: int = 0, security: int = 0) -> PatchCounts:
    return PatchCounts(
        source="apt",
        installed=300,
        missing=missing,
        critical=critical,
        security=security,
        failed=failed,
        details={"severity_reported": False},
    )


async def test_scope_roles_and_validation(
    app: FastAPI, client: httpx.AsyncClient, sessionmaker: SM, settings: Settings, clock: FakeClock
) -> None:
    w = await build(client, sessionmaker, settings, clock)
    async with sessionmaker() as s:
        host = await make_asset(s, clock, w.acme.id, "aw-host")
        bare = await make_asset(s, clock, w.acme.id, "no-access-01")
        await local_access(s, settings, clock, host.id)
        hidden = await make_asset(s, clock, w.globex.id, "globex-secret-01")
        await local_access(s, settings, clock, hidden.id)

    assert (await client.post("/api/patches/scan", json={"asset_id": host.id})).status_code == 401
    for body in ({"asset_id": host.id}, {"company_id": w.acme.id}):  # another company's user: does not exist
        assert (await client.post("/api/patches/scan", json=body, headers=w.auth["other"])).status_code == 404
    assert (
        await client.get("/api/patches", params={"company_id": w.acme.id}, headers=w.auth["other"])
    ).status_code == 404
    theirs = (await client.get("/api/patches", headers=w.auth["other"])).json()
    assert [r["asset_name"] for r in theirs] == ["globex-secret-01"]
    assert [c["name"] for c in (await client.get("/api/patches/summary", headers=w.auth["other"])).json()] == [
        "Globex Hidden"
    ]

    both = await client.post(
        "/api/patches/scan", json={"asset_id": host.id, "company_id": w.acme.id}, headers=w.auth["tech"]
    )
    assert both.status_code == 422 and "one of them" in both.json()["message"]
    assert (await client.post("/api/patches/scan", json={}, headers=w.auth["tech"])).status_code == 422
    no_access = await client.post("/api/patches/scan", json={"asset_id": bare.id}, headers=w.auth["tech"])
    assert no_access.status_code == 409 and "Remote access" in no_access.json()["message"]

    ok = await client.post("/api/patches/scan", json={"company_id": w.acme.id}, headers=w.auth["tech"])
    assert ok.status_code == 202
    assert ok.json()["queued"] == [host.id]
    assert ok.json()["skipped"] == [
        {
            "asset_id": bare.id,
            "asset_name": "no-access-01",
            "reason": "no remote access is configured for this asset: set it up under Remote access",
        }
    ]
    again = await client.post("/api/patches/scan", json={"asset_id": host.id}, headers=w.auth["admin"])
    assert again.status_code == 202 and again.json()["queued"] == []  # a double click never scans twice
    async with sessionmaker() as s:
        jobs = list((await s.execute(select(Job).where(Job.kind == PATCH_SCAN_JOB))).scalars())
        entries = list(
            (
                await s.execute(
                    select(AuditEntry).where(AuditEntry.action == "patches.scan_requested").order_by(AuditEntry.seq)
                )
            ).scalars()
        )
    assert [(j.company_id, j.payload) for j in jobs] == [(w.acme.id, {"asset_ids": [host.id]})]
    assert [(e.actor_email, e.target_type, e.details["queued"], e.details["skipped"]) for e in entries] == [
        (w.emails["tech"], "company", 1, 1),
        (w.emails["admin"], "asset", 0, 1),
    ]
    rows = (await client.get("/api/patches", params={"company_id": w.acme.id}, headers=w.auth["tech"])).json()
    assert [(r["asset_name"], r["executor"], r["scanning"], r["source"]) for r in rows] == [
        ("aw-host", "local", True, None)
    ]  # assets without access and without a state are not listed

    msp = (await client.get("/api/patches/summary", headers=w.auth["msp"])).json()
    assert [(c["name"], c["assets"], c["assets_with_access"], c["scanning"], c["percent"]) for c in msp] == [
        ("Acme Dental", 2, 1, 1, None),
        ("Globex Hidden", 1, 1, 0, None),
    ]


async def test_compliance_arithmetic(
    app: FastAPI, client: httpx.AsyncClient, sessionmaker: SM, settings: Settings, clock: FakeClock
) -> None:
    """Compliant = scanned with missing == 0 and failed == 0; percent = compliant / scanned assets; a failed scan
    keeps the last good counts; an asset never scanned successfully is not in the denominator."""
    w = await build(client, sessionmaker, settings, clock)
    now = clock.now()
    async with sessionmaker() as s:
        names = ["a-clean", "b-missing", "c-failed", "d-clean-then-error", "e-never"]
        assets = {n: await make_asset(s, clock, w.acme.id, n, instance_id=f"i-0{n[0]}") for n in names}
        await aws_access(s, settings, clock, w.acme.id, [a.id for a in assets.values()])
        plan: list[tuple[str, PatchCounts | str]] = [
            ("a-clean", counts()),
            ("b-missing", counts(5, critical=2, security=3)),
            ("c-failed", counts(failed=1)),
            ("d-clean-then-error", counts()),
            ("d-clean-then-error", "could not reach the host: refused"),
            ("e-never", "AWS Patch Manager has no patch state for i-0e yet"),
        ]
        for step, (name, outcome) in enumerate(plan):
            await store(
                s,
                asset_id=assets[name].id,
                company_id=w.acme.id,
                source="ssm",
                outcome=outcome,
                now=now + timedelta(minutes=step),
            )
        await s.commit()
    summary = (
        await client.get("/api/patches/summary", params={"company_id": w.acme.id}, headers=w.auth["tech"])
    ).json()[0]
    assert {
        k: summary[k]
        for k in ("assets_scanned", "compliant", "percent", "missing", "critical", "security", "failed", "errors")
    } == {
        "assets_scanned": 4,
        "compliant": 2,
        "percent": 50.0,
        "missing": 5,
        "critical": 2,
        "security": 3,
        "failed": 1,
        "errors": 2,
    }
    assert summary["last_scan"].startswith((now + timedelta(minutes=3)).strftime("%Y-%m-%dT%H:%M"))
    rows = {r["asset_name"]: r for r in (await client.get("/api/patches", headers=w.auth["tech"])).json()}
    assert {n: r["compliant"] for n, r in rows.items()} == {
        "a-clean": True,
        "b-missing": False,
        "c-failed": False,
        "d-clean-then-error": True,
        "e-never": False,
    }
    assert rows["d-clean-then-error"]["error"] == "could not reach the host: refused"
    assert rows["e-never"]["scanned"] is False and rows["e-never"]["missing"] == 0
