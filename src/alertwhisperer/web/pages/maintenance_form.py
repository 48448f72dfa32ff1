"""The console's maintenance window form: form fields <-> window JSON, errors per form field, and display rows.

One-off windows are entered as local date-times in the company's timezone (stored as aware ISO-8601); weekly
windows carry their own timezone (the company's by default). The scope is the whole company, chosen assets
(stored by id, so renaming an asset keeps the window) or tags.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from alertwhisperer.correlation.maintenance import DAYS, MaintenanceWindow
from alertwhisperer.correlation.settings_service import WindowStatus, window_status
from alertwhisperer.errors import Invalid
from alertwhisperer.tenants.models import Asset
from alertwhisperer.web.forms import Form, FormErrors, format_tags, parse_tags

LOCAL_FMT = "%Y-%m-%dT%H:%M"
DAY_NAMES = {"mon": "Mon", "tue": "Tue", "wed": "Wed", "thu": "Thu", "fri": "Fri", "sat": "Sat", "sun": "Sun"}
# window JSON field -> the form field that shows its error
FIELD_ALIASES = {"start": "start_local", "end": "end_local", "weekly": "kind", "weekly.days": "days",
                 "weekly.start": "weekly_start", "weekly.duration_minutes": "duration_minutes",
                 "weekly.timezone": "timezone", "id": "name"}


def blank_values(timezone: str) -> dict[str, Any]:
    return {"kind": "one_off", "scope": "company", "timezone": timezone, "days": [], "assets": [],
            "duration_minutes": "120"}


def form_values(form: Form) -> dict[str, Any]:
    return {**form.values(), "days": form.many("days"), "assets": form.many("assets")}


def _local(text: str, zone: ZoneInfo, field: str) -> str:
    try:
        naive = datetime.strptime(text.strip(), LOCAL_FMT)
    except ValueError as exc:
        raise Invalid("Enter a date and time (YYYY-MM-DD HH:MM)", field=field) from exc
    return naive.replace(tzinfo=zone, fold=0).isoformat()


def window_data(form: Form, *, company_timezone: str) -> dict[str, Any]:
    """The submitted form as window JSON for the service (which validates it)."""
    data: dict[str, Any] = {"name": form.text("name")}
    if form.text("kind") == "weekly":
        start = form.text("weekly_start")
        data["weekly"] = {"days": form.many("days"), "start": f"0{start}" if len(start) == 4 else start or None,
                          "duration_minutes": form.text("duration_minutes") or None,
                          "timezone": form.text("timezone") or company_timezone}
    else:
        zone = ZoneInfo(company_timezone)
        data["start"] = _local(form.text("start_local"), zone, "start_local")
        data["end"] = _local(form.text("end_local"), zone, "end_local")
    scope = form.text("scope") or "company"
    if scope == "assets":
        data["assets"] = form.many("assets")
        if not data["assets"]:
            raise Invalid("Choose at least one asset (or cover the whole company)", field="assets")
    elif scope == "tag":
        data["tags"] = parse_tags(form.raw("tags"))
        if not data["tags"]:
            raise Invalid("Give at least one tag as key=value (or cover the whole company)", field="tags")
    return data


def invalid_errors(exc: Invalid) -> FormErrors:
    """The service's problems (or its single field) as errors on the form's fields."""
    problems = exc.details.get("problems") if isinstance(exc.details, dict) else None
    if not problems:
        problems = [{"field": exc.field, "message": exc.message}]
    errors: FormErrors = {}
    for p in problems:
        path = ".".join(part for part in str(p.get("field") or "__all__").split(".") if not part.isdigit())
        field = FIELD_ALIASES.get(path) or path.split(".")[0]
        message = str(p.get("message", "invalid value"))
        errors.setdefault(field, message[:1].upper() + message[1:])
    return errors


def window_values(window: MaintenanceWindow, *, company_timezone: str, assets: list[Asset]) -> dict[str, Any]:
    """The edit form's values for a stored window."""
    zone = ZoneInfo(company_timezone)
    wanted = {a.lower() for a in window.assets}
    chosen = [a.id for a in assets if a.id.lower() in wanted or a.name.lower() in wanted]
    chosen += unknown_refs(window, assets)  # kept (and shown) so saving the form does not drop them
    values: dict[str, Any] = {
        "name": window.name, "scope": "assets" if window.assets else "tag" if window.tags else "company",
        "assets": chosen, "tags": format_tags(dict(window.tags)), "timezone": company_timezone, "days": [],
        "duration_minutes": "120"}
    if window.weekly is not None:
        values |= {"kind": "weekly", "days": list(window.weekly.days),
                   "weekly_start": window.weekly.start.strftime("%H:%M"),
                   "duration_minutes": str(window.weekly.duration_minutes), "timezone": window.weekly.timezone}
    else:
        assert window.start is not None and window.end is not None
        values |= {"kind": "one_off", "start_local": window.start.astimezone(zone).strftime(LOCAL_FMT),
                   "end_local": window.end.astimezone(zone).strftime(LOCAL_FMT)}
    return values


def unknown_refs(window: MaintenanceWindow, assets: list[Asset]) -> list[str]:
    """The window's asset references that match no asset of the company (yet)."""
    known = {a.id.lower() for a in assets} | {a.name.lower() for a in assets}
    return [ref for ref in window.assets if ref.lower() not in known]


@dataclass(frozen=True)
class WindowRow:
    window: MaintenanceWindow
    label: str
    schedule: str
    scope: list[str]  # chips; empty = whole company
    status: WindowStatus
    status_text: str
    suppressed: int


def _when(value: datetime, zone: ZoneInfo) -> str:
    return value.astimezone(zone).strftime("%a %Y-%m-%d %H:%M")


def _duration(minutes: int) -> str:
    hours, rest = divmod(minutes, 60)
    return " ".join(p for p in (f"{hours} h" if hours else "", f"{rest} min" if rest else "") if p)


def schedule_text(window: MaintenanceWindow, company_timezone: str) -> str:
    if window.weekly is not None:
        rule = window.weekly
        days = ", ".join(DAY_NAMES[d] for d in DAYS if d in rule.days)
        return f"Every {days} at {rule.start.strftime('%H:%M')} for {_duration(rule.duration_minutes)} " \
               f"({rule.timezone})"
    assert window.start is not None and window.end is not None
    zone = ZoneInfo(company_timezone)
    return f"{_when(window.start, zone)} → {_when(window.end, zone)} ({company_timezone})"


def rows(windows: tuple[MaintenanceWindow, ...], *, now: datetime, company_timezone: str, assets: list[Asset],
         counts: dict[str, int]) -> list[WindowRow]:
    names = {a.id.lower(): a.name for a in assets}
    zone = ZoneInfo(company_timezone)
    out = []
    for window in windows:
        status = window_status(window, now)
        if status.status == "active" and status.end is not None:
            text = f"Active now · until {_when(status.end, zone)}"
        elif status.status == "scheduled" and status.start is not None:
            text = f"Next: {_when(status.start, zone)}"
        else:
            text = "Ended"
        scope = [names.get(a.lower(), a) for a in window.assets] + [f"{k}={v}" for k, v in window.tags.items()]
        out.append(WindowRow(window, window.name or window.id, schedule_text(window, company_timezone), scope,
                             status, text, counts.get(window.id, 0)))
    return out
