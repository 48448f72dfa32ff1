"""Running a patch scan and storing what it found (the ``remediation.patch_scan`` background job).

A scan reads one or more assets of one company: AWS Patch Manager (``describe_instance_patch_states``, up to 50
instances per call, paginated) for assets reached through SSM, and the scan script of ``patch_parsers`` through the
asset's executor (SSH, or local) for the others. The job never holds a transaction open while it waits on a host or
on AWS: it reads the targets in one short transaction, scans, then writes the results in another and publishes
``patch.updated`` for each asset. A scan that fails keeps the asset's previous counts and records why in
``PatchState.error``; an unreachable host is an error on the row, never a crashed job.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from alertwhisperer.config import Settings, get_settings
from alertwhisperer.errors import DomainError
from alertwhisperer.jobs.models import Job
from alertwhisperer.jobs.worker import JobContext, PermanentError
from alertwhisperer.realtime.hub import Event, emit
from alertwhisperer.remediation.executors.base import Command, ExecutorUnavailable, RunResult, Target
from alertwhisperer.remediation.models import SSM, PatchState
from alertwhisperer.remediation.patch_parsers import (
    SCAN_SCRIPT,
    PatchCounts,
    ScanError,
    parse_scan_output,
    parse_ssm_patch_states,
)

if TYPE_CHECKING:
    from mypy_boto3_ssm import SSMClient

log = structlog.get_logger(__name__)

UPDATED = "patch.updated"
SCAN_TIMEOUT_SECONDS = 300.0  # dnf may refresh its metadata first
DELIVERY_TIMEOUT_SECONDS = 30.0
SSM_BATCH = 50  # describe_instance_patch_states takes at most 50 instance ids per call

Outcome = PatchCounts | str  # counts, or why the scan failed (for a person to read)


# -- AWS Patch Manager ---------------------------------------------------------------------------------

def ssm_client(target: Target) -> SSMClient:
    """An SSM client with the company's AWS credential of this target (keys, or a role assumed with its external
    id), adaptive retries and explicit timeouts (``executors.aws``). Blocking: call it in a thread."""
    from alertwhisperer.remediation.executors.aws import client_for

    client: SSMClient = client_for(target, "ssm")
    return client


ClientFactory = Callable[[Target], "SSMClient"]
client_factory: ClientFactory = ssm_client  # the one seam tests replace (with a botocore Stubber'd client)


def fetch_patch_states(client: SSMClient, instance_ids: list[str]) -> list[dict[str, Any]]:
    """Every ``InstancePatchStates`` entry for these instances: batches of 50 ids, each followed through
    ``NextToken``. Blocking (boto3): call it in a thread."""
    states: list[dict[str, Any]] = []
    for start in range(0, len(instance_ids), SSM_BATCH):
        batch = instance_ids[start:start + SSM_BATCH]
        token: str | None = None
        while True:
            if token:
                page = client.describe_instance_patch_states(InstanceIds=batch, MaxResults=50, NextToken=token)
            else:
                page = client.describe_instance_patch_states(InstanceIds=batch, MaxResults=50)
            states.extend(dict(s) for s in page.get("InstancePatchStates", []))
            token = page.get("NextToken")
            if not token:
                break
    return states


def _aws_error(exc: Exception) -> str:
    from botocore.exceptions import BotoCoreError, ClientError

    from alertwhisperer.remediation.executors.aws import AwsError

    if isinstance(exc, AwsError):
        return str(exc)
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"AWS refused the patch state request: {error.get('Code', 'error')}: {error.get('Message', '')}"
    if isinstance(exc, BotoCoreError):
        return f"AWS could not be reached: {exc}"
    return f"AWS patch state request failed: {exc}"


async def scan_ssm(targets: list[Target]) -> dict[str, Outcome]:
    """Patch Manager's counts for SSM targets sharing one credential and region (one client, batched calls)."""
    outcomes: dict[str, Outcome] = {}
    by_instance: dict[str, list[Target]] = {}
    for target in targets:
        if not target.instance_id:
            outcomes[target.asset_id] = "the asset has no EC2 instance id, so AWS Patch Manager cannot be asked"
        else:
            by_instance.setdefault(target.instance_id, []).append(target)
    if not by_instance:
        return outcomes
    try:
        client = await asyncio.to_thread(client_factory, targets[0])  # may call STS (assume role)
        states = await asyncio.to_thread(fetch_patch_states, client, sorted(by_instance))
    except Exception as exc:  # boto3 raises many kinds; every one is an error on the rows, not a crash
        message = _aws_error(exc)
        log.warning("patches.ssm_failed", error=message[:300], instances=len(by_instance))
        return outcomes | {t.asset_id: message for group in by_instance.values() for t in group}
    counts = parse_ssm_patch_states(states)
    for instance_id, group in by_instance.items():
        found = counts.get(instance_id)
        for target in group:
            outcomes[target.asset_id] = found if found is not None else (
                f"AWS Patch Manager has no patch state for {instance_id} yet: run AWS-RunPatchBaseline (Scan) on it, "
                "or check that it is a managed instance in this region")
    return outcomes


