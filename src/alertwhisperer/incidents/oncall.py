"""On-call schedules and overrides: CRUD (scoped, validated, audited) and "who is on call now".

Rights: a company's schedules are read by the users who cover the company and changed by its company admins and
MSP admins; MSP-wide teams (``company_id`` None) are read by everyone and changed by MSP admins only. A technician
may add an override putting *themselves* on call (``may_cover_self``) and remove such an override of their own.
A schedule outside the caller's scope does not exist for them (404). Members must be active users covering the
schedule's company (a membership, or an MSP admin); an MSP-wide team takes any active user.

``on_call_now`` (the contract used by assignment, SLA escalation and the console) returns, best first: the
company's schedules for the category, its general ones, MSP-wide teams for the category, general MSP-wide teams;
one entry per person, active users covering the company only (someone who cannot see the company's incidents is
no use on call for them).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from sqlalchemy import delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from alertwhisperer.audit import service as audit
from alertwhisperer.auth.models import Membership, User
from alertwhisperer.auth.principal import Principal, Role
from alertwhisperer.clock import Clock
from alertwhisperer.errors import Forbidden, Invalid, NotFound
from alertwhisperer.incidents import schedules as engine
from alertwhisperer.incidents.models import OnCallSchedule, ScheduleOverride
from alertwhisperer.incidents.schedule_schemas import LayerIn, OverrideIn, ScheduleIn, ScheduleUpdate
from alertwhisperer.realtime.hub import Event, emit

MAX_RANGE = timedelta(days=62)
M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class OnCall:
    user_id: str
    schedule_id: str
    schedule_name: str
    source: str  # "override" or the layer's name
    category: str | None = None  # the schedule's category (None: general)


# --- validation ------------------------------------------------------------------------------------------------
def invalid_from(exc: ValidationError) -> Invalid:
    """A pydantic error as Invalid naming the dotted field (model-level messages start with ``field: ``)."""
    problems = []
    for err in exc.errors(include_url=False):
        loc = [str(p) for p in err.get("loc", ())]
        message = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
        head, sep, rest = message.partition(": ")
        if sep and head.isidentifier():
            loc, message = [*loc, head], rest
        problems.append({"field": ".".join(loc) or None, "message": message})
    text = "; ".join(f"{p['field']}: {p['message']}" if p["field"] else str(p["message"]) for p in problems)
    return Invalid(text, field=problems[0]["field"], details={"problems": problems})


def _validate(model: type[M], data: Any) -> M:
    if not isinstance(data, dict):
        raise Invalid("the body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise invalid_from(exc) from exc


def layers_of(row: OnCallSchedule) -> tuple[engine.Layer, ...]:
    """The stored layers for the engine (a stored layer that no longer validates is skipped)."""
    out = []
    for raw in row.layers or []:
        try:
            out.append(LayerIn.model_validate(raw).to_layer())
        except ValidationError:
            continue
    return tuple(out)


def engine_schedule(row: OnCallSchedule, overrides: Iterable[ScheduleOverride] = ()) -> engine.Schedule:
    return engine.Schedule(row.timezone, layers_of(row), tuple(
        engine.Override(o.user_id, o.starts_at, o.ends_at, o.id) for o in overrides))


def dump(row: OnCallSchedule) -> dict[str, Any]:
    return {"company_id": row.company_id, "name": row.name, "category": row.category, "timezone": row.timezone,
            "description": row.description, "layers": row.layers}


# --- reading ---------------------------------------------------------------------------------------------------
def _visible(actor: Principal) -> Any:
    if actor.is_msp_admin:
        return True
    return or_(OnCallSchedule.company_id.is_(None), OnCallSchedule.company_id.in_(sorted(actor.company_ids)))


async def list_schedules(session: AsyncSession, *, actor: Principal, company_id: str | None = None,
                         include_teams: bool = False) -> list[OnCallSchedule]:
    """The schedules the actor sees; ``company_id``: that company's (plus MSP-wide teams with ``include_teams``)."""
    stmt = select(OnCallSchedule).where(_visible(actor))
    if company_id is not None:
        actor.require_company(company_id)
        own = OnCallSchedule.company_id == company_id
        stmt = stmt.where(or_(own, OnCallSchedule.company_id.is_(None)) if include_teams else own)
    stmt = stmt.order_by(OnCallSchedule.company_id.is_(None), OnCallSchedule.name, OnCallSchedule.id)
    return list((await session.execute(stmt)).scalars())


async def get_schedule(session: AsyncSession, *, actor: Principal, schedule_id: str) -> OnCallSchedule:
    row = await session.get(OnCallSchedule, schedule_id)
    if row is None or (row.company_id is not None and not actor.sees_company(row.company_id)):
        raise NotFound("schedule not found")
    return row


