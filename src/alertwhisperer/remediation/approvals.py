"""The approvals inbox: who may answer a request, who hears about it, and what an approver sees.

Read side and notifications only; the state changes (request, approve, reject) are in ``remediation.gates``.
A pending request past its deadline is *shown* as expired (and refused when someone tries to approve it); it
is only written as expired when someone acts on it or the runner checks it (no sweeper).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from alertwhisperer.auth.models import Membership, User
from alertwhisperer.auth.principal import Principal, Role
from alertwhisperer.clock import Clock
from alertwhisperer.correlation.models import Incident
from alertwhisperer.errors import NotFound
from alertwhisperer.notify.service import notify
from alertwhisperer.remediation import states
from alertwhisperer.remediation.models import Approval, Execution
from alertwhisperer.tenants.models import Company

COMPANY_ADMIN = Role.COMPANY_ADMIN.value
MSP_ADMIN = Role.MSP_ADMIN.value
APPROVER_LABELS = {COMPANY_ADMIN: "a company admin of this company or an MSP admin", MSP_ADMIN: "an MSP admin"}
RISK_SEVERITY = {"low": "low", "medium": "medium", "high": "high"}
MAX_LIMIT = 200


def is_expired(execution: Execution, now: datetime) -> bool:
    return execution.expires_at is not None and now > execution.expires_at


def why_not_approver(actor: Principal, execution: Execution) -> str | None:
    """None when ``actor`` may approve or reject this request, else the reason shown to them."""
    if not actor.sees_company(execution.company_id):
        return "this request belongs to a company outside your scope"
    if execution.requested_by_id is not None and execution.requested_by_id == actor.user_id:
        return "you requested this run; another approver has to approve it (nobody approves their own request)"
    if execution.approver_role == MSP_ADMIN and not actor.is_msp_admin:
        return f"{execution.risk}-risk runbooks need an MSP admin's approval"
    if actor.role not in (Role.MSP_ADMIN, Role.COMPANY_ADMIN):
        return f"your role ({actor.role.value}) may not approve runs; this needs {APPROVER_LABELS[COMPANY_ADMIN]}"
    return None


async def approver_ids(session: AsyncSession, execution: Execution) -> list[str]:
    """Active users who may approve this request, without its requester (MSP admins first)."""
    roles = [MSP_ADMIN] if execution.approver_role == MSP_ADMIN else [MSP_ADMIN, COMPANY_ADMIN]
    members = select(Membership.user_id).where(Membership.company_id == execution.company_id)
    stmt = select(User).where(User.is_active.is_(True), User.role.in_(roles),
                              or_(User.role == MSP_ADMIN, User.id.in_(members)))
    users = sorted((await session.execute(stmt)).scalars(), key=lambda u: (u.role != MSP_ADMIN, u.email))
    return [u.id for u in users if u.id != execution.requested_by_id]


def _what(execution: Execution) -> str:
    return f"“{execution.runbook_title}” v{execution.runbook_version} on {execution.asset_name}"


async def notify_approvers(session: AsyncSession, *, clock: Clock, execution: Execution,
                           incident: Incident | None) -> None:
    """Tell every rightful approver that a request waits for them (kind ``approval``)."""
    deadline = f"{execution.expires_at:%H:%M} UTC" if execution.expires_at else "—"
    about = f" for incident “{incident.title}”" if incident is not None else ""
    await notify(session, clock=clock, kind="approval", user_ids=await approver_ids(session, execution),
                 title=f"Approval needed: {_what(execution)}",
                 body=(f"{execution.risk.capitalize()} risk, requested by {execution.requested_by_name}{about}. "
                       f"The request expires at {deadline}."),
                 severity=RISK_SEVERITY.get(execution.risk, "medium"), company_id=execution.company_id,
                 url=f"/approvals#request-{execution.id}",
                 context={"execution_id": execution.id, "incident_id": execution.incident_id,
                          "runbook": execution.runbook_slug, "risk": execution.risk})


async def notify_requester(session: AsyncSession, *, clock: Clock, execution: Execution, approved: bool,
                           by: str, note: str) -> None:
    """Tell the person who asked for the run what the approver answered (nobody to tell for auto requests)."""
    if execution.requested_by_id is None:
        return
    answer = "approved" if approved else "rejected"
    await notify(session, clock=clock, kind="approval", user_ids=[execution.requested_by_id],
                 title=f"Run {answer}: {_what(execution)}",
                 body=f"{by} {answer} your request" + (f": {note}" if note else "."),
                 severity="info" if approved else "medium", company_id=execution.company_id,
                 url=f"/executions/{execution.id}", context={"execution_id": execution.id, "answer": answer})


@dataclass
class RequestView:
    """One approval request as a given viewer sees it."""

    execution: Execution
    approval: Approval | None
    company_name: str
    incident_title: str
    mine: bool  # the viewer asked for this run
    expired: bool  # still pending but past its deadline
    can_decide: bool
    why_not: str  # why the viewer may not approve or reject ("" when they may)
    remaining_seconds: int | None  # until the deadline, while pending

    @property
    def status(self) -> str:
        """The status to show: a pending request past its deadline is expired whether or not it was written."""
        return states.EXPIRED if self.expired else self.execution.status

    @property
    def pending(self) -> bool:
        return self.execution.status == states.PENDING_APPROVAL and not self.expired


def _view(actor: Principal, execution: Execution, approval: Approval | None, now: datetime,
          companies: dict[str, str], incidents: dict[str, str]) -> RequestView:
    pending = execution.status == states.PENDING_APPROVAL
    expired = pending and is_expired(execution, now)
    reason = why_not_approver(actor, execution) or ""
    if not pending or expired:
        reason = "this request expired" if expired else f"this request is already {execution.status.replace('_', ' ')}"
    remaining = None
    if pending and not expired and execution.expires_at is not None:
        remaining = int((execution.expires_at - now).total_seconds())
    return RequestView(
        execution=execution, approval=approval, company_name=companies.get(execution.company_id, ""),
        incident_title=incidents.get(execution.incident_id or "", ""),
        mine=execution.requested_by_id is not None and execution.requested_by_id == actor.user_id,
        expired=expired, can_decide=not reason, why_not=reason, remaining_seconds=remaining)


async def _views(session: AsyncSession, actor: Principal, rows: list[Execution], now: datetime) -> list[RequestView]:
    ids = [e.id for e in rows]
    approvals = {a.execution_id: a for a in (await session.execute(
        select(Approval).where(Approval.execution_id.in_(ids)))).scalars()} if ids else {}
    company_ids = {e.company_id for e in rows}
    companies = {c.id: c.name for c in (await session.execute(
        select(Company).where(Company.id.in_(company_ids)))).scalars()} if company_ids else {}
    incident_ids = {e.incident_id for e in rows if e.incident_id}
    incidents = {i.id: i.title for i in (await session.execute(
        select(Incident).where(Incident.id.in_(incident_ids)))).scalars()} if incident_ids else {}
    return [_view(actor, e, approvals.get(e.id), now, companies, incidents) for e in rows]


async def list_requests(session: AsyncSession, *, actor: Principal, now: datetime,
                        status: Literal["pending", "decided", "all"] = "pending", company_id: str | None = None,
                        limit: int = 50) -> list[RequestView]:
    """The viewer's inbox. ``pending``: waiting requests they may answer plus their own (``mine``), the soonest
    deadline first. ``decided``: answered, expired or withdrawn requests in their scope, newest first.
    ``all``: both (pending first)."""
    limit = max(1, min(limit, MAX_LIMIT))
    stmt = select(Execution).where(Execution.approval_required.is_(True))
    if company_id is not None:
        actor.require_company(company_id)
        stmt = stmt.where(Execution.company_id == company_id)
    elif not actor.is_msp_admin:
        stmt = stmt.where(Execution.company_id.in_(sorted(actor.company_ids)))
    waiting = (Execution.status == states.PENDING_APPROVAL) & (Execution.expires_at >= now)
    out: list[RequestView] = []
    if status in ("pending", "all"):
        rows = list((await session.execute(stmt.where(waiting).order_by(
            Execution.expires_at, Execution.id).limit(MAX_LIMIT))).scalars())
        out += [v for v in await _views(session, actor, rows, now) if v.can_decide or v.mine][:limit]
    if status in ("decided", "all"):
        rows = list((await session.execute(stmt.where(~waiting).order_by(
            Execution.updated_at.desc(), Execution.id).limit(limit))).scalars())
        out += await _views(session, actor, rows, now)
    return out


async def get_request(session: AsyncSession, *, actor: Principal, execution_id: str, now: datetime) -> RequestView:
    """One request in the viewer's scope (``NotFound`` otherwise, or when the run needed no approval)."""
    execution = await session.get(Execution, execution_id)
    if execution is None or not actor.sees_company(execution.company_id):
        raise NotFound("approval request not found")
    if not execution.approval_required:
        raise NotFound("this run needed no approval, so there is no approval request for it")
    return (await _views(session, actor, [execution], now))[0]


async def pending_count(session: AsyncSession, *, actor: Principal, now: datetime) -> int:
    """How many waiting requests the viewer may answer (for a badge)."""
    return sum(1 for v in await list_requests(session, actor=actor, now=now, status="pending", limit=MAX_LIMIT)
               if v.can_decide)