# -- scan script over an executor ----------------------------------------------------------------------

def describe_failure(result: RunResult) -> str:
    """Why a scan run did not produce output to parse, for a person."""
    if result.status == "undeliverable":
        return f"could not reach the host: {result.error or 'delivery failed'}"
    if result.status == "timed_out":
        return f"the scan did not finish within {int(SCAN_TIMEOUT_SECONDS)} s"
    tail = (result.stderr.strip().splitlines() or [result.error or ""])[-1][:300]
    return f"the scan script failed (exit code {result.exit_code}){': ' + tail if tail else ''}"


async def scan_shell(target: Target, settings: Settings) -> Outcome:
    """Run the scan script on the target through its executor (SSH or local) and parse what it printed."""
    if target.os != "linux":
        return "patch scans over a shell cover Linux hosts (apt, dnf); use AWS Patch Manager (SSM) for Windows"
    from alertwhisperer.remediation.executors import executor_for

    try:
        executor = executor_for(target.executor, settings)
    except ExecutorUnavailable as exc:
        return f"the {target.executor} executor is not available: {exc}"
    command = Command(script=SCAN_SCRIPT, shell="sh", timeout_seconds=SCAN_TIMEOUT_SECONDS,  # noqa: S604
                      delivery_timeout_seconds=DELIVERY_TIMEOUT_SECONDS)
    try:
        result = await executor.run(target, command)
    except Exception as exc:  # an executor bug must not leave the asset "scanning" forever
        log.error("patches.executor_crashed", asset_id=target.asset_id, error=str(exc)[:300])
        return f"the scan could not run: {exc}"
    if result.status != "succeeded":
        return describe_failure(result)
    try:
        return parse_scan_output(result.stdout)
    except ScanError as exc:
        note = " (its output was cut at the executor's size limit)" if result.truncated else ""
        return f"{exc}{note}"


# -- storing results -----------------------------------------------------------------------------------

def state_data(state: PatchState) -> dict[str, Any]:
    """The ``patch.updated`` event's data and the API's row core (no package lists)."""
    return {
        "asset_id": state.asset_id, "company_id": state.company_id, "source": state.source,
        "installed": state.installed, "missing": state.missing, "critical": state.critical,
        "security": state.security, "failed": state.failed, "scanned": bool(state.details.get("scanned")),
        "compliant": is_compliant(state), "scanned_at": state.scanned_at.isoformat() if state.scanned_at else None,
        "error": state.error, "severity_reported": bool(state.details.get("severity_reported", True)),
    }


def is_compliant(state: PatchState) -> bool:
    """Compliant: a successful scan exists and it found no missing and no failed patch."""
    return bool(state.details.get("scanned")) and state.missing == 0 and state.failed == 0


