"""Google Cloud Monitoring webhook notification channel (incident schema version 1.2).

Body: ``{"version": "1.2", "incident": {...}}``; ``incident.state`` is ``open`` or ``closed`` and the same
``incident_id`` is carried by both, so it is the pairing ``external_id``. The console's "Test connection"
button sends ``"version": "test"``: that is answered as a ``test`` control message, not stored as an alert.
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
    parse_time,
    require_object,
    str_labels,
)
from alertwhisperer.ingest.schemas import AlertIn, AlertStatus, ControlMessage, ParseResult, Severity

INFO = AdapterInfo(
    key="gcp-monitoring",
    name="Google Cloud Monitoring",
    description="Cloud Monitoring webhook notification channel (incident schema 1.2): open and closed incidents.",
    # Cloud Monitoring cannot set request headers, so the key travels as ?api_key=. Its retry policy for
    # webhook failures is not documented per status code; nothing says it drops 4xx, so 429 is used.
    retries_on_429=True,
    supports=frozenset({"firing", "resolved", "test"}),
    docs_url="https://cloud.google.com/monitoring/support/notification-options#webhooks",
)

# Alert policy severity (policy.severity): CRITICAL, ERROR, WARNING; unset shows as "no severity".
_SEVERITY: dict[str, Severity] = {
    "critical": "critical",
    "error": "high",
    "warning": "medium",
    "no severity": "medium",
}
_STATUS: dict[str, AlertStatus] = {"open": "firing", "closed": "resolved", "acknowledged": "acknowledged"}
# Resource labels that name the monitored thing, best first (after resource_display_name).
_ASSET_LABELS = ("instance_id", "host", "hostname", "node_name", "pod_name", "container_name",
                 "cluster_name", "database_id", "instance_name", "service_name", "bucket_name")


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _labels(incident: dict[str, Any]) -> dict[str, str]:
    labels: dict[str, str] = {}
    resource = _dict(incident.get("resource"))
    metric = _dict(incident.get("metric"))
    metadata = _dict(incident.get("metadata"))
    for prefix, data in (
        ("resource.", _dict(resource.get("labels"))),
        ("metric.", _dict(metric.get("labels"))),
        ("system.", _dict(metadata.get("system_labels"))),
        ("user.", _dict(metadata.get("user_labels"))),
        ("policy.", _dict(incident.get("policy_user_labels"))),
    ):
        labels.update({prefix + k: v for k, v in str_labels(data).items()})
    for key, value in (
        ("resource_type", resource.get("type")),
        ("resource_type_display_name", incident.get("resource_type_display_name")),
        ("metric_type", metric.get("type")),
        ("metric_display_name", metric.get("displayName")),
        ("project_id", incident.get("scoping_project_id")),
        ("policy_name", incident.get("policy_name")),
        ("condition_name", incident.get("condition_name")),
        ("threshold_value", incident.get("threshold_value")),
        ("gcp_severity", incident.get("severity")),
    ):
        text = as_text(value)
        if text is not None:
            labels[key] = text
    return labels


def _asset_ref(incident: dict[str, Any]) -> str | None:
    for key in ("resource_display_name", "resource_name"):
        text = as_text(incident.get(key))
        if text:
            return text
    resource_labels = _dict(_dict(incident.get("resource")).get("labels"))
    for key in _ASSET_LABELS:
        text = as_text(resource_labels.get(key))
        if text:
            return text
    return as_text(incident.get("resource_id"))


def _signature(incident: dict[str, Any]) -> str:
    policy = as_text(incident.get("policy_name"))
    condition = as_text(incident.get("condition_name")) or as_text(_dict(incident.get("condition")).get("displayName"))
    if policy and condition and policy != condition:
        return f"{policy}: {condition}"
    return policy or condition or as_text(incident.get("summary")) or "Cloud Monitoring incident"


def _message(incident: dict[str, Any]) -> str:
    summary = as_text(incident.get("summary")) or ""
    documentation = incident.get("documentation")
    doc = as_text(documentation) if isinstance(documentation, str) else as_text(_dict(documentation).get("content"))
    return f"{summary}\n\n{doc}" if summary and doc else summary or doc or ""


def _alert(incident: dict[str, Any]) -> AlertIn:
    incident_id = as_text(incident.get("incident_id"))
    if incident_id is None:
        raise AdapterError("incident.incident_id is missing")
    state = as_text(incident.get("state"))
    if state is None:
        raise AdapterError("incident.state is missing (expected 'open' or 'closed')")
    status = _STATUS.get(state.lower())
    if status is None:
        raise AdapterError(f"incident.state {state!r} is not one of 'open', 'closed'")
    original = as_text(incident.get("severity"))
    started = parse_time(incident.get("started_at"))
    ended = parse_time(incident.get("ended_at"))
    return AlertIn(
        source=INFO.key,
        status=status,
        severity=_SEVERITY.get((original or "").lower(), "medium"),
        original_severity=original,
        asset_ref=_asset_ref(incident),
        signature=clip(_signature(incident), 500),
        message=clip(_message(incident), 20_000),
        labels=_labels(incident),
        external_id=incident_id,
        # One notification per incident state change; a repeat of the same state is the same news.
        delivery_id=f"{incident_id}:{state.lower()}",
        occurred_at=(ended or started) if status == "resolved" else started,
        url=as_text(incident.get("url")),
        value=as_text(incident.get("observed_value")),
    )


def parse(body: bytes, headers: Mapping[str, str]) -> ParseResult:
    data = require_object(load_json(body))
    incident = data.get("incident")
    if not isinstance(incident, dict):
        raise AdapterError("'incident' object is missing: not a Cloud Monitoring webhook notification")
    version = as_text(data.get("version"))
    if version is not None and version.lower() == "test":
        return ParseResult(control=ControlMessage(kind="test", details={
            "tool": INFO.name,
            "summary": as_text(incident.get("summary")) or "",
            "policy_name": as_text(incident.get("policy_name")) or "",
        }))
    try:
        return ParseResult(alerts=[_alert(incident)])
    except ValidationError as exc:  # a value the schema refuses: still the sender's problem, so a 4xx
        raise AdapterError(f"incident cannot be represented: {exc.errors()[0]['msg']}") from exc
