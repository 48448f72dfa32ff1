"""A company's remediation policy: read, change (audited with before/after).

Stored in ``company.settings["remediation"]`` with only the values that differ from the defaults (validated by
``tenants.schemas.CompanySettings``). Everyone who covers the company may read it; its company admins and MSP
admins may change it; users of other companies get 404. A change applies to decisions made from now on;
approvals already asked for keep their rules (``gates.check_before_run`` re-reads ``auto_run`` at run time).
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from alertwhisperer.audit import service as audit
from alertwhisperer.auth.principal import Principal
from alertwhisperer.clock import Clock
from alertwhisperer.errors import Invalid, NotFound
from alertwhisperer.incidents.sla_service import invalid, problems_of
from alertwhisperer.realtime.hub import Event, emit
from alertwhisperer.remediation.policy import RemediationPolicy, policy_of
from alertwhisperer.tenants.models import Company
from alertwhisperer.tenants.schemas import CompanySettings

SECTION = "remediation"


def validate(data: Any) -> RemediationPolicy:
    """The policy in ``data`` (left-out fields get their defaults) or ``Invalid`` naming each bad field."""
    if not isinstance(data, dict):
        raise Invalid("the remediation policy must be a JSON object")
    try:
        return RemediationPolicy.model_validate(data)
    except ValidationError as exc:
        raise invalid(problems_of(exc)) from exc


async def _company(session: AsyncSession, actor: Principal, company_id: str, *, for_update: bool = False) -> Company:
    actor.require_company(company_id)
    stmt = select(Company).where(Company.id == company_id)
    if for_update:  # read-modify-write of the settings blob: two concurrent edits must not lose one
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    company = (await session.execute(stmt)).scalar_one_or_none()
    if company is None:
        raise NotFound("company not found")
    return company


async def get_policy(session: AsyncSession, *, actor: Principal, company_id: str) -> tuple[Company, RemediationPolicy]:
    company = await _company(session, actor, company_id)
    return company, policy_of(company)


def _readable(company: Company) -> bool:
    try:
        RemediationPolicy.model_validate((company.settings or {}).get(SECTION) or {})
    except ValidationError:
        return False
    return True


def _stored(company: Company, policy: RemediationPolicy) -> dict[str, Any]:
    """The settings blob with the new policy in it, dumped sparse the way ``CompanySettings`` stores it."""
    sparse = CompanySettings.model_validate({SECTION: policy.model_dump(mode="json")}).model_dump(mode="json")[SECTION]
    return {**(company.settings or {}), SECTION: sparse}  # a new dict: the column sees the change


async def set_policy(
    session: AsyncSession, *, actor: Principal, clock: Clock, company_id: str, data: Any
) -> RemediationPolicy:
    """Replace the policy (fields left out get their defaults). Audited as ``remediation.policy_updated``."""
    actor.require_company_admin(company_id, "change the remediation policy")  # 404 / 403 before validation
    company = await _company(session, actor, company_id, for_update=True)
    after = validate(data)
    before = policy_of(company)
    old, new = before.model_dump(mode="json"), after.model_dump(mode="json")
    if old == new and _readable(company):
        return after
    company.settings = _stored(company, after)  # a new dict: the column sees the change
    company.updated_at = clock.now()
    changes = {k: {"from": old[k], "to": new[k]} for k in new if old.get(k) != new[k]}
    await audit.record(
        session,
        clock=clock,
        actor=actor,
        action="remediation.policy_updated",
        company_id=company.id,
        target_type="company",
        target_id=company.id,
        details={"before": old, "after": new, "changes": changes},
    )
    emit(session, Event("company.updated", company.id, {"id": company.id, "name": company.name}))
    await session.flush()
    return after
