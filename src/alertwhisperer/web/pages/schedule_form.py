"""The console's schedule editor and override form: form fields <-> schedule JSON, and errors per form field.

Layers are numbered fieldsets (``layers-<n>-<field>``); members are ordered slots (``layers-<n>-members``, one
select per position, empty slots skipped). The editor always shows one blank layer at the end: filling in its name
and members adds it; "remove" drops a layer.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from alertwhisperer.errors import Invalid
from alertwhisperer.incidents.models import OnCallSchedule
from alertwhisperer.web.forms import Form, FormErrors

WEEKDAYS: list[tuple[int, str]] = [(0, "Mon"), (1, "Tue"), (2, "Wed"), (3, "Thu"), (4, "Fri"), (5, "Sat"), (6, "Sun")]
WEEKDAY_NAMES = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
LAYER_KEY = re.compile(r"^layers-(\d+)-")
LOCAL_FMT = "%Y-%m-%dT%H:%M"
MIN_SLOTS = 4


def blank_layer(today: date, n: int) -> dict[str, Any]:
    return {"name": "", "rotation": "weekly", "handoff_time": "09:00", "handoff_weekday": "0",
            "starts_on": today.isoformat(), "members": [], "days": [], "hours_from": "", "hours_to": "",
            "blank": True, "n": n}


def _layer_values(raw: dict[str, Any], n: int) -> dict[str, Any]:
    return {"name": raw.get("name", ""), "rotation": raw.get("rotation", "weekly"),
            "handoff_time": raw.get("handoff_time", "09:00"), "handoff_weekday": str(raw.get("handoff_weekday", 0)),
            "starts_on": str(raw.get("starts_on", "")), "members": list(raw.get("members") or []),
            "days": [str(d) for d in raw.get("days") or []], "hours_from": raw.get("hours_from") or "",
            "hours_to": raw.get("hours_to") or "", "blank": False, "n": n}


def schedule_values(row: OnCallSchedule | None, *, today: date, company_id: str | None = None,
                    timezone: str = "UTC") -> dict[str, Any]:
    """The editor's values for a schedule (None: a new one), with a blank layer to add at the end."""
    if row is None:
        return {"company_id": company_id or "", "name": "", "category": "", "timezone": timezone,
                "description": "", "layers": [blank_layer(today, 0)]}
    layers = [_layer_values(raw, i) for i, raw in enumerate(row.layers or [])]
    return {"company_id": row.company_id or "", "name": row.name, "category": row.category or "",
            "timezone": row.timezone, "description": row.description,
            "layers": [*layers, blank_layer(today, len(layers))]}


def _indices(form: Form) -> list[int]:
    found = set()
    for key in form.values():
        match = LAYER_KEY.match(key)
        if match:
            found.add(int(match.group(1)))
    return sorted(found)


def _form_layer(form: Form, n: int) -> dict[str, Any]:
    p = f"layers-{n}-"
    return {"name": form.text(p + "name"), "rotation": form.text(p + "rotation") or "weekly",
            "handoff_time": form.text(p + "handoff_time"), "handoff_weekday": form.text(p + "handoff_weekday") or "0",
            "starts_on": form.text(p + "starts_on"), "members": form.many(p + "members"),
            "days": form.many(p + "days"), "hours_from": form.text(p + "hours_from"),
            "hours_to": form.text(p + "hours_to"), "remove": form.checked(p + "remove")}


def _is_blank(layer: dict[str, Any]) -> bool:
    return not layer["name"] and not layer["members"]