def can_edit(actor: Principal, company_id: str | None) -> bool:
    if company_id is None:
        return actor.is_msp_admin
    return actor.sees_company(company_id) and actor.role in (Role.MSP_ADMIN, Role.COMPANY_ADMIN)


def may_cover_self(actor: Principal, row: OnCallSchedule) -> bool:
    """A technician may put themselves on call (and take back their own overrides): on their companies'
    schedules, and on MSP-wide teams they are a member of."""
    if actor.role is not Role.TECHNICIAN:
        return False
    if row.company_id is None:
        return any(actor.user_id in layer.members for layer in layers_of(row))
    return actor.sees_company(row.company_id)


def require_edit(actor: Principal, company_id: str | None) -> None:
    if company_id is None:
        actor.require_role(Role.MSP_ADMIN, action="manage MSP-wide on-call teams")
    else:
        actor.require_company_admin(company_id, "manage on-call schedules")


async def eligible_members(session: AsyncSession, *, company_id: str | None) -> list[User]:
    """Active users who may be on call for the company (covering it, or MSP admins); every active user for an
    MSP-wide team."""
    stmt = select(User).where(User.is_active.is_(True))
    if company_id is not None:
        covered = select(Membership.user_id).where(Membership.company_id == company_id)
        stmt = stmt.where(or_(User.role == Role.MSP_ADMIN.value, User.id.in_(covered)))
    return list((await session.execute(stmt.order_by(User.name, User.email))).scalars())


async def names(session: AsyncSession, user_ids: Iterable[str]) -> dict[str, str]:
    ids = sorted(set(user_ids))
    if not ids:
        return {}
    rows = (await session.execute(select(User.id, User.name).where(User.id.in_(ids)))).all()
    return {str(uid): str(name) for uid, name in rows}


async def _check_members(session: AsyncSession, company_id: str | None, layers: Sequence[LayerIn]) -> None:
    allowed = {u.id for u in await eligible_members(session, company_id=company_id)}
    for i, layer in enumerate(layers):
        await _check_users(session, allowed, layer.members, f"layers.{i}.members")


async def _check_users(session: AsyncSession, allowed: set[str], user_ids: Sequence[str], field: str) -> None:
    bad = [u for u in user_ids if u not in allowed]
    if bad:
        known = await names(session, bad)
        who = ", ".join(known.get(u, u) for u in bad)
        raise Invalid(f"{who}: not an active user covering this schedule's company", field=field,
                      details={"problems": [{"field": field, "message": f"{who} cannot be on call here"}]})


# --- changing --------------------------------------------------------------------------------------------------
async def _changed(session: AsyncSession, *, actor: Principal, clock: Clock, row: OnCallSchedule, action: str,
                   details: dict[str, Any], target_type: str = "schedule", target_id: str | None = None) -> None:
    await audit.record(session, clock=clock, actor=actor, action=action, company_id=row.company_id,
                       target_type=target_type, target_id=target_id or row.id, details=details)
    emit(session, Event("oncall.changed", row.company_id, {"schedule_id": row.id, "name": row.name}))
    await session.flush()


async def create_schedule(session: AsyncSession, *, actor: Principal, clock: Clock, data: Any) -> OnCallSchedule:
    company_id = data.get("company_id") if isinstance(data, dict) else None
    require_edit(actor, company_id if isinstance(company_id, str) else None)  # 404 / 403 before validation
    body = _validate(ScheduleIn, data)
    await _check_members(session, body.company_id, body.layers)
    now = clock.now()
    row = OnCallSchedule(company_id=body.company_id, name=body.name, category=body.category,
                         timezone=body.timezone, description=body.description,
                         layers=[layer.model_dump(mode="json") for layer in body.layers], created_at=now,
                         updated_at=now)
    session.add(row)
    await session.flush()
    await _changed(session, actor=actor, clock=clock, row=row, action="schedule.created",
                   details={"before": None, "after": dump(row)})
    return row


async def update_schedule(session: AsyncSession, *, actor: Principal, clock: Clock, schedule_id: str,
                          data: Any) -> OnCallSchedule:
    row = await get_schedule(session, actor=actor, schedule_id=schedule_id)
    require_edit(actor, row.company_id)
    body = _validate(ScheduleUpdate, data)
    before = dump(row)
    fields = body.model_dump(exclude_unset=True)
    if "name" in fields and body.name is None:
        raise Invalid("name: a schedule needs a name", field="name")
    if body.layers is not None:
        await _check_members(session, row.company_id, body.layers)
        row.layers = [layer.model_dump(mode="json") for layer in body.layers]
    for key in ("name", "category", "timezone", "description"):
        if key in fields and (fields[key] is not None or key == "category"):
            setattr(row, key, fields[key])
    after = dump(row)
    if after != before:
        row.updated_at = clock.now()
        await _changed(session, actor=actor, clock=clock, row=row, action="schedule.updated",
                       details={"before": before, "after": after})
    return row


