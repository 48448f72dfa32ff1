"""AWS Patch Manager as a patch source: batching and pagination of describe_instance_patch_states (botocore
Stubber: AWS is unreachable here), several instances in one job, and AWS errors stored on the rows."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import boto3
import httpx
import pytest
from botocore.stub import Stubber
from fastapi import FastAPI
from sqlalchemy import select

from alertwhisperer.clock import FakeClock
from alertwhisperer.config import Settings
from alertwhisperer.remediation import patch_scan
from alertwhisperer.remediation.executors.base import Target
from alertwhisperer.remediation.models import PatchState
from tests.factories import bearer, login, make_asset
from tests.remediation.patches_world import SM, aws_access, build, run_scans


def _client() -> Any:
    return boto3.client(
        "ssm", region_name="eu-west-1", aws_access_key_id="AKIATEST", aws_secret_access_key="test-secret"
    )


def _state(
    instance_id: str, *, missing: int = 0, critical: int = 0, security: int = 0, failed: int = 0, installed: int = 400
) -> dict[str, Any]:
    return {
        "InstanceId": instance_id,
        "PatchGroup": "web",
        "BaselineId": "pb-0c10e65780EXAMPLE",
        "InstalledCount": installed,
        "InstalledOtherCount": 12,
        "InstalledPendingRebootCount": 1,
        "InstalledRejectedCount": 0,
        "MissingCount": missing,
        "FailedCount": failed,
        "CriticalNonCompliantCount": critical,
        "SecurityNonCompliantCount": security,
        "OtherNonCompliantCount": 0,
        "NotApplicableCount": 1200,
        "OperationStartTime": datetime(2026, 3, 2, 3, 0, tzinfo=UTC),
        "OperationEndTime": datetime(2026, 3, 2, 3, 4, tzinfo=UTC),
        "Operation": "Scan",
        "RebootOption": "NoReboot",
    }


def test_fetch_batches_fifty_ids_and_follows_next_token() -> None:
    client = _client()
    ids = [f"i-{n:017x}" for n in range(120)]
    with Stubber(client) as stub:
        stub.add_response(
            "describe_instance_patch_states",
            {"InstancePatchStates": [_state(i) for i in ids[:30]], "NextToken": "page-2"},
            {"InstanceIds": ids[:50], "MaxResults": 50},
        )
        stub.add_response(
            "describe_instance_patch_states",
            {"InstancePatchStates": [_state(i) for i in ids[30:50]]},
            {"InstanceIds": ids[:50], "MaxResults": 50, "NextToken": "page-2"},
        )
        stub.add_response(
            "describe_instance_patch_states",
            {"InstancePatchStates": [_state(i) for i in ids[50:100]]},
            {"InstanceIds": ids[50:100], "MaxResults": 50},
        )
        stub.add_response(
            "describe_instance_patch_states",
            {"InstancePatchStates": [_state(i) for i in ids[100:]]},
            {"InstanceIds": ids[100:], "MaxResults": 50},
        )
        states = patch_scan.fetch_patch_states(client, ids)
        stub.assert_no_pending_responses()
    assert [s["InstanceId"] for s in states] == ids


async def test_company_scan_reads_patch_manager_for_all_instances(
    app: FastAPI,
    client: httpx.AsyncClient,
    sessionmaker: SM,
    settings: Settings,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    w = await build(client, sessionmaker, settings, clock)
    async with sessionmaker() as s:
        web = await make_asset(s, clock, w.acme.id, "web-01", instance_id="i-0aaa00000000000a1")
        db = await make_asset(s, clock, w.acme.id, "db-01", instance_id="i-0bbb00000000000b2")
        new = await make_asset(s, clock, w.acme.id, "new-01", instance_id="i-0ccc00000000000c3")
        await aws_access(s, settings, clock, w.acme.id, [web.id, db.id, new.id])
    aws = _client()
    seen: list[Target] = []

    def factory(target: Target) -> Any:
        seen.append(target)
        return aws

    monkeypatch.setattr(patch_scan, "client_factory", factory)
    subscription = app.state.hub.listen()
    r = await client.post("/api/patches/scan", json={"company_id": w.acme.id}, headers=w.auth["tech"])
    assert r.status_code == 202, r.text
    assert sorted(r.json()["queued"]) == sorted([web.id, db.id, new.id])
    started = await asyncio.wait_for(subscription.__anext__(), 1)
    assert started.type == "patch.scanning" and sorted(started.data["asset_ids"]) == sorted(r.json()["queued"])
    assert started.data["name"] == "3 assets" and "origin" not in started.data  # an API call: no page to spare
    ids = sorted(["i-0aaa00000000000a1", "i-0bbb00000000000b2", "i-0ccc00000000000c3"])
    with Stubber(aws) as stub:
        stub.add_response(
            "describe_instance_patch_states",
            {
                "InstancePatchStates": [_state("i-0aaa00000000000a1", missing=3, critical=1, security=2)],
                "NextToken": "next",
            },
            {"InstanceIds": ids, "MaxResults": 50},
        )
        stub.add_response(
            "describe_instance_patch_states",
            {"InstancePatchStates": [_state("i-0bbb00000000000b2", installed=512)]},
            {"InstanceIds": ids, "MaxResults": 50, "NextToken": "next"},
        )
        await run_scans(app, sessionmaker, clock, settings)
        stub.assert_no_pending_responses()
    assert len(seen) == 1  # one client (one credential, one region) for the whole company
    assert (seen[0].secret.access_key_id, seen[0].region) == ("AKIAEXAMPLEPATCHES01", "eu-west-1")
    assert seen[0].secret.secret_access_key == "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    async with sessionmaker() as s:
        states = {p.asset_id: p for p in (await s.execute(select(PatchState))).scalars()}
    assert (states[web.id].source, states[web.id].missing, states[web.id].critical, states[web.id].security) == (
        "ssm",
        3,
        1,
        2,
    )
    assert states[web.id].scanned_at == datetime(2026, 3, 2, 3, 4, tzinfo=UTC)
    assert states[web.id].details["installed_pending_reboot"] == 1
    assert (states[db.id].installed, states[db.id].missing, states[db.id].error) == (512, 0, "")
    assert "no patch state for i-0ccc00000000000c3" in states[new.id].error
    assert states[new.id].details["scanned"] is False
    events = [await asyncio.wait_for(subscription.__anext__(), 1) for _ in range(3)]
    subscription.close()
    assert {e.type for e in events} == {"patch.updated"}
    assert sorted(e.data["name"] for e in events) == ["db-01", "new-01", "web-01"]
    assert {e.data["asset_id"]: e.data["compliant"] for e in events} == {web.id: False, db.id: True, new.id: False}

    rows = {
        row["asset_name"]: row
        for row in (await client.get("/api/patches", params={"company_id": w.acme.id}, headers=w.auth["tech"])).json()
    }
    assert rows["db-01"]["compliant"] and rows["db-01"]["scanned_at"].startswith("2026-03-02T03:04")
    assert rows["new-01"]["scanned_at"] is None and not rows["new-01"]["scanned"]
    summary = (await client.get("/api/patches/summary", headers=w.auth["tech"])).json()
    assert [
        (c["name"], c["assets_scanned"], c["compliant"], c["percent"], c["critical"], c["security"]) for c in summary
    ] == [("Acme Dental", 2, 1, 50.0, 1, 2)]


async def test_aws_error_is_stored_and_previous_counts_are_kept(
    app: FastAPI,
    client: httpx.AsyncClient,
    sessionmaker: SM,
    settings: Settings,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    w = await build(client, sessionmaker, settings, clock)
    async with sessionmaker() as s:
        web = await make_asset(s, clock, w.acme.id, "web-01", instance_id="i-0aaa00000000000a1")
        await aws_access(s, settings, clock, w.acme.id, [web.id])
    aws = _client()
    monkeypatch.setattr(patch_scan, "client_factory", lambda target: aws)
    with Stubber(aws) as stub:
        stub.add_response(
            "describe_instance_patch_states",
            {"InstancePatchStates": [_state("i-0aaa00000000000a1", missing=4, security=4)]},
        )
        assert (
            await client.post("/api/patches/scan", json={"asset_id": web.id}, headers=w.auth["admin"])
        ).status_code == 202
        await run_scans(app, sessionmaker, clock, settings)
        again = await client.post("/api/patches/scan", json={"asset_id": web.id}, headers=w.auth["admin"])
        assert again.status_code == 202 and again.json()["queued"] == []  # this hour's scan is done
        assert again.json()["skipped"][0]["reason"] == "already scanned or being scanned this hour"
        assert again.json()["next_at"].startswith("2026-03-02T10:00")

        clock.advance(hours=1)
        w.auth["admin"] = bearer(await login(client, w.emails["admin"]))  # the access token lapsed meanwhile
        stub.add_client_error(
            "describe_instance_patch_states",
            service_error_code="AccessDeniedException",
            service_message="User is not authorized to perform: ssm:DescribeInstancePatchStates",
            http_status_code=400,
        )
        assert (
            await client.post("/api/patches/scan", json={"asset_id": web.id}, headers=w.auth["admin"])
        ).status_code == 202
        await run_scans(app, sessionmaker, clock, settings)
    async with sessionmaker() as s:
        state = await s.get(PatchState, web.id)
    assert state is not None
    assert state.error == (
        "AWS refused the patch state request: AccessDeniedException: User is not authorized to "
        "perform: ssm:DescribeInstancePatchStates"
    )
    assert (state.missing, state.security, state.details["scanned"]) == (4, 4, True)  # the last good scan stays
    assert state.details["error_at"] == clock.now().isoformat()


async def test_client_wiring_with_a_role_credential(sessionmaker: SM, settings: Settings, clock: FakeClock) -> None:
    """moto: the real factory assumes the company's role (with its external id) and targets the asset's region."""
    from moto import mock_aws

    from alertwhisperer.remediation import access, credentials
    from alertwhisperer.remediation.access_schemas import AccessIn, CredentialIn
    from tests.factories import make_company

    async with sessionmaker() as s:
        company = await make_company(s, clock, "Role Co")
        asset = await make_asset(s, clock, company.id, "ec2-01", instance_id="i-0123456789abcdef0")
        cred = await credentials.create_credential(
            s, actor=None, settings=settings, clock=clock, company_id=company.id,
            data=CredentialIn(name="cross-account", kind="aws_role", access_key_id="AKIAEXAMPLEBASEKEY01",
                              secret_access_key="base-secret-key-example", region="ap-southeast-2",
                              role_arn="arn:aws:iam::123456789012:role/AlertWhispererPatches",
                              external_id="msp-ext-42"))
        await access.set_access(s, actor=None, settings=settings, clock=clock, asset_id=asset.id,
                                data=AccessIn(executor="ssm", credential_id=cred.id))
        await s.commit()
        target = await access.resolve_target(s, settings=settings, company_id=company.id, asset_id=asset.id)
    with mock_aws():
        client = patch_scan.ssm_client(target)
        frozen = client._request_signer._credentials.get_frozen_credentials()
    assert client.meta.region_name == "ap-southeast-2"
    assert frozen.access_key.startswith("ASIA") and frozen.token  # temporary credentials of the assumed role
