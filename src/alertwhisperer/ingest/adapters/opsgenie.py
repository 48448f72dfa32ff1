"""Opsgenie outgoing Webhook integration ("Opsgenie to Webhook" alert action data).

``action`` Create / UnAcknowledge -> firing, Acknowledge / Snooze -> acknowledged, Close / Delete ->
resolved. Actions that change nothing about the alert's state (AddNote, AddTags, AssignOwnership, Escalate,
custom actions, ...) are accepted and produce no alert, so a note on a closed alert cannot re-open it.
``alert.priority`` P1..P5 -> critical/high/medium/low/info (Opsgenie's default is P3). The asset is
``alert.entity``, else ``alert.source`` (which is often the integration or the user's e-mail).
``external_id`` = ``alert.alias`` (else ``alertId``); ``delivery_id`` = ``<alertId>:<action>:<updatedAt>``,
which is the same for a re-sent notification and different for every new action on the alert.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from alertwhisperer.ingest.adapters.base import (
    AdapterError,
    AdapterInfo,
    as_text,
    build_alert,
    load_json,
    normalise_severity,
    parse_time,
    require_object,
    str_labels,
)
from alertwhisperer.ingest.schemas import AlertStatus, ParseResult

INFO = AdapterInfo(
    key="opsgenie",
    name="Opsgenie",
    description="Opsgenie outgoing webhook: alert created, acknowledged, closed.",
    # Opsgenie does not document how its outgoing webhook treats a 429. 503 + Retry-After is retried by
    # every sender that retries at all, so rate limiting answers 503 here.
    retries_on_429=False,
    supports=frozenset({"firing", "resolved", "acknowledged"}),
    docs_url="https://support.atlassian.com/opsgenie/docs/integrate-opsgenie-with-outgoing-webhooks/",
)

ACTIONS: dict[str, AlertStatus] = {
    "create": "firing", "unacknowledge": "firing",
    "acknowledge": "acknowledged", "snooze": "acknowledged",
    "close": "resolved", "delete": "resolved",
}


def string(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str | int | float):
        raise AdapterError(f"alert.{key} must be a string, got {type(value).__name__}")
    return as_text(value)


def tag_labels(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        raise AdapterError("alert.tags must be a list of strings")
    labels: dict[str, str] = {}
    for tag in value:
        key, _, val = tag.partition(":")
        if key.strip():
            labels[key.strip()] = val.strip()
    return labels


def parse(body: bytes, headers: Mapping[str, str]) -> ParseResult:
    data = require_object(load_json(body))
    action = as_text(data.get("action"))
    if action is None:
        raise AdapterError("action must be a string (e.g. Create, Acknowledge, Close)")
    alert = require_object(data.get("alert"), "alert")
    status = ACTIONS.get(action.lower())
    if status is None:
        return ParseResult()  # AddNote, AddTags, AssignOwnership, ...: no change of state
    alert_id = string(alert, "alertId")
    name = string(alert, "message")
    if name is None:
        raise AdapterError("alert.message is missing")
    details = alert.get("details")
    if details is not None and not isinstance(details, dict):
        raise AdapterError("alert.details must be an object")
    labels = tag_labels(alert.get("tags")) | str_labels(details)
    teams = alert.get("teams")
    if isinstance(teams, list) and teams:
        labels["teams"] = ",".join(str(t) for t in teams)
    for key in ("tinyId", "alertId"):
        if value := string(alert, key):
            labels[key] = value
    if integration := as_text(data.get("integrationName")):
        labels["integration"] = integration
    original = string(alert, "priority")
    updated_at = string(alert, "updatedAt")
    when = alert.get("createdAt") if status == "firing" and action.lower() == "create" else alert.get("updatedAt")
    return ParseResult(alerts=[build_alert(
        source=INFO.key,
        status=status,
        severity=normalise_severity(original, default="medium"),
        original_severity=original,
        asset_ref=string(alert, "entity") or string(alert, "source"),
        signature=name,
        message=string(alert, "description") or name,
        labels=labels,
        external_id=string(alert, "alias") or alert_id,
        delivery_id=f"{alert_id}:{action}:{updated_at}" if alert_id and updated_at else None,
        occurred_at=parse_time(when if isinstance(when, int | float | str) else None),
        url=None,
    )])