async def delete_schedule(session: AsyncSession, *, actor: Principal, clock: Clock, schedule_id: str
                          ) -> OnCallSchedule:
    row = await get_schedule(session, actor=actor, schedule_id=schedule_id)
    require_edit(actor, row.company_id)
    await _changed(session, actor=actor, clock=clock, row=row, action="schedule.deleted",
                   details={"before": dump(row), "after": None})
    await session.execute(delete(ScheduleOverride).where(ScheduleOverride.schedule_id == row.id))
    await session.delete(row)
    await session.flush()
    return row


async def list_overrides(session: AsyncSession, *, actor: Principal, schedule_id: str,
                         since: datetime | None = None) -> list[ScheduleOverride]:
    row = await get_schedule(session, actor=actor, schedule_id=schedule_id)
    return await _overrides(session, [row.id], since=since)


async def _overrides(session: AsyncSession, schedule_ids: Sequence[str], *, since: datetime | None = None,
                     until: datetime | None = None) -> list[ScheduleOverride]:
    if not schedule_ids:
        return []
    stmt = select(ScheduleOverride).where(ScheduleOverride.schedule_id.in_(schedule_ids))
    if since is not None:
        stmt = stmt.where(ScheduleOverride.ends_at > since)
    if until is not None:
        stmt = stmt.where(ScheduleOverride.starts_at < until)
    return list((await session.execute(stmt.order_by(ScheduleOverride.starts_at, ScheduleOverride.id))).scalars())


def _override_dump(o: ScheduleOverride) -> dict[str, Any]:
    return {"user_id": o.user_id, "starts_at": o.starts_at.isoformat(), "ends_at": o.ends_at.isoformat(),
            "reason": o.reason}


async def create_override(session: AsyncSession, *, actor: Principal, clock: Clock, schedule_id: str,
                          data: Any) -> ScheduleOverride:
    row = await get_schedule(session, actor=actor, schedule_id=schedule_id)
    admin = can_edit(actor, row.company_id)
    if not admin and not may_cover_self(actor, row):
        require_edit(actor, row.company_id)
    body = _validate(OverrideIn, data)
    if not admin and body.user_id != actor.user_id:
        raise Forbidden("technicians may only put themselves on call; ask an admin to cover for someone else")
    allowed = {u.id for u in await eligible_members(session, company_id=row.company_id)}
    await _check_users(session, allowed, [body.user_id], "user_id")
    override = ScheduleOverride(schedule_id=row.id, user_id=body.user_id, starts_at=body.starts_at,
                                ends_at=body.ends_at, reason=body.reason, created_by=actor.user_id,
                                created_at=clock.now())
    session.add(override)
    await session.flush()
    await _changed(session, actor=actor, clock=clock, row=row, action="schedule.override_created",
                   target_type="schedule_override", target_id=override.id,
                   details={"schedule_id": row.id, "before": None, "after": _override_dump(override)})
    return override


async def delete_override(session: AsyncSession, *, actor: Principal, clock: Clock, schedule_id: str,
                          override_id: str) -> ScheduleOverride:
    row = await get_schedule(session, actor=actor, schedule_id=schedule_id)
    override = await session.get(ScheduleOverride, override_id)
    if override is None or override.schedule_id != row.id:
        raise NotFound("override not found")
    if not (may_cover_self(actor, row) and override.user_id == actor.user_id == override.created_by):
        require_edit(actor, row.company_id)
    await _changed(session, actor=actor, clock=clock, row=row, action="schedule.override_deleted",
                   target_type="schedule_override", target_id=override.id,
                   details={"schedule_id": row.id, "before": _override_dump(override), "after": None})
    await session.delete(override)
    await session.flush()
    return override


# --- timelines -------------------------------------------------------------------------------------------------
async def resolved(session: AsyncSession, row: OnCallSchedule, start: datetime, end: datetime
                   ) -> engine.Schedule:
    """The schedule with the overrides that touch [start, end)."""
    return engine_schedule(row, await _overrides(session, [row.id], since=start, until=end))


