"""On-call console pages: the schedules list (who is on call now, gap warnings), a schedule's calendar and
overrides, and the editor. Everything goes through ``incidents.oncall`` (scope, rights, validation, audit)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from alertwhisperer.auth.principal import Principal, Role
from alertwhisperer.deps import ClockDep, CurrentUser, SessionDep, commit
from alertwhisperer.errors import Invalid
from alertwhisperer.incidents import oncall
from alertwhisperer.incidents import schedules as engine
from alertwhisperer.incidents.categories import CATEGORIES
from alertwhisperer.incidents.models import OnCallSchedule
from alertwhisperer.tenants import service as tenants
from alertwhisperer.web.forms import Form, FormErrors
from alertwhisperer.web.pages import schedule_calendar as calendar
from alertwhisperer.web.pages import schedule_form as sf
from alertwhisperer.web.pages.companies import timezones
from alertwhisperer.web.templating import page, redirect, selected_company

router = APIRouter()
GAP_HORIZON = timedelta(days=14)


def _label(company_names: dict[str, str], row: OnCallSchedule) -> str:
    return company_names.get(row.company_id, "") if row.company_id else "MSP-wide team"


# --- list ------------------------------------------------------------------------------------------------------
@router.get("/schedules")
async def list_page(request: Request, user: CurrentUser, db: SessionDep, clock: ClockDep,
                    company_id: str | None = Query(None), category: str | None = Query(None)) -> Response:
    now = clock.now()
    companies = await tenants.list_companies(db, actor=user)
    chosen = next((c for c in companies if c.id == company_id), None) if company_id else \
        selected_company(request, user, companies)
    if company_id and chosen is None:
        user.require_company(company_id)  # outside the scope: 404
    rows = await oncall.list_schedules(db, actor=user)
    current = await oncall.now_on_call_by_schedule(db, rows, now)
    gap_hours: dict[str, str] = {}
    for row in rows:
        schedule = await oncall.resolved(db, row, now, now + GAP_HORIZON)
        hours = engine.coverage(schedule, now, now + GAP_HORIZON).gap_hours
        if hours > 0:
            gap_hours[row.id] = f"{round(hours)} h" if hours >= 1 else f"{max(1, round(hours * 60))} min"
    on_call: list[oncall.OnCall] = []
    if chosen is not None:
        on_call = await oncall.on_call_now(db, company_id=chosen.id, category=category or None, at=now)
    people = await oncall.names(db, [*(c.user_id for c in current.values() if c), *(o.user_id for o in on_call)])
    groups: list[tuple[str, str | None, list[OnCallSchedule]]] = []
    for company in companies:
        own = [r for r in rows if r.company_id == company.id]
        if own or (chosen is not None and company.id == chosen.id):
            groups.append((company.name, company.id, own))
    groups.append(("MSP-wide teams", None, [r for r in rows if r.company_id is None]))
    return await page(request, db, user, "schedules/list.html", {
        "groups": groups, "current": current, "gap_hours": gap_hours, "people": people, "chosen": chosen,
        "category": category or "", "categories": CATEGORIES, "on_call": on_call,
        "can_create": user.role.value in ("msp_admin", "company_admin"),
        "can_edit_company": {c.id: oncall.can_edit(user, c.id) for c in companies},
        "can_edit_teams": oncall.can_edit(user, None), "horizon_days": GAP_HORIZON.days,
    }, section="schedules")


# --- editor ----------------------------------------------------------------------------------------------------
async def _editor(request: Request, db: AsyncSession, user: Principal, *, row: OnCallSchedule | None,
                  values: dict[str, Any], errors: FormErrors | None = None, status_code: int = 200) -> Response:
    companies = [c for c in await tenants.list_companies(db, actor=user) if oncall.can_edit(user, c.id)]
    company_id = (row.company_id if row else values.get("company_id")) or None
    if row is None and company_id is None and not oncall.can_edit(user, None):
        company_id = companies[0].id if companies else None  # only MSP admins make MSP-wide teams
        values["company_id"] = company_id or ""
    may_pick = oncall.can_edit(user, company_id) if company_id else oncall.can_edit(user, None)
    members = await oncall.eligible_members(db, company_id=company_id) if may_pick else []
    for layer in values["layers"]:
        layer["slots"] = sf.member_slots(layer)
    return await page(request, db, user, "schedules/edit.html", {
        "row": row, "values": values, "errors": errors or {}, "editable_companies": companies,
        "can_team": oncall.can_edit(user, None), "members": [(u.id, u.name, u.email) for u in members],
        "category_options": [("", "Any category (general)"), *((c, c) for c in CATEGORIES)],
        "timezones": timezones(), "weekdays": sf.WEEKDAYS,
    }, status_code=status_code, section="schedules")


@router.get("/schedules/new")
async def new_form(request: Request, user: CurrentUser, db: SessionDep, clock: ClockDep,
                   company_id: str | None = Query(None)) -> Response:
    if company_id:
        user.require_company_admin(company_id, "manage on-call schedules")
    else:
        user.require_role(Role.MSP_ADMIN, Role.COMPANY_ADMIN, action="create on-call schedules")
    companies = await tenants.list_companies(db, actor=user)
    company = next((c for c in companies if c.id == company_id), None)
    today = clock.now().astimezone(ZoneInfo(company.timezone if company else "UTC")).date()
    values = sf.schedule_values(None, today=today, company_id=company_id,
                                timezone=company.timezone if company else "UTC")
    return await _editor(request, db, user, row=None, values=values)


@router.post("/schedules")
async def create(request: Request, user: CurrentUser, db: SessionDep, clock: ClockDep) -> Response:
    form = await Form.read(request)
    data, kept = sf.schedule_data(form, with_company=True)
    try:
        row = await oncall.create_schedule(db, actor=user, clock=clock, data=data)
    except Invalid as exc:
        await db.rollback()
        values = sf.form_values(form, today=clock.now().date())
        return await _editor(request, db, user, row=None, values=values, errors=sf.schedule_errors(exc, kept),
                             status_code=422)
    schedule_id, name = row.id, row.name
    await commit(request, db)
    return redirect(f"/schedules/{schedule_id}", f"Schedule {name} created.")


@router.get("/schedules/{schedule_id}/edit")
async def edit_form(schedule_id: str, request: Request, user: CurrentUser, db: SessionDep,
                    clock: ClockDep) -> Response:
    row = await oncall.get_schedule(db, actor=user, schedule_id=schedule_id)
    oncall.require_edit(user, row.company_id)
    today = clock.now().astimezone(ZoneInfo(row.timezone)).date()
    return await _editor(request, db, user, row=row, values=sf.schedule_values(row, today=today))


@router.post("/schedules/{schedule_id}/edit")
async def save(schedule_id: str, request: Request, user: CurrentUser, db: SessionDep, clock: ClockDep) -> Response:
    row = await oncall.get_schedule(db, actor=user, schedule_id=schedule_id)
    oncall.require_edit(user, row.company_id)  # 403 before reading the form
    form = await Form.read(request)
    data, kept = sf.schedule_data(form, with_company=False)
    try:
        row = await oncall.update_schedule(db, actor=user, clock=clock, schedule_id=schedule_id, data=data)
    except Invalid as exc:
        await db.rollback()
        row = await oncall.get_schedule(db, actor=user, schedule_id=schedule_id)
        values = sf.form_values(form, today=clock.now().date())
        return await _editor(request, db, user, row=row, values=values, errors=sf.schedule_errors(exc, kept),
                             status_code=422)
    name = row.name
    await commit(request, db)
    return redirect(f"/schedules/{schedule_id}", f"Schedule {name} saved.")


@router.post("/schedules/{schedule_id}/delete")
async def delete(schedule_id: str, request: Request, user: CurrentUser, db: SessionDep, clock: ClockDep) -> Response:
    row = await oncall.delete_schedule(db, actor=user, clock=clock, schedule_id=schedule_id)
    name = row.name
    await commit(request, db)
    return redirect("/schedules", f"Schedule {name} deleted.")


# --- one schedule: calendar and overrides -----------------------------------------------------------------------
def _first_day(text: str | None, today: date) -> date:
    if text:
        try:
            return date.fromisoformat(text)
        except ValueError:
            pass
    return today - timedelta(days=today.weekday())  # this week's Monday


async def _detail(request: Request, db: AsyncSession, user: Principal, now: datetime, schedule_id: str, *,
                  start: str | None = None, days: int = 14, values: dict[str, Any] | None = None,
                  errors: FormErrors | None = None, status_code: int = 200) -> Response:
    row = await oncall.get_schedule(db, actor=user, schedule_id=schedule_id)
    zone = ZoneInfo(row.timezone)
    today = now.astimezone(zone).date()
    days = 7 if days == 7 else 14
    first = _first_day(start, today)
    begin = datetime.combine(first, datetime.min.time(), tzinfo=zone)
    end = datetime.combine(first + timedelta(days=days), datetime.min.time(), tzinfo=zone)
    _, shifts, gaps = await oncall.shifts_for(db, actor=user, schedule_id=row.id, start=begin, end=end)
    schedule = await oncall.resolved(db, row, now - timedelta(days=15), now + timedelta(days=15))
    current = engine.current_shift(schedule, now)
    overrides = await oncall.list_overrides(db, actor=user, schedule_id=row.id, since=now)
    upcoming_gaps = engine.gaps(await oncall.resolved(db, row, now, now + GAP_HORIZON), now, now + GAP_HORIZON)
    can_edit = oncall.can_edit(user, row.company_id)
    cover_self = not can_edit and oncall.may_cover_self(user, row)
    members = await oncall.eligible_members(db, company_id=row.company_id) if can_edit else []
    if cover_self:
        members = [u for u in await oncall.eligible_members(db, company_id=row.company_id) if u.id == user.user_id]
    layer_members = [m for layer in oncall.layers_of(row) for m in layer.members]
    people = await oncall.names(db, [*layer_members, *(s.user_id for s in shifts), *(o.user_id for o in overrides),
                                     *([current.user_id] if current else [])])
    colours = calendar.tones([*layer_members, *(s.user_id for s in shifts)])
    grid = calendar.build(shifts, gaps, first=first, days=days, timezone=row.timezone, names=people,
                          colours=colours, today=today)
    company_names = {c.id: c.name for c in await tenants.list_companies(db, actor=user)}
    return await page(request, db, user, "schedules/detail.html", {
        "row": row, "owner": _label(company_names, row), "layers": oncall.layers_of(row), "people": people,
        "colours": colours, "grid": grid, "first": first, "days": days, "today": today,
        "prev": (first - timedelta(days=days)).isoformat(), "next": (first + timedelta(days=days)).isoformat(),
        "current": current, "overrides": overrides, "upcoming_gaps": upcoming_gaps, "zone": zone,
        "can_edit": can_edit, "cover_self": cover_self, "members": [(u.id, u.name) for u in members],
        "values": values or {}, "errors": errors or {}, "open_form": bool(errors), "weekday_names": sf.WEEKDAY_NAMES,
        "horizon_days": GAP_HORIZON.days,
    }, status_code=status_code, section="schedules")


@router.get("/schedules/{schedule_id}")
async def detail(schedule_id: str, request: Request, user: CurrentUser, db: SessionDep, clock: ClockDep,
                 start: str | None = Query(None), days: int = Query(14)) -> Response:
    return await _detail(request, db, user, clock.now(), schedule_id, start=start, days=days)


@router.post("/schedules/{schedule_id}/overrides")
async def add_override(schedule_id: str, request: Request, user: CurrentUser, db: SessionDep,
                       clock: ClockDep) -> Response:
    row = await oncall.get_schedule(db, actor=user, schedule_id=schedule_id)
    if not oncall.may_cover_self(user, row):
        oncall.require_edit(user, row.company_id)  # 403 before reading the form
    form = await Form.read(request)
    try:
        await oncall.create_override(db, actor=user, clock=clock, schedule_id=row.id,
                                     data=sf.override_data(form, timezone=row.timezone))
    except Invalid as exc:
        await db.rollback()
        return await _detail(request, db, user, clock.now(), schedule_id, values=form.values(),
                             errors=sf.override_errors(exc), status_code=422)
    await commit(request, db)
    return redirect(f"/schedules/{schedule_id}", "Override added.")


@router.post("/schedules/{schedule_id}/overrides/{override_id}/delete")
async def remove_override(schedule_id: str, override_id: str, request: Request, user: CurrentUser, db: SessionDep,
                          clock: ClockDep) -> Response:
    await oncall.delete_override(db, actor=user, clock=clock, schedule_id=schedule_id, override_id=override_id)
    await commit(request, db)
    return redirect(f"/schedules/{schedule_id}", "Override removed.")