async def store(session: AsyncSession, *, asset_id: str, company_id: str, source: str, outcome: Outcome,
                now: datetime, asset_name: str = "") -> PatchState:
    """Upsert the asset's patch state from one scan outcome and queue ``patch.updated`` (``name``: the asset)."""
    state = await session.get(PatchState, asset_id)
    if state is None:
        state = PatchState(asset_id=asset_id, company_id=company_id, source=source, installed=0, missing=0,
                           critical=0, security=0, failed=0, scanned_at=now, error="", details={"scanned": False})
        session.add(state)
    if isinstance(outcome, PatchCounts):
        state.source = outcome.source
        state.installed, state.missing, state.failed = outcome.installed, outcome.missing, outcome.failed
        state.critical, state.security = outcome.critical, outcome.security
        state.scanned_at = outcome.scanned_at or now
        state.details = {**outcome.details, "scanned": True, "checked_at": now.isoformat()}
        state.error = ""
    else:  # keep the counts of the last good scan; say what went wrong now
        state.error = outcome[:2000]
        state.details = {**state.details, "checked_at": now.isoformat(), "error_at": now.isoformat()}
    state.updated_at = now
    emit(session, Event(UPDATED, company_id, {**state_data(state), "name": asset_name}))
    return state


# -- the job -------------------------------------------------------------------------------------------

def _asset_ids(job: Job) -> list[str]:
    ids = job.payload.get("asset_ids") or ([job.payload["asset_id"]] if job.payload.get("asset_id") else [])
    return [str(i) for i in ids]


async def _targets(ctx: JobContext, settings: Settings, company_id: str,
                   asset_ids: list[str]) -> tuple[dict[str, Target], dict[str, tuple[str, str]], dict[str, str]]:
    """Resolve each asset within the job's company. Failures: asset id -> (source guess, message); names."""
    from alertwhisperer.remediation import access
    from alertwhisperer.remediation.models import AssetAccess
    from alertwhisperer.tenants.models import Asset

    assert ctx.sessionmaker is not None
    targets: dict[str, Target] = {}
    failures: dict[str, tuple[str, str]] = {}
    names: dict[str, str] = {}
    async with ctx.sessionmaker() as session:
        for asset_id in asset_ids:
            asset = await session.get(Asset, asset_id)
            if asset is None or asset.company_id != company_id:
                continue  # deleted since the request: nothing to record
            names[asset_id] = asset.name
            row = await session.get(AssetAccess, asset_id)
            try:
                targets[asset_id] = await access.resolve_target(session, settings=settings, company_id=company_id,
                                                                asset_id=asset_id)
            except DomainError as exc:
                failures[asset_id] = (row.executor if row else "ssh", exc.message)
    return targets, failures, names


async def scan_job(ctx: JobContext, job: Job) -> None:
    """Scan the job's assets (payload ``asset_ids``, or ``asset_id``) and store one outcome per asset."""
    if ctx.sessionmaker is None or job.company_id is None:
        raise PermanentError("a patch scan needs its own sessions (background job) and a company")
    settings = ctx.settings or get_settings()
    company_id = job.company_id
    targets, failures, names = await _targets(ctx, settings, company_id, _asset_ids(job))
    outcomes: dict[str, tuple[str, Outcome]] = {a: failure for a, failure in failures.items()}
    groups: dict[tuple[str, str, str, str], list[Target]] = {}
    for target in targets.values():
        if target.executor == SSM:
            key = (target.region, target.secret.access_key_id, target.secret.role_arn, target.secret.external_id)
            groups.setdefault(key, []).append(target)
        else:
            outcomes[target.asset_id] = (target.executor, await scan_shell(target, settings))
    for group in groups.values():
        outcomes.update({a: (SSM, o) for a, o in (await scan_ssm(group)).items()})
    if not outcomes:
        return
    async with ctx.sessionmaker() as session:
        for asset_id, (source, outcome) in outcomes.items():
            await store(session, asset_id=asset_id, company_id=company_id, source=source, outcome=outcome,
                        now=ctx.clock.now(), asset_name=names.get(asset_id, ""))
        await session.commit()
        await ctx.publish(session)
    log.info("patches.scanned", company_id=company_id, assets=len(outcomes),
             failed=sum(1 for _, o in outcomes.values() if isinstance(o, str)))