def schedule_data(form: Form, *, with_company: bool) -> tuple[dict[str, Any], list[int]]:
    """The submitted editor as schedule JSON for the service, and the form number of each layer kept."""
    data: dict[str, Any] = {"name": form.text("name"), "category": form.text("category") or None,
                            "timezone": form.text("timezone") or "UTC", "description": form.text("description")}
    if with_company:
        data["company_id"] = form.text("company_id") or None
    layers: list[dict[str, Any]] = []
    kept: list[int] = []
    for n in _indices(form):
        layer = _form_layer(form, n)
        if layer.pop("remove") or _is_blank(layer):
            continue
        layer["days"] = [int(d) for d in layer["days"] if d.isdigit()]
        layer["hours_from"] = layer["hours_from"] or None
        layer["hours_to"] = layer["hours_to"] or None
        layer["handoff_weekday"] = int(layer["handoff_weekday"]) if layer["handoff_weekday"].isdigit() else 0
        layer["starts_on"] = layer["starts_on"] or None
        layers.append(layer)
        kept.append(n)
    data["layers"] = layers
    return data, kept


def form_values(form: Form, *, today: date) -> dict[str, Any]:
    """What was typed, to show again with the errors (removed layers stay gone; the blank one is kept)."""
    layers = []
    for n in _indices(form):
        layer = _form_layer(form, n)
        if layer.pop("remove"):
            continue
        layers.append({**layer, "blank": _is_blank(layer), "n": n})
    if not layers or not layers[-1]["blank"]:
        layers.append(blank_layer(today, (layers[-1]["n"] + 1) if layers else 0))
    return {"company_id": form.text("company_id"), "name": form.text("name"), "category": form.text("category"),
            "timezone": form.text("timezone"), "description": form.text("description"), "layers": layers}


def schedule_errors(exc: Invalid, kept: list[int]) -> FormErrors:
    """The service's problems as errors on the editor's fields (``layers.1.members`` -> ``layers-<n>-members``)."""
    problems = exc.details.get("problems") if isinstance(exc.details, dict) else None
    if not problems:
        problems = [{"field": exc.field, "message": exc.message}]
    errors: FormErrors = {}
    for p in problems:
        parts = [part for part in str(p.get("field") or "__all__").split(".") if part]
        if len(parts) >= 2 and parts[0] == "layers" and parts[1].isdigit():
            index = int(parts[1])
            n = kept[index] if index < len(kept) else index
            name = next((part for part in parts[2:] if not part.isdigit()), "name")
            field = f"layers-{n}-{name}"
        else:
            field = parts[0]
        message = str(p.get("message", "invalid value"))
        errors.setdefault(field, message[:1].upper() + message[1:])
    return errors


def member_slots(layer: dict[str, Any]) -> list[str]:
    """The member selects to show: the chosen members in order, then empty ones."""
    members = list(layer.get("members") or [])
    return members + [""] * max(MIN_SLOTS - len(members), 2)


# --- overrides -------------------------------------------------------------------------------------------------
def _local(text: str, zone: ZoneInfo, field: str) -> str:
    try:
        naive = datetime.strptime(text.strip(), LOCAL_FMT)
    except ValueError as exc:
        raise Invalid("Enter a date and time", field=field) from exc
    return naive.replace(tzinfo=zone).isoformat()


def override_data(form: Form, *, timezone: str) -> dict[str, Any]:
    zone = ZoneInfo(timezone)
    user_id = form.text("user_id")
    if not user_id:
        raise Invalid("Choose who covers", field="user_id")
    return {"user_id": user_id, "starts_at": _local(form.text("starts_local"), zone, "starts_local"),
            "ends_at": _local(form.text("ends_local"), zone, "ends_local"), "reason": form.text("reason")}


def override_errors(exc: Invalid) -> FormErrors:
    aliases = {"starts_at": "starts_local", "ends_at": "ends_local"}
    problems = exc.details.get("problems") if isinstance(exc.details, dict) else None
    if not problems:
        problems = [{"field": exc.field, "message": exc.message}]
    errors: FormErrors = {}
    for p in problems:
        field = str(p.get("field") or "__all__").split(".")[0]
        message = str(p.get("message", "invalid value"))
        errors.setdefault(aliases.get(field, field), message[:1].upper() + message[1:])
    return errors
