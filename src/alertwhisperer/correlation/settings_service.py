"""A company's correlation policy and maintenance windows: read, change (audited), and the windows' status.

Both live in ``company.settings["correlation"]`` (``CompanySettings.correlation``, stored without the values that
equal the defaults). A change bumps ``company.updated_at`` and rewrites ``company.settings``: the correlation
store's tenant fingerprint includes both, so the next correlated alert of the company is decided with the new
policy (in this process and in any other). The cached *state* is deliberately kept: dropping it would replay the
company's log under the new policy and diverge from the incidents already stored.

Technicians of the company may read; its company admins and MSP admins may change; other companies' users get
404. Every change writes an audit entry with the before and after.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from alertwhisperer.audit import service as audit
from alertwhisperer.auth.principal import Principal
from alertwhisperer.clock import Clock
from alertwhisperer.correlation.maintenance import DAYS, MaintenanceWindow, local_start
from alertwhisperer.correlation.policy import CorrelationPolicy
from alertwhisperer.db import new_id
from alertwhisperer.errors import Conflict, Invalid, NotFound
from alertwhisperer.ingest.models import Alert
from alertwhisperer.realtime.hub import Event, emit
from alertwhisperer.tenants.models import Company
from alertwhisperer.tenants.schemas import CompanySettings

WINDOWS = "maintenance_windows"
WINDOW_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
# model-level errors carry no location: (wording in the message, the field it is about), first match wins
_MODEL_ERROR_FIELDS = (("key_labels", "key_labels"), ("storm_classes", "storm_classes"),
                       ("carry a timezone", "start"), ("end must be after", "end"), ("either one-off", "weekly"),
                       ("start", "start"))


# --- validation ------------------------------------------------------------------------------------------------
def problems_of(exc: ValidationError) -> list[dict[str, Any]]:
    """Each problem with the dotted field it is about (a model-level message is attributed by its wording)."""
    out = []
    for err in exc.errors(include_url=False):
        loc = [str(p) for p in err.get("loc", ())]
        message = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
        field = ".".join(loc)
        if not loc or loc[-1].isdigit():
            named = next((f for wording, f in _MODEL_ERROR_FIELDS if wording in message), None)
            field = ".".join([*loc, named]) if named else field
        out.append({"field": field or None, "message": message})
    return out


def _invalid(exc: ValidationError, prefix: str = "") -> Invalid:
    problems = problems_of(exc)
    for p in problems:
        if prefix and p["field"] is not None:
            p["field"] = f"{prefix}{p['field']}"
    first = problems[0]
    text = "; ".join(f"{p['field']}: {p['message']}" if p["field"] else p["message"] for p in problems)
    return Invalid(text, field=first["field"], details={"problems": problems})


def validate_policy(data: dict[str, Any]) -> CorrelationPolicy:
    try:
        return CorrelationPolicy.model_validate(data)
    except ValidationError as exc:
        raise _invalid(exc) from exc


def validate_window(data: dict[str, Any]) -> MaintenanceWindow:
    try:
        return MaintenanceWindow.model_validate(data)
    except ValidationError as exc:
        raise _invalid(exc) from exc


# --- reading ---------------------------------------------------------------------------------------------------
def policy_from(company: Company) -> CorrelationPolicy:
    """The stored policy, validated strictly (the store falls back to defaults; settings must not hide that)."""
    raw = (company.settings or {}).get("correlation") or {}
    try:
        return CorrelationPolicy.model_validate(raw)
    except ValidationError:
        return CorrelationPolicy()  # an invalid stored policy is what the engine uses too: the defaults


async def _company(session: AsyncSession, actor: Principal, company_id: str, *, for_update: bool = False
                   ) -> Company:
    """The company in the actor's scope; ``for_update``: locked and re-read (changes are read-modify-write of
    the settings blob, so two concurrent edits must not lose one; SQLite's single writer does the same)."""
    actor.require_company(company_id)
    stmt = select(Company).where(Company.id == company_id)
    if for_update:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    company = (await session.execute(stmt)).scalar_one_or_none()
    if company is None:
        raise NotFound("company not found")
    return company


