"""Auto-assignment: who should own an incident.

The incident's category (its ``category`` column, else ``category_for(symptom)``) is the required skill; a
technician has it when it is their primary ``category`` or one of their ``skills`` (General incidents need no
particular skill). Candidates are **technicians** (company admins and MSP admins are not auto-assigned: they are
the later escalation levels) who are active, not on leave, cover the incident's company (a membership), have the
skill and are below their ``max_concurrent_incidents`` (counting their incidents in an active status, this one
excluded). ``exclude`` skips users (a reassignment away from them).

Choice: the first qualifying technician on call for the company and category (``oncall.on_call_now``, best
first); else the least-loaded qualifying technician, ties going round-robin to the one whose latest assignment
(the newest ``assigned_at`` of their incidents) is oldest, never assigned first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from alertwhisperer.auth.models import Membership, User
from alertwhisperer.auth.principal import Role
from alertwhisperer.correlation.models import Incident
from alertwhisperer.incidents.categories import GENERAL, canonical, category_for, has_skill
from alertwhisperer.incidents.models import ACTIVE_STATUSES
from alertwhisperer.incidents.oncall import on_call_now

NEVER = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Choice:
    user_id: str | None
    reason: str  # plain words, shown on the timeline
    category: str = ""


@dataclass(frozen=True)
class Candidate:
    user: User
    load: int
    last_assigned: datetime | None


def required_category(incident: Incident) -> str:
    return canonical(incident.category) or category_for(incident.symptom)


async def _loads(session: AsyncSession, user_ids: list[str], incident_id: str) -> dict[str, int]:
    if not user_ids:
        return {}
    rows = await session.execute(
        select(Incident.assignee_id, func.count()).where(
            Incident.assignee_id.in_(user_ids), Incident.status.in_(ACTIVE_STATUSES), Incident.id != incident_id)
        .group_by(Incident.assignee_id))
    return {str(uid): int(n) for uid, n in rows.all()}


async def _last_assigned(session: AsyncSession, user_ids: list[str]) -> dict[str, datetime]:
    if not user_ids:
        return {}
    rows = await session.execute(
        select(Incident.assignee_id, func.max(Incident.assigned_at)).where(
            Incident.assignee_id.in_(user_ids), Incident.assigned_at.is_not(None))
        .group_by(Incident.assignee_id))
    out: dict[str, datetime] = {}
    for uid, at in rows.all():
        if at is not None:
            # SQLite's max() returns text, not a datetime
            value = at if isinstance(at, datetime) else datetime.fromisoformat(str(at))
            out[str(uid)] = value if value.tzinfo else value.replace(tzinfo=UTC)
    return out


async def skilled_technicians(session: AsyncSession, *, company_id: str, category: str) -> list[User]:
    """Active technicians covering the company with the skill (on leave and busy ones included)."""
    covered = select(Membership.user_id).where(Membership.company_id == company_id)
    users = (await session.execute(select(User).where(
        User.role == Role.TECHNICIAN.value, User.is_active.is_(True), User.id.in_(covered)))).scalars().all()
    return [u for u in users if has_skill(u.category, u.skills, category)]


async def candidates(session: AsyncSession, *, incident: Incident, category: str,
                     exclude: frozenset[str] = frozenset()) -> tuple[list[Candidate], dict[str, int]]:
    """The qualifying technicians, and counts of the skilled ones left out (on_leave, at_limit, excluded)."""
    skilled = await skilled_technicians(session, company_id=incident.company_id, category=category)
    ids = [u.id for u in skilled]
    loads = await _loads(session, ids, incident.id)
    last = await _last_assigned(session, ids)
    left_out = {"on_leave": 0, "at_limit": 0, "excluded": 0}
    out: list[Candidate] = []
    for user in skilled:
        load = loads.get(user.id, 0)
        if user.id in exclude:
            left_out["excluded"] += 1
        elif user.on_leave:
            left_out["on_leave"] += 1
        elif load >= user.max_concurrent_incidents:
            left_out["at_limit"] += 1
        else:
            out.append(Candidate(user, load, last.get(user.id)))
    return out, left_out


def _nobody(category: str, left_out: dict[str, int]) -> str:
    if category == GENERAL:
        text = "no technician covering this company is available"
    else:
        text = f"nobody with skill {category} is available"
    parts = [f"{n} {label}" for key, label in (("at_limit", "at their incident limit"), ("on_leave", "on leave"),
                                               ("excluded", "excluded")) if (n := left_out[key])]
    if parts:
        return f"{text} ({', '.join(parts)})"
    return text if category == GENERAL else f"{text} (no {category} technician covers this company)"


async def choose_assignee(session: AsyncSession, *, incident: Incident, now: datetime,
                          exclude: frozenset[str] = frozenset()) -> Choice:
    """Who should own the incident, and why (see the module's docstring). Reads only; assigns nothing."""
    category = required_category(incident)
    pool, left_out = await candidates(session, incident=incident, category=category, exclude=exclude)
    if not pool:
        return Choice(None, _nobody(category, left_out), category)
    by_id = {c.user.id: c for c in pool}
    for entry in await on_call_now(session, company_id=incident.company_id, category=category, at=now):
        chosen = by_id.get(entry.user_id)
        if chosen is not None:
            what = category if entry.category else "this company"
            via = "override" if entry.source == "override" else entry.source
            return Choice(chosen.user.id, f"on call for {what} ({entry.schedule_name}, {via})", category)
    best = min(pool, key=lambda c: (c.load, c.last_assigned or NEVER, c.user.name.lower(), c.user.id))
    label = "technician" if category == GENERAL else f"{category} technician"
    return Choice(best.user.id, f"least loaded {label} ({best.load} open)", category)
