"""Approval routes: the caller's inbox, one request, approve and reject (thin: ``approvals`` reads,
``gates`` changes).

Approving a request past its deadline writes it expired and answers 409; approving or rejecting your own
request, or a request above your role, is 403; a request outside your companies is 404.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from alertwhisperer.deps import ClockDep, CurrentUser, SessionDep, commit
from alertwhisperer.remediation import approvals, gates
from alertwhisperer.remediation.approvals import RequestView

router = APIRouter(prefix="/api", tags=["remediation"])


class AnswerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str = Field("", max_length=2000, description="why (required to reject; the requester sees it)")


class AnswerOut(BaseModel):
    decision: str  # approved | rejected
    by: str
    role: str
    note: str
    at: datetime


class ApprovalRequestOut(BaseModel):
    id: str = Field(description="the execution id")
    company_id: str
    company_name: str
    incident_id: str | None
    incident_title: str
    runbook_id: str
    runbook_slug: str
    runbook_title: str
    runbook_version: int
    runbook_version_id: str
    risk: str
    params: dict[str, Any]
    asset_id: str | None
    asset_name: str
    target: dict[str, Any]
    trigger: str
    requested_by: str
    requested_by_id: str | None
    approver_role: str
    status: str = Field(description="a pending request past its deadline shows as expired")
    status_reason: str
    created_at: datetime
    expires_at: datetime | None
    expired: bool
    remaining_seconds: int | None
    mine: bool
    can_decide: bool
    why_not: str = Field(description="why you may not approve or reject it ('' when you may)")
    binding_hash: str
    answer: AnswerOut | None


def request_out(view: RequestView) -> ApprovalRequestOut:
    e, a = view.execution, view.approval
    return ApprovalRequestOut(
        id=e.id, company_id=e.company_id, company_name=view.company_name, incident_id=e.incident_id,
        incident_title=view.incident_title, runbook_id=e.runbook_id, runbook_slug=e.runbook_slug,
        runbook_title=e.runbook_title, runbook_version=e.runbook_version, runbook_version_id=e.runbook_version_id,
        risk=e.risk, params=e.params, asset_id=e.asset_id, asset_name=e.asset_name, target=e.target,
        trigger=e.trigger, requested_by=e.requested_by_name, requested_by_id=e.requested_by_id,
        approver_role=e.approver_role, status=view.status, status_reason=e.status_reason, created_at=e.created_at,
        expires_at=e.expires_at, expired=view.expired, remaining_seconds=view.remaining_seconds, mine=view.mine,
        can_decide=view.can_decide, why_not=view.why_not, binding_hash=e.binding_hash,
        answer=AnswerOut(decision=a.decision, by=a.user_name, role=a.role, note=a.note, at=a.at) if a else None)


@router.get("/approvals", response_model=list[ApprovalRequestOut])
async def inbox(user: CurrentUser, db: SessionDep, clock: ClockDep,
                status: Literal["pending", "decided", "all"] = "pending", company_id: str | None = None,
                limit: int = Query(50, ge=1, le=200)) -> list[ApprovalRequestOut]:
    """Your inbox: pending requests you may answer plus your own waiting ones (``mine``), soonest deadline
    first; ``decided`` / ``all`` add answered, expired and withdrawn requests of your companies."""
    views = await approvals.list_requests(db, actor=user, now=clock.now(), status=status, company_id=company_id,
                                          limit=limit)
    return [request_out(v) for v in views]


@router.get("/approvals/{execution_id}", response_model=ApprovalRequestOut)
async def one(execution_id: str, user: CurrentUser, db: SessionDep, clock: ClockDep) -> ApprovalRequestOut:
    return request_out(await approvals.get_request(db, actor=user, execution_id=execution_id, now=clock.now()))


async def _answered(request: Request, db: SessionDep, user: CurrentUser, clock: ClockDep,
                    execution_id: str) -> ApprovalRequestOut:
    view = await approvals.get_request(db, actor=user, execution_id=execution_id, now=clock.now())
    out = request_out(view)
    await commit(request, db)
    return out


@router.post("/approvals/{execution_id}/approve", response_model=ApprovalRequestOut)
async def approve(execution_id: str, request: Request, user: CurrentUser, db: SessionDep, clock: ClockDep,
                  body: AnswerIn | None = None) -> ApprovalRequestOut:
    """Approve (company admin of the company or MSP admin for low/medium, MSP admin for high; never your own
    request). The run is queued at once; an overdue request is written expired and answered 409."""
    try:
        await gates.approve(db, actor=user, clock=clock, execution_id=execution_id, note=body.note if body else "")
    except gates.RequestExpired:
        await commit(request, db)
        raise
    return await _answered(request, db, user, clock, execution_id)


@router.post("/approvals/{execution_id}/reject", response_model=ApprovalRequestOut)
async def reject(execution_id: str, body: AnswerIn, request: Request, user: CurrentUser, db: SessionDep,
                 clock: ClockDep) -> ApprovalRequestOut:
    """Reject with a note (required); the execution is cancelled and the requester told why."""
    try:
        await gates.reject(db, actor=user, clock=clock, execution_id=execution_id, note=body.note)
    except gates.RequestExpired:
        await commit(request, db)
        raise
    return await _answered(request, db, user, clock, execution_id)
