"""Executions API (thin: validate, call ``remediation.executions``, commit). Scope is checked in the service.

``GET /api/executions`` lists, ``GET /api/executions/{id}`` details (approval, health, rollback, binding),
``GET /api/executions/{id}/output?after_seq=`` pages the stored output, ``POST /api/executions`` asks for a manual
run (same gates as an automatic one), ``POST /api/executions/{id}/cancel`` withdraws one that has not started, and
``GET /api/kpis/self-healed`` is the self-healed share and time to resolve.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from alertwhisperer.deps import ClockDep, CurrentUser, SessionDep, SettingsDep, commit
from alertwhisperer.remediation import events, executions
from alertwhisperer.remediation.models import Approval, Execution, ExecutionChunk

router = APIRouter(prefix="/api", tags=["remediation"])


class ManualRunIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    runbook_id: str = Field(..., min_length=1, max_length=64)
    asset_id: str = Field(..., min_length=1, max_length=64)
    params: dict[str, Any] = Field(default_factory=dict, description="the runbook's parameters by name")
    incident_id: str | None = Field(None, max_length=64, description="the incident the run is for (optional)")


class CancelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str = Field("", max_length=1000)


class ApprovalOut(BaseModel):
    decision: str
    user_name: str
    role: str
    note: str
    at: datetime


class ChunkOut(BaseModel):
    seq: int
    stream: str
    text: str
    at: datetime


class ExecutionOut(BaseModel):
    """An execution's summary: the same fields as its ``execution.updated`` live event."""

    model_config = ConfigDict(extra="allow")

    id: str
    company_id: str
    incident_id: str | None
    runbook_id: str
    runbook_slug: str
    runbook_title: str
    runbook_version: int
    risk: str
    asset_id: str | None
    asset_name: str
    executor: str
    trigger: str
    status: str
    status_reason: str
    approval_required: bool
    approver_role: str
    requested_by: str
    exit_code: int | None
    duration_ms: int | None
    truncated: bool
    health: str
    outcome: str
    expires_at: datetime | None
    created_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None


class ExecutionDetailOut(ExecutionOut):
    decision_id: str | None
    runbook_version_id: str
    params: dict[str, Any]
    target: dict[str, Any]
    binding_hash: str
    requested_by_id: str | None
    dispatched_at: datetime | None
    updated_at: datetime | None
    stdout: str
    stderr: str
    external_id: str
    health_check: dict[str, Any] = Field(description="{status, kind, detail, checked_at}")
    rollback: dict[str, Any] = Field(description="{status, exit_code, stdout, stderr, duration_ms} when one ran")
    approval: ApprovalOut | None


def execution_out(execution: Execution) -> ExecutionOut:
    return ExecutionOut(**events.execution_data(execution))


def detail_out(execution: Execution, approval: Approval | None) -> ExecutionDetailOut:
    target = {k: v for k, v in execution.target.items() if k not in ("secret", "password", "private_key")}
    return ExecutionDetailOut(
        **events.execution_data(execution), decision_id=execution.decision_id,
        runbook_version_id=execution.runbook_version_id, params=execution.params, target=target,
        binding_hash=execution.binding_hash, requested_by_id=execution.requested_by_id,
        dispatched_at=execution.dispatched_at, updated_at=execution.updated_at, stdout=execution.stdout,
        stderr=execution.stderr, external_id=execution.external_id, health_check=execution.health,
        rollback=execution.rollback,
        approval=ApprovalOut(decision=approval.decision, user_name=approval.user_name, role=approval.role,
                             note=approval.note, at=approval.at) if approval is not None else None)


def chunk_out(chunk: ExecutionChunk) -> ChunkOut:
    return ChunkOut(seq=chunk.seq, stream=chunk.stream, text=chunk.text, at=chunk.at)


@router.get("/executions", response_model=list[ExecutionOut])
async def list_executions(
    user: CurrentUser, db: SessionDep,
    company_id: str | None = Query(None, description="one company (default: every company you see)"),
    status: str | None = Query(None, description="a status, a group (waiting, in_flight, final, active), or "
                                                 "several, comma-separated"),
    incident_id: str | None = Query(None),
    runbook: str | None = Query(None, description="a runbook id or slug"),
    trigger: Literal["auto", "manual"] | None = Query(None, description="started by the decision engine or a person"),
    limit: int = Query(50, ge=1, le=executions.MAX_LIMIT),
    before: datetime | None = Query(None, description="created_at of the last row of the previous page"),
) -> list[ExecutionOut]:
    rows = await executions.list_executions(db, actor=user, company_id=company_id, status=status,
                                            incident_id=incident_id, runbook=runbook, trigger=trigger, limit=limit,
                                            before=before)
    return [execution_out(row) for row in rows]


@router.post("/executions", response_model=ExecutionDetailOut, status_code=201)
async def request_run(body: ManualRunIn, request: Request, user: CurrentUser, db: SessionDep, clock: ClockDep,
                      settings: SettingsDep) -> ExecutionDetailOut:
    """A manual run: queued when the rules let it run at once, else pending_approval (approvers are told)."""
    execution = await executions.request_manual_run(db, actor=user, clock=clock, settings=settings,
                                                    incident_id=body.incident_id, runbook_id=body.runbook_id,
                                                    asset_id=body.asset_id, params=body.params)
    out = detail_out(execution, None)
    await commit(request, db)
    return out


@router.get("/executions/{execution_id}", response_model=ExecutionDetailOut)
async def get_execution(execution_id: str, user: CurrentUser, db: SessionDep) -> ExecutionDetailOut:
    execution = await executions.get_execution(db, actor=user, execution_id=execution_id)
    return detail_out(execution, await executions.approval_of(db, execution_id=execution.id))


@router.get("/executions/{execution_id}/output", response_model=list[ChunkOut])
async def get_output(execution_id: str, user: CurrentUser, db: SessionDep,
                     after_seq: int = Query(0, ge=0, description="only pieces after this seq")) -> list[ChunkOut]:
    chunks = await executions.output_of(db, actor=user, execution_id=execution_id, after_seq=after_seq)
    return [chunk_out(c) for c in chunks]


@router.post("/executions/{execution_id}/cancel", response_model=ExecutionDetailOut)
async def cancel(execution_id: str, request: Request, user: CurrentUser, db: SessionDep, clock: ClockDep,
                 body: CancelIn | None = None) -> ExecutionDetailOut:
    execution = await executions.cancel(db, actor=user, clock=clock, execution_id=execution_id,
                                        note=body.note if body else "")
    out = detail_out(execution, await executions.approval_of(db, execution_id=execution.id))
    await commit(request, db)
    return out


@router.get("/kpis/self-healed")
async def self_healed(user: CurrentUser, db: SessionDep, clock: ClockDep,
                      company_id: str | None = Query(None),
                      days: int = Query(30, ge=1, le=365, description="the window, in days")) -> dict[str, Any]:
    """Incidents resolved in the window: self-healed count and %, mean time to resolve automatic vs manual."""
    result = await executions.self_healed_kpi(db, actor=user, company_id=company_id,
                                              since=clock.now() - timedelta(days=days))
    result["days"] = days
    return result
