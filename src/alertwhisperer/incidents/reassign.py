"""Manual assignment: assign, reassign or unassign an incident, re-run automatic assignment on demand, and the
people an incident of a company may be given to.

The assignee must be an active user who covers the incident's company (a membership, or an MSP admin) —
``Invalid`` otherwise. Someone on leave or already at their maximum of concurrent incidents may still be
assigned by hand (a person decided it); the timeline entry says so. The new assignee is notified
(``notify.service.notify``, kind "assignment") unless they assigned themselves.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from alertwhisperer.auth.models import Membership, User
from alertwhisperer.auth.principal import Principal, Role
from alertwhisperer.clock import Clock
from alertwhisperer.correlation.models import Incident
from alertwhisperer.errors import Invalid
from alertwhisperer.incidents import changes
from alertwhisperer.incidents.assignment import choose_assignee
from alertwhisperer.incidents.models import ACTIVE_STATUSES
from alertwhisperer.notify import service as notify_service


@dataclass(frozen=True)
class Assignee:
    """Someone an incident of the company can be assigned to, with what to know before choosing them."""

    id: str
    name: str
    email: str
    role: str
    category: str | None
    skills: list[str]
    on_leave: bool
    load: int  # active incidents assigned to them now
    max_load: int

    @property
    def over_load(self) -> bool:
        return self.load >= self.max_load

    @property
    def warnings(self) -> list[str]:
        out = ["on leave"] if self.on_leave else []
        if self.over_load:
            out.append(f"already has {self.load} open incident{'' if self.load == 1 else 's'} "
                       f"(maximum {self.max_load})")
        return out


async def _loads(session: AsyncSession, user_ids: list[str]) -> dict[str, int]:
    if not user_ids:
        return {}
    rows = await session.execute(select(Incident.assignee_id, func.count()).where(
        Incident.assignee_id.in_(user_ids), Incident.status.in_(ACTIVE_STATUSES)).group_by(Incident.assignee_id))
    return {str(uid): int(n) for uid, n in rows.all()}


def _assignee(user: User, load: int) -> Assignee:
    return Assignee(user.id, user.name, user.email, user.role, user.category, list(user.skills or []),
                    user.on_leave, load, user.max_concurrent_incidents)


async def eligible_assignees(session: AsyncSession, *, actor: Principal, company_id: str) -> list[Assignee]:
    """Active users covering ``company_id`` (its members and the MSP admins), available ones first, then by
    load and name. The caller must see the company (else ``NotFound``)."""
    actor.require_company(company_id)
    members = select(Membership.user_id).where(Membership.company_id == company_id)
    users = list((await session.execute(select(User).where(
        User.is_active.is_(True), or_(User.role == Role.MSP_ADMIN.value, User.id.in_(members))))).scalars())
    loads = await _loads(session, [u.id for u in users])
    out = [_assignee(u, loads.get(u.id, 0)) for u in users]
    return sorted(out, key=lambda a: (a.on_leave or a.over_load, a.load, a.name.casefold(), a.email))


async def _check_assignee(session: AsyncSession, incident: Incident, user_id: str) -> Assignee:
    user = await session.get(User, user_id)
    if user is None or not user.is_active:
        raise Invalid("no active user with this id", field="user_id")
    if user.role != Role.MSP_ADMIN.value:
        member = await session.get(Membership, (user.id, incident.company_id))
        if member is None:
            raise Invalid(f"{user.name} does not cover this incident's company", field="user_id")
    loads = await _loads(session, [user.id])
    return _assignee(user, loads.get(user.id, 0))


async def _notify_assignee(session: AsyncSession, *, clock: Clock, incident: Incident, user_id: str,
                           by: str) -> None:
    await notify_service.notify(session, clock=clock, kind="assignment", user_ids=[user_id], incident=incident,
                 company_id=incident.company_id, severity=incident.severity, url=f"/incidents/{incident.id}",
                 title=f"Assigned to you: {incident.title}"[:300],
                 body=f"{by} assigned you a {incident.severity} incident: {incident.title}",
                 context={"assigned_by": by})


async def assign_user(session: AsyncSession, *, actor: Principal, clock: Clock, incident: Incident,
                      user_id: str | None, reason: str = "", notify_user: bool = True,
                      action: str = "assigned") -> bool:
    """Set the (locked, in-scope) incident's assignee; False when it already was that person."""
    if user_id == incident.assignee_id:
        return False
    target = await _check_assignee(session, incident, user_id) if user_id is not None else None
    before = incident.assignee_id
    previous = await session.get(User, before) if before else None
    incident.assignee_id = user_id
    incident.assigned_at = clock.now() if user_id is not None else None
    warnings = target.warnings if target is not None else []
    if target is None:
        body = f"Unassigned (was {previous.name})" if previous else "Unassigned"
    else:
        body = f"Assigned to {target.name}" + (f" (was {previous.name})" if previous else "")
    if reason:
        body += f": {reason}"
    if warnings:
        body += ". Note: " + "; ".join(warnings)
    data = {"from": before, "to": user_id, "from_name": previous.name if previous else None,
            "to_name": target.name if target else None, "reason": reason, "warnings": warnings}
    await changes.record(session, actor=actor, clock=clock, incident=incident, action=action, kind="assignment",
                         body=body, data=data)
    if target is not None and notify_user and user_id != actor.user_id:
        user = await session.get(User, actor.user_id)
        await _notify_assignee(session, clock=clock, incident=incident, user_id=target.id,
                               by=user.name if user is not None else actor.email)
    return True


async def assign(session: AsyncSession, *, actor: Principal, clock: Clock, incident_id: str,
                 user_id: str | None) -> Incident:
    """Assign (or reassign) to ``user_id``, or unassign (None). The same assignee again: no change."""
    incident = await changes.load(session, actor=actor, incident_id=incident_id)
    await assign_user(session, actor=actor, clock=clock, incident=incident, user_id=user_id or None)
    return incident


@dataclass(frozen=True)
class AutoAssignResult:
    incident: Incident
    assigned: bool
    user_id: str | None
    reason: str


async def auto_assign(session: AsyncSession, *, actor: Principal, clock: Clock, incident_id: str
                      ) -> AutoAssignResult:
    """Run automatic assignment (``incidents.assignment.choose_assignee``: on-call, skill, load) again now.
    Nobody fits: nothing changes and ``reason`` says why."""
    incident = await changes.load(session, actor=actor, incident_id=incident_id)
    choice = await choose_assignee(session, incident=incident, now=clock.now())
    user_id: str | None = choice.user_id
    reason = str(choice.reason)
    if user_id is None:
        return AutoAssignResult(incident, False, None, reason or "nobody is available")
    changed = await assign_user(session, actor=actor, clock=clock, incident=incident, user_id=user_id,
                                reason=f"auto-assigned ({reason})" if reason else "auto-assigned",
                                action="auto_assigned")
    return AutoAssignResult(incident, changed, user_id, reason)
