"""A company's remediation policy over HTTP (thin): read it, replace it.

``PUT`` bodies are validated by the service so a 422 names the field (``field`` and ``details.problems``).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Request

from alertwhisperer.deps import ClockDep, CurrentUser, SessionDep, commit
from alertwhisperer.remediation import policy_service as service
from alertwhisperer.remediation.policy import RemediationPolicy

router = APIRouter(prefix="/api", tags=["remediation"])

POLICY_BODY = Body(
    ...,
    description="The full remediation policy (GET's answer); left-out fields get their defaults.",
    examples=[{"enabled": True, "auto_run": False, "max_runs_per_hour": 3}],
)


@router.get("/companies/{company_id}/remediation-policy", response_model=RemediationPolicy)
async def get_policy(company_id: str, user: CurrentUser, db: SessionDep) -> RemediationPolicy:
    """Whether the decision engine looks at the company's incidents, whether low-risk auto-approved runbooks may
    run without an approval, and the loop guard (runs of one runbook on one asset per hour)."""
    _, policy = await service.get_policy(db, actor=user, company_id=company_id)
    return policy


@router.put("/companies/{company_id}/remediation-policy", response_model=RemediationPolicy)
async def put_policy(
    company_id: str, request: Request, user: CurrentUser, db: SessionDep, clock: ClockDep, body: Any = POLICY_BODY
) -> RemediationPolicy:
    """Replace the policy (company admins of the company and MSP admins). Applies to decisions from now on."""
    policy = await service.set_policy(db, actor=user, clock=clock, company_id=company_id, data=body)
    await commit(request, db)
    return policy
