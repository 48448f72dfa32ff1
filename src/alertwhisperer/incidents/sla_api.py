"""SLA routes (thin): a company's SLA settings, and the SLA/MTTR KPIs.

``PUT`` bodies are validated by the service so a 422 names the field (``field`` and ``details.problems``).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Query, Request

from alertwhisperer.deps import ClockDep, CurrentUser, SessionDep, commit
from alertwhisperer.incidents import kpis
from alertwhisperer.incidents import sla_service as service
from alertwhisperer.incidents.sla_policy import SlaPolicy

router = APIRouter(prefix="/api", tags=["sla"])

POLICY_BODY = Body(..., description="The full SLA policy (GET's answer); left-out fields get their defaults.",
                   examples=[{"enabled": True, "warning_minutes": 30,
                              "critical": {"response_minutes": 15, "resolution_minutes": 240},
                              "escalation": {"level2_wait_minutes": 10, "max_level": 3}}])


@router.get("/companies/{company_id}/sla", response_model=SlaPolicy)
async def get_sla(company_id: str, user: CurrentUser, db: SessionDep) -> SlaPolicy:
    """The company's SLA targets per severity, warning lead time and escalation chain, every default shown."""
    _, policy = await service.get_policy(db, actor=user, company_id=company_id)
    return policy


@router.put("/companies/{company_id}/sla", response_model=SlaPolicy)
async def put_sla(company_id: str, request: Request, user: CurrentUser, db: SessionDep, clock: ClockDep,
                  body: Any = POLICY_BODY) -> SlaPolicy:
    """Replace the SLA policy (company admins of the company and MSP admins). Applies to incidents opened or
    reopened from now on."""
    policy = await service.set_policy(db, actor=user, clock=clock, company_id=company_id, data=body)
    await commit(request, db)
    return policy


@router.get("/kpis/sla")
async def sla_kpis(user: CurrentUser, db: SessionDep, clock: ClockDep,
                   company_id: str = Query("", description="one company; empty: all companies you see"),
                   days: int = Query(kpis.DEFAULT_DAYS, ge=1, le=365, description="the window, in days")
                   ) -> dict[str, Any]:
    """SLA compliance % (response, resolution, both) and MTTR (overall, manual vs automatic), overall, by severity
    and by company. A company outside your scope answers 404."""
    if company_id:
        user.require_company(company_id)
    result = await kpis.sla_kpis(db, actor=user, now=clock.now(), company_id=company_id, days=days)
    return result.as_dict()
