"""A company's SLA settings: read, change (audited with before/after).

Stored in ``company.settings["sla"]`` with only the values that differ from the defaults. Technicians of the
company may read; its company admins and MSP admins may change; users of other companies get 404. A change applies
to incidents opened (or reopened) after it: running timers keep the deadlines they were started with.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from alertwhisperer.audit import service as audit
from alertwhisperer.auth.models import Membership, User
from alertwhisperer.auth.principal import Principal, Role
from alertwhisperer.clock import Clock
from alertwhisperer.errors import Invalid, NotFound
from alertwhisperer.incidents.sla_policy import SlaPolicy, dump, sparse
from alertwhisperer.realtime.hub import Event, emit
from alertwhisperer.tenants.models import Company

SECTION = "sla"


def problems_of(exc: ValidationError) -> list[dict[str, Any]]:
    """Each problem with the dotted field it is about (a model rule names its field in its message)."""
    out = []
    for err in exc.errors(include_url=False):
        loc = [str(p) for p in err.get("loc", ())]
        message = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
        head, sep, rest = message.partition(": ")
        if sep and head.replace("_", "").isalnum() and head.islower() and " " not in head:
            loc, message = [*loc, head], rest
        out.append({"field": ".".join(loc) or None, "message": message})
    return out


def invalid(problems: list[dict[str, Any]]) -> Invalid:
    text = "; ".join(f"{p['field']}: {p['message']}" if p["field"] else p["message"] for p in problems)
    return Invalid(text, field=problems[0]["field"], details={"problems": problems})


def validate(data: Any) -> SlaPolicy:
    if not isinstance(data, dict):
        raise Invalid("the SLA settings must be a JSON object")
    try:
        return SlaPolicy.model_validate(data)
    except ValidationError as exc:
        raise invalid(problems_of(exc)) from exc


def policy_from(company: Company) -> SlaPolicy:
    """The stored policy; an unreadable one falls back to the defaults (so timers always have targets)."""
    raw = (company.settings or {}).get(SECTION) or {}
    try:
        return SlaPolicy.model_validate(raw)
    except ValidationError:
        return SlaPolicy()


async def policy_for(session: AsyncSession, company_id: str) -> SlaPolicy:
    """The policy of a company, for the platform's own use (timers, countdowns); no scope check."""
    company = await session.get(Company, company_id)
    return policy_from(company) if company is not None else SlaPolicy()


async def _company(session: AsyncSession, actor: Principal, company_id: str, *, for_update: bool = False
                   ) -> Company:
    actor.require_company(company_id)
    stmt = select(Company).where(Company.id == company_id)
    if for_update:  # read-modify-write of the settings blob: two concurrent edits must not lose one
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    company = (await session.execute(stmt)).scalar_one_or_none()
    if company is None:
        raise NotFound("company not found")
    return company


async def get_policy(session: AsyncSession, *, actor: Principal, company_id: str) -> tuple[Company, SlaPolicy]:
    company = await _company(session, actor, company_id)
    return company, policy_from(company)


async def eligible_secondaries(session: AsyncSession, *, company_id: str) -> list[User]:
    """Active users who cover the company (members of it, or MSP admins): who may be the level-2 secondary."""
    members = select(Membership.user_id).where(Membership.company_id == company_id)
    rows = await session.execute(select(User).where(
        User.is_active.is_(True), (User.id.in_(members)) | (User.role == Role.MSP_ADMIN.value)).order_by(User.name))
    return list(rows.scalars())


async def _check_secondary(session: AsyncSession, company_id: str, policy: SlaPolicy) -> None:
    user_id = policy.escalation.secondary_user_id
    if user_id is None:
        return
    if user_id not in {u.id for u in await eligible_secondaries(session, company_id=company_id)}:
        raise invalid([{"field": "escalation.secondary_user_id",
                        "message": "the secondary must be an active user who covers this company"}])


async def set_policy(session: AsyncSession, *, actor: Principal, clock: Clock, company_id: str,
                     data: Any) -> SlaPolicy:
    """Replace the policy (fields left out get their defaults). Audited as ``sla.policy_changed``."""
    actor.require_company_admin(company_id, "change the SLA settings")  # 404 / 403 before validation
    company = await _company(session, actor, company_id, for_update=True)
    after = validate(data)
    if isinstance(data, dict) and isinstance(data.get("escalation"), dict):
        secondary = data["escalation"].get("secondary_user_id")
        if secondary == "":
            after = after.model_copy(update={"escalation": after.escalation.model_copy(
                update={"secondary_user_id": None})})
    await _check_secondary(session, company.id, after)
    before = policy_from(company)
    old, new = dump(before), dump(after)
    if old == new:
        return after
    changes = {k: {"from": old[k], "to": new[k]} for k in new if old.get(k) != new[k]}
    company.settings = {**(company.settings or {}), SECTION: sparse(after)}  # a new dict: the column sees it
    company.updated_at = clock.now()
    await audit.record(session, clock=clock, actor=actor, action="sla.policy_changed", company_id=company.id,
                       target_type="company", target_id=company.id,
                       details={"before": old, "after": new, "changes": changes})
    emit(session, Event("company.updated", company.id, {"id": company.id, "name": company.name}))
    await session.flush()
    return after
