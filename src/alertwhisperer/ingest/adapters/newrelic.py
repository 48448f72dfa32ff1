"""New Relic Alerts: workflow webhook destination with the default payload template.

The default template renders ``id`` (issue id), ``issueUrl``, ``title``, ``priority`` (CRITICAL/HIGH/MEDIUM/
LOW), ``impactedEntities``, ``state`` (CREATED/ACTIVATED/ACKNOWLEDGED/CLOSED), ``trigger``, ``createdAt``/
``updatedAt`` (epoch ms), ``sources``, ``alertPolicyNames``, ``alertConditionNames``, ``workflowName``.
Templates edited in the UI often use the variable names themselves (``issueId``, ``issuePageUrl``,
``entitiesData.names``): those are accepted as well. The legacy (pre-workflow) alert channel webhook
(``current_state``, ``incident_id``, ``targets``) is also understood.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from alertwhisperer.ingest.adapters.base import (
    AdapterError,
    AdapterInfo,
    as_text,
    clip,
    load_json,
    normalise_severity,
    parse_time,
    require_object,
)
from alertwhisperer.ingest.schemas import AlertIn, AlertStatus, ParseResult, Severity

INFO = AdapterInfo(
    key="newrelic",
    name="New Relic",
    description="New Relic workflows (webhook destination, default template) and legacy alert channel webhooks.",
    # The webhook destination can add custom headers (X-API-Key). New Relic does not document dropping
    # 4xx responses, so a limited delivery is answered 429 + Retry-After.
    retries_on_429=True,
    supports=frozenset({"firing", "resolved", "acknowledged"}),
    docs_url="https://docs.newrelic.com/docs/alerts/get-notified/notification-integrations/#webhook",
)

_STATE: dict[str, AlertStatus] = {
    "created": "firing", "activated": "firing", "acknowledged": "acknowledged", "closed": "resolved",
    # legacy channel webhook current_state
    "open": "firing",
}
_PRIORITY: dict[str, Severity] = {"critical": "critical", "high": "high", "medium": "medium", "low": "low",
                                  "warning": "medium", "info": "info"}


def _names(value: Any) -> list[str]:
    """A template variable rendered as a list (or a single string) -> non-empty strings."""
    items = value if isinstance(value, list) else [value]
    return [text for text in (as_text(item) for item in items) if text]


def _first(data: Mapping[str, Any], *keys: str) -> Any:
    for key in keys:
        if data.get(key) is not None:
            return data[key]
    return None


def _status(state: str | None) -> AlertStatus:
    if state is None:
        raise AdapterError("'state' is missing (expected ACTIVATED, ACKNOWLEDGED or CLOSED)")
    status = _STATE.get(state.lower())
    if status is None:
        raise AdapterError(f"state {state!r} is not one of CREATED, ACTIVATED, ACKNOWLEDGED, CLOSED")
    return status


def _workflow_alert(data: dict[str, Any]) -> AlertIn:
    issue_id = as_text(_first(data, "id", "issueId"))
    if issue_id is None:
        raise AdapterError("issue 'id' is missing (the default template renders it from {{issueId}})")
    state = as_text(data.get("state"))
    status = _status(state)
    entities = _names(_first(data, "impactedEntities", "entitiesData.names", "entityNames", "targets"))
    conditions = _names(_first(data, "alertConditionNames", "accumulations.conditionName"))
    policies = _names(_first(data, "alertPolicyNames", "accumulations.policyName"))
    # {{json annotations.title}} renders a list; the default template picks its first element.
    title = next(iter(_names(_first(data, "title", "annotations.title", "issueTitle"))), None)
    priority = as_text(data.get("priority"))
    labels: dict[str, str] = {}
    for key, values in (("entities", entities), ("conditions", conditions), ("policies", policies),
                        ("sources", _names(_first(data, "sources", "accumulations.source")))):
        if values:
            labels[key] = ", ".join(values)
    for key in ("trigger", "workflowName", "totalIncidents", "isCorrelated", "accountId"):
        text = as_text(data.get(key)) if not isinstance(data.get(key), bool) else str(data[key]).lower()
        if text:
            labels[key] = text
    updated = data.get("updatedAt")
    occurred = parse_time(updated) if status != "firing" else parse_time(data.get("createdAt"))
    return AlertIn(
        source=INFO.key,
        status=status,
        severity=_PRIORITY.get((priority or "").lower(), normalise_severity(priority)),
        original_severity=priority,
        asset_ref=entities[0] if entities else None,
        signature=clip(conditions[0] if conditions else title or "New Relic issue", 500),
        message=clip(title or "", 20_000),
        labels=labels,
        external_id=issue_id,
        delivery_id=f"{issue_id}:{(state or '').upper()}:{as_text(updated) or ''}:{labels.get('trigger', '')}",
        occurred_at=occurred or parse_time(data.get("createdAt")),
        url=as_text(_first(data, "issueUrl", "issuePageUrl")),
    )


def _legacy_alert(data: dict[str, Any]) -> AlertIn:
    incident_id = as_text(data.get("incident_id"))
    if incident_id is None:
        raise AdapterError("'incident_id' is missing from the legacy alert webhook")
    state = as_text(data.get("current_state"))
    status = _status(state)
    targets = [t for t in data["targets"] if isinstance(t, dict)] if isinstance(data.get("targets"), list) else []
    names = [name for name in (as_text(t.get("name")) for t in targets) if name]
    severity = as_text(data.get("severity"))
    labels = {key: text for key in ("policy_name", "condition_name", "event_type", "account_name", "owner")
              if (text := as_text(data.get(key)))}
    if names:
        labels["targets"] = ", ".join(names)
    return AlertIn(
        source=INFO.key,
        status=status,
        severity=_PRIORITY.get((severity or "").lower(), normalise_severity(severity)),
        original_severity=severity,
        asset_ref=names[0] if names else None,
        signature=clip(as_text(data.get("condition_name")) or as_text(data.get("policy_name"))
                        or "New Relic incident", 500),
        message=clip(as_text(data.get("details")) or "", 20_000),
        labels=labels,
        external_id=incident_id,
        delivery_id=f"{incident_id}:{(state or '').lower()}:{as_text(data.get('timestamp')) or ''}",
        occurred_at=parse_time(data.get("timestamp")),
        url=as_text(data.get("incident_url")),
    )


def parse(body: bytes, headers: Mapping[str, str]) -> ParseResult:
    data = require_object(load_json(body))
    try:
        if "current_state" in data and "incident_id" in data:
            return ParseResult(alerts=[_legacy_alert(data)])
        return ParseResult(alerts=[_workflow_alert(data)])
    except ValidationError as exc:
        raise AdapterError(f"issue cannot be represented: {exc.errors()[0]['msg']}") from exc