async def get_policy(session: AsyncSession, *, actor: Principal, company_id: str) -> tuple[Company,
                                                                                            CorrelationPolicy]:
    company = await _company(session, actor, company_id)
    return company, policy_from(company)


def dump(policy: CorrelationPolicy) -> dict[str, Any]:
    """The full policy, defaults included, as JSON values."""
    return policy.model_dump(mode="json")


# --- changing --------------------------------------------------------------------------------------------------
async def _store(session: AsyncSession, *, actor: Principal, clock: Clock, company: Company,
                 policy: CorrelationPolicy, action: str, target_type: str, target_id: str,
                 details: dict[str, Any]) -> None:
    settings = CompanySettings.model_validate({**(company.settings or {}), "correlation": dump(policy)})
    company.settings = settings.model_dump(mode="json")  # a new dict: the JSON column sees the change
    company.updated_at = clock.now()
    await audit.record(session, clock=clock, actor=actor, action=action, company_id=company.id,
                       target_type=target_type, target_id=target_id, details=details)
    emit(session, Event("company.updated", company.id, {"id": company.id, "name": company.name}))
    await session.flush()


async def set_policy(session: AsyncSession, *, actor: Principal, clock: Clock, company_id: str,
                     data: dict[str, Any]) -> CorrelationPolicy:
    """Replace the policy. Fields left out get their defaults, except ``maintenance_windows``, which are kept
    when left out (they have their own endpoints)."""
    actor.require_company_admin(company_id, "change the correlation policy")  # before the lock: 404 / 403 first
    company = await _company(session, actor, company_id, for_update=True)
    before = policy_from(company)
    if not isinstance(data, dict):
        raise Invalid("the policy must be a JSON object")
    if WINDOWS not in data:
        data = {**data, WINDOWS: [w.model_dump(mode="json") for w in before.maintenance_windows]}
    after = validate_policy(data)
    old, new = dump(before), dump(after)
    changes = {k: {"from": old[k], "to": new[k]} for k in new if old.get(k) != new[k]}
    if changes:
        await _store(session, actor=actor, clock=clock, company=company, policy=after,
                     action="correlation.policy_changed", target_type="company", target_id=company.id,
                     details={"changes": changes})
    return after


async def list_windows(session: AsyncSession, *, actor: Principal, company_id: str
                       ) -> tuple[Company, tuple[MaintenanceWindow, ...]]:
    company, policy = await get_policy(session, actor=actor, company_id=company_id)
    return company, policy.maintenance_windows


def _find(windows: tuple[MaintenanceWindow, ...], window_id: str) -> MaintenanceWindow:
    for window in windows:
        if window.id == window_id:
            return window
    raise NotFound("maintenance window not found")


async def get_window(session: AsyncSession, *, actor: Principal, company_id: str, window_id: str
                     ) -> tuple[Company, MaintenanceWindow]:
    company, windows = await list_windows(session, actor=actor, company_id=company_id)
    return company, _find(windows, window_id)


async def create_window(session: AsyncSession, *, actor: Principal, clock: Clock, company_id: str,
                        data: dict[str, Any]) -> MaintenanceWindow:
    """Add a window. ``id`` is optional (letters, digits, ``_.-``; unique in the company); one is made if absent."""
    actor.require_company_admin(company_id, "manage maintenance windows")  # before the lock: 404 / 403 first
    company = await _company(session, actor, company_id, for_update=True)
    if not isinstance(data, dict):
        raise Invalid("the maintenance window must be a JSON object")
    policy = policy_from(company)
    given = data.get("id")
    if given is not None and (not isinstance(given, str) or not WINDOW_ID_RE.match(given)):
        raise Invalid("id: use 1-100 letters, digits, '_', '.' or '-'", field="id")
    window_id = given or new_id()[:12]
    if any(w.id == window_id for w in policy.maintenance_windows):
        raise Conflict(f"a maintenance window with id {window_id!r} already exists", details={"field": "id"})
    window = validate_window({**data, "id": window_id})
    updated = policy.model_copy(update={WINDOWS: (*policy.maintenance_windows, window)})
    await _store(session, actor=actor, clock=clock, company=company, policy=updated,
                 action="maintenance_window.created", target_type="maintenance_window", target_id=window.id,
                 details={"before": None, "after": window.model_dump(mode="json")})
    return window


