"""On-call schedule routes (thin; see ``incidents.oncall``): schedules, overrides, shifts with gaps, iCal export
and "who is on call now" for a company."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Body, Query, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from alertwhisperer.deps import ClockDep, CurrentUser, SessionDep, commit
from alertwhisperer.errors import Invalid
from alertwhisperer.incidents import oncall
from alertwhisperer.incidents import schedules as engine
from alertwhisperer.incidents.models import OnCallSchedule, ScheduleOverride
from alertwhisperer.incidents.schedule_schemas import (
    GapOut,
    OnCallOut,
    OverrideOut,
    ScheduleOut,
    ShiftOut,
    ShiftsOut,
)

router = APIRouter(prefix="/api", tags=["on-call schedules"])

SCHEDULE_BODY = Body(..., description="company_id (null: MSP-wide team), name, category, timezone, description, "
                                      "layers (later layers override earlier ones)",
                     examples=[{"company_id": "<company id>", "name": "Database on-call", "category": "Database",
                                "timezone": "Europe/Berlin",
                                "layers": [{"name": "Weekly", "rotation": "weekly", "handoff_time": "09:00",
                                            "handoff_weekday": 0, "starts_on": "2026-03-02",
                                            "members": ["<user id>", "<user id>"]}]}])
OVERRIDE_BODY = Body(..., examples=[{"user_id": "<user id>", "starts_at": "2026-03-07T09:00:00+01:00",
                                     "ends_at": "2026-03-08T09:00:00+01:00", "reason": "swap with Ana"}])


def schedule_out(row: OnCallSchedule) -> ScheduleOut:
    return ScheduleOut(id=row.id, company_id=row.company_id, name=row.name, category=row.category,
                       timezone=row.timezone, description=row.description, layers=list(row.layers or []),
                       created_at=row.created_at, updated_at=row.updated_at)


async def overrides_out(db: AsyncSession, rows: list[ScheduleOverride]) -> list[OverrideOut]:
    who = await oncall.names(db, (o.user_id for o in rows))
    return [OverrideOut(id=o.id, schedule_id=o.schedule_id, user_id=o.user_id, user_name=who.get(o.user_id, ""),
                        starts_at=o.starts_at, ends_at=o.ends_at, reason=o.reason, created_by=o.created_by,
                        created_at=o.created_at) for o in rows]


@router.get("/schedules", response_model=list[ScheduleOut])
async def list_schedules(user: CurrentUser, db: SessionDep,
                         company_id: str | None = Query(None, description="Only this company's schedules"),
                         include_teams: bool = Query(False, description="With company_id: add MSP-wide teams"),
                         ) -> list[ScheduleOut]:
    rows = await oncall.list_schedules(db, actor=user, company_id=company_id, include_teams=include_teams)
    return [schedule_out(r) for r in rows]


@router.post("/schedules", response_model=ScheduleOut, status_code=201)
async def create_schedule(request: Request, user: CurrentUser, db: SessionDep, clock: ClockDep,
                          body: Any = SCHEDULE_BODY) -> ScheduleOut:
    row = await oncall.create_schedule(db, actor=user, clock=clock, data=body)
    out = schedule_out(row)
    await commit(request, db)
    return out


@router.get("/schedules/{schedule_id}", response_model=ScheduleOut)
async def get_schedule(schedule_id: str, user: CurrentUser, db: SessionDep) -> ScheduleOut:
    return schedule_out(await oncall.get_schedule(db, actor=user, schedule_id=schedule_id))


@router.patch("/schedules/{schedule_id}", response_model=ScheduleOut)
async def update_schedule(schedule_id: str, request: Request, user: CurrentUser, db: SessionDep, clock: ClockDep,
                          body: Any = SCHEDULE_BODY) -> ScheduleOut:
    row = await oncall.update_schedule(db, actor=user, clock=clock, schedule_id=schedule_id, data=body)
    out = schedule_out(row)
    await commit(request, db)
    return out


@router.delete("/schedules/{schedule_id}", status_code=204)
async def delete_schedule(schedule_id: str, request: Request, user: CurrentUser, db: SessionDep,
                          clock: ClockDep) -> None:
    await oncall.delete_schedule(db, actor=user, clock=clock, schedule_id=schedule_id)
    await commit(request, db)


@router.get("/schedules/{schedule_id}/overrides", response_model=list[OverrideOut])
async def list_overrides(schedule_id: str, user: CurrentUser, db: SessionDep, clock: ClockDep,
                         past: bool = Query(False, description="Include overrides that have ended")
                         ) -> list[OverrideOut]:
    rows = await oncall.list_overrides(db, actor=user, schedule_id=schedule_id, since=None if past else clock.now())
    return await overrides_out(db, rows)


@router.post("/schedules/{schedule_id}/overrides", response_model=OverrideOut, status_code=201)
async def create_override(schedule_id: str, request: Request, user: CurrentUser, db: SessionDep, clock: ClockDep,
                          body: Any = OVERRIDE_BODY) -> OverrideOut:
    row = await oncall.create_override(db, actor=user, clock=clock, schedule_id=schedule_id, data=body)
    out = (await overrides_out(db, [row]))[0]
    await commit(request, db)
    return out


@router.delete("/schedules/{schedule_id}/overrides/{override_id}", status_code=204)
async def delete_override(schedule_id: str, override_id: str, request: Request, user: CurrentUser, db: SessionDep,
                          clock: ClockDep) -> None:
    await oncall.delete_override(db, actor=user, clock=clock, schedule_id=schedule_id, override_id=override_id)
    await commit(request, db)


def _when(value: str | None, default: datetime, field: str) -> datetime:
    if not value:
        return default
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace(" ", "+"))
    except ValueError as exc:
        raise Invalid(f"{field}: use ISO-8601 with an offset, e.g. 2026-03-02T00:00:00+00:00", field=field) from exc
    if parsed.tzinfo is None:
        raise Invalid(f"{field}: give a timezone offset, e.g. 2026-03-02T00:00:00+00:00", field=field)
    return parsed


@router.get("/schedules/{schedule_id}/shifts", response_model=ShiftsOut)
async def list_shifts(schedule_id: str, user: CurrentUser, db: SessionDep, clock: ClockDep,
                      start: str | None = Query(None, description="ISO-8601 with offset; default now"),
                      end: str | None = Query(None, description="ISO-8601 with offset; default start + 14 days"),
                      ) -> ShiftsOut:
    begin = _when(start, clock.now(), "start")
    finish = _when(end, begin + timedelta(days=14), "end")
    row, shifts, gaps = await oncall.shifts_for(db, actor=user, schedule_id=schedule_id, start=begin, end=finish)
    who = await oncall.names(db, (s.user_id for s in shifts))
    return ShiftsOut(schedule_id=row.id, start=begin, end=finish,
                     shifts=[ShiftOut(user_id=s.user_id, user_name=who.get(s.user_id, ""), start=s.start, end=s.end,
                                      source=s.source) for s in shifts],
                     gaps=[GapOut(start=g.start, end=g.end) for g in gaps])


@router.get("/schedules/{schedule_id}/ical", response_class=Response,
            responses={200: {"content": {"text/calendar": {}}, "description": "iCalendar, one event per shift"}})
async def export_ical(schedule_id: str, user: CurrentUser, db: SessionDep, clock: ClockDep,
                      weeks: int = Query(8, ge=1, le=52, description="How many weeks ahead")) -> Response:
    row, data = await oncall.ical_for(db, actor=user, schedule_id=schedule_id, now=clock.now(), weeks=weeks)
    filename = "".join(c if c.isalnum() or c in "-_" else "-" for c in row.name.lower()).strip("-") or "schedule"
    return Response(data, media_type="text/calendar; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="oncall-{filename}.ics"'})


@router.get("/companies/{company_id}/oncall", response_model=list[OnCallOut])
async def on_call(company_id: str, user: CurrentUser, db: SessionDep, clock: ClockDep,
                  category: str | None = Query(None, description="e.g. Database; left out: every schedule")
                  ) -> list[OnCallOut]:
    """Who is on call now for the company (and category), best first."""
    now = clock.now()
    found = await oncall.who_is_on_call(db, actor=user, company_id=company_id, category=category or None, at=now)
    who = await oncall.names(db, (f.user_id for f in found))
    out = []
    for f in found:
        row = await db.get(OnCallSchedule, f.schedule_id)
        shift = engine.current_shift(await oncall.resolved(db, row, now - timedelta(days=15),
                                                           now + timedelta(days=15)), now) if row else None
        out.append(OnCallOut(user_id=f.user_id, user_name=who.get(f.user_id, ""), schedule_id=f.schedule_id,
                             schedule_name=f.schedule_name, category=f.category, source=f.source,
                             until=shift.end if shift and shift.user_id == f.user_id else None))
    return out