async def shifts_for(session: AsyncSession, *, actor: Principal, schedule_id: str, start: datetime,
                     end: datetime) -> tuple[OnCallSchedule, list[engine.Shift], list[engine.Gap]]:
    """The schedule's shifts and gaps in [start, end) (at most 62 days)."""
    if start.tzinfo is None or end.tzinfo is None:
        raise Invalid("start: give times with a timezone offset", field="start")
    if end <= start:
        raise Invalid("end: must be after start", field="end")
    if end - start > MAX_RANGE:
        raise Invalid("end: ask for at most 62 days at a time", field="end")
    row = await get_schedule(session, actor=actor, schedule_id=schedule_id)
    schedule = await resolved(session, row, start, end)
    found = engine.shifts(schedule, start, end)
    return row, found, engine.gaps(schedule, start, end, found)


async def ical_for(session: AsyncSession, *, actor: Principal, schedule_id: str, now: datetime,
                   weeks: int = 8) -> tuple[OnCallSchedule, bytes]:
    if not 1 <= weeks <= 52:
        raise Invalid("weeks: between 1 and 52", field="weeks")
    row = await get_schedule(session, actor=actor, schedule_id=schedule_id)
    start = now.replace(minute=0, second=0, microsecond=0)
    end = start + timedelta(weeks=weeks)
    schedule = await resolved(session, row, start, end)
    found = engine.shifts(schedule, start, end)
    who = await names(session, (s.user_id for s in found))
    return row, engine.to_ical(schedule, found, schedule_id=row.id, schedule_name=row.name, names=who, now=now)


# --- who is on call --------------------------------------------------------------------------------------------
def _rank(row: OnCallSchedule, company_id: str, category: str | None) -> int | None:
    """0 company + category, 1 company general, 2 team + category, 3 team general; None: not relevant."""
    general = row.category is None
    if not general and category is not None and row.category.lower() != category.lower():  # type: ignore[union-attr]
        return None
    base = 0 if row.company_id == company_id else 2
    return base + (1 if general else 0)


async def _covering(session: AsyncSession, company_id: str, user_ids: Iterable[str]) -> set[str]:
    ids = sorted(set(user_ids))
    if not ids:
        return set()
    covered = select(Membership.user_id).where(Membership.company_id == company_id)
    rows = await session.execute(select(User.id).where(
        User.id.in_(ids), User.is_active.is_(True), or_(User.role == Role.MSP_ADMIN.value, User.id.in_(covered))))
    return {str(r) for r in rows.scalars()}


async def on_call_now(session: AsyncSession, *, company_id: str, category: str | None, at: datetime
                      ) -> list[OnCall]:
    """Who is on call for the company and category at ``at``, best first (see the module's docstring).
    ``category`` None: every schedule of the company, general ones first."""
    rows = (await session.execute(select(OnCallSchedule).where(
        or_(OnCallSchedule.company_id == company_id, OnCallSchedule.company_id.is_(None))))).scalars().all()
    ranked = sorted(((r, rank) for r in rows if (rank := _rank(r, company_id, category)) is not None),
                    key=lambda pair: (pair[1], pair[0].name, pair[0].id))
    overrides = await _overrides(session, [r.id for r, _ in ranked], since=at, until=at + timedelta(seconds=1))
    by_schedule: dict[str, list[ScheduleOverride]] = {}
    for o in overrides:
        by_schedule.setdefault(o.schedule_id, []).append(o)
    found: list[OnCall] = []
    for row, _ in ranked:
        who = engine.on_call_at(engine_schedule(row, by_schedule.get(row.id, ())), at)
        if who is not None:
            found.append(OnCall(who.user_id, row.id, row.name, who.source, row.category))
    usable = await _covering(session, company_id, (f.user_id for f in found))
    out: list[OnCall] = []
    for entry in found:
        if entry.user_id in usable and all(o.user_id != entry.user_id for o in out):
            out.append(entry)
    return out


async def who_is_on_call(session: AsyncSession, *, actor: Principal, company_id: str, category: str | None,
                         at: datetime) -> list[OnCall]:
    """``on_call_now`` for a company in the actor's scope."""
    actor.require_company(company_id)
    return await on_call_now(session, company_id=company_id, category=category, at=at)


async def now_on_call_by_schedule(session: AsyncSession, rows: Sequence[OnCallSchedule], at: datetime
                                  ) -> dict[str, engine.OnCallAt | None]:
    """For list pages: each schedule's person on call at ``at`` (no coverage filtering)."""
    overrides = await _overrides(session, [r.id for r in rows], since=at, until=at + timedelta(seconds=1))
    out: dict[str, engine.OnCallAt | None] = {}
    for row in rows:
        out[row.id] = engine.on_call_at(engine_schedule(row, [o for o in overrides if o.schedule_id == row.id]),
                                        at)
    return out