async def update_window(session: AsyncSession, *, actor: Principal, clock: Clock, company_id: str,
                        window_id: str, data: dict[str, Any]) -> MaintenanceWindow:
    """Replace a window (same id)."""
    actor.require_company_admin(company_id, "manage maintenance windows")  # before the lock: 404 / 403 first
    company = await _company(session, actor, company_id, for_update=True)
    policy = policy_from(company)
    old = _find(policy.maintenance_windows, window_id)
    if not isinstance(data, dict):
        raise Invalid("the maintenance window must be a JSON object")
    if data.get("id", window_id) != window_id:
        raise Invalid("id: a window's id cannot change", field="id")
    window = validate_window({**data, "id": window_id})
    if window != old:
        windows = tuple(window if w.id == window_id else w for w in policy.maintenance_windows)
        await _store(session, actor=actor, clock=clock, company=company,
                     policy=policy.model_copy(update={WINDOWS: windows}), action="maintenance_window.updated",
                     target_type="maintenance_window", target_id=window_id,
                     details={"before": old.model_dump(mode="json"), "after": window.model_dump(mode="json")})
    return window


async def delete_window(session: AsyncSession, *, actor: Principal, clock: Clock, company_id: str,
                        window_id: str) -> MaintenanceWindow:
    actor.require_company_admin(company_id, "manage maintenance windows")  # before the lock: 404 / 403 first
    company = await _company(session, actor, company_id, for_update=True)
    policy = policy_from(company)
    old = _find(policy.maintenance_windows, window_id)
    windows = tuple(w for w in policy.maintenance_windows if w.id != window_id)
    await _store(session, actor=actor, clock=clock, company=company,
                 policy=policy.model_copy(update={WINDOWS: windows}), action="maintenance_window.deleted",
                 target_type="maintenance_window", target_id=window_id,
                 details={"before": old.model_dump(mode="json"), "after": None})
    return old


# --- status ----------------------------------------------------------------------------------------------------
Status = Literal["active", "scheduled", "ended"]


@dataclass(frozen=True)
class WindowStatus:
    status: Status
    start: datetime | None  # the current occurrence's (active) or the next one's (scheduled) start, in UTC
    end: datetime | None


def window_status(window: MaintenanceWindow, now: datetime) -> WindowStatus:
    """Active now (with the occurrence's end), the next occurrence, or ended (one-off windows only)."""
    if window.weekly is None:
        assert window.start is not None and window.end is not None
        if now >= window.end:
            return WindowStatus("ended", window.start, window.end)
        return WindowStatus("active" if now >= window.start else "scheduled", window.start, window.end)
    rule = window.weekly
    zone = ZoneInfo(rule.timezone)
    today = now.astimezone(zone).date()
    back = rule.duration_minutes // (24 * 60) + 1
    for offset in range(-back, 8):
        day = today + timedelta(days=offset)
        if DAYS[day.weekday()] not in rule.days:
            continue
        start = local_start(day, rule.start, zone)
        end = start + timedelta(minutes=rule.duration_minutes)
        if end > now:
            return WindowStatus("active" if start <= now else "scheduled", start, end)
    return WindowStatus("ended", None, None)  # not reached: a weekly rule has a day every week


def window_label(window: MaintenanceWindow) -> str:
    """How the engine names the window in a suppressed alert's reason."""
    return window.name or window.id


async def suppressed_counts(session: AsyncSession, *, company_id: str,
                            windows: tuple[MaintenanceWindow, ...]) -> dict[str, int]:
    """Alert notifications each window suppressed, from the stored decisions.

    The alert rows keep the decision's reason ("... is in maintenance window <name or id>"), not the window id,
    so a window that was renamed counts only what it suppressed under its current name.
    """
    if not windows:
        return {}
    rows = (await session.execute(
        select(Alert.decision_reason, func.count()).where(
            Alert.company_id == company_id, Alert.outcome == "suppressed",
            Alert.decision_reason.like("%maintenance window %"))
        .group_by(Alert.decision_reason))).all()
    counts = {w.id: 0 for w in windows}
    for reason, n in rows:
        for window in windows:
            if reason and reason.endswith(f"maintenance window {window_label(window)}"):
                counts[window.id] += int(n)
    return counts
