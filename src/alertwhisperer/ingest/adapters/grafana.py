"""Grafana webhook contact point.

Grafana Alerting (unified alerting, Grafana 8+, payload ``"version": "1"``) sends Alertmanager-style
groups: every ``alerts[]`` entry becomes one AlertIn with its own status, fingerprint and value
(``valueString``, else ``values``). Alerts Grafana raises for a broken query (``DatasourceNoData`` /
``DatasourceError``) are named after the rule they belong to (``rulename`` label).

The legacy dashboard alerting format (Grafana < 9: ``ruleId``, ``ruleName``, ``state``, ``evalMatches``) is
accepted too: one alert per delivery, ``state`` ``ok`` = resolved, anything else (``alerting``, ``no_data``)
= firing; the rule id is the external id.
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
from alertwhisperer.ingest.schemas import AlertIn, ParseResult

INFO = AdapterInfo(
    key="grafana",
    name="Grafana",
    description="Grafana Alerting webhook contact point (and legacy dashboard alert notifications).",
    # Grafana's webhook notifier (Alertmanager-based) retries only 5xx and network errors; a 4xx is final.
    retries_on_429=False,
    supports=frozenset({"firing", "resolved", "batch", "legacy"}),
    docs_url="https://grafana.com/docs/grafana/latest/alerting/configure-notifications/manage-contact-points/"
    "integrations/webhook-notifier/",
)

ASSET_LABELS = ("instance", "host", "hostname", "nodename", "node", "job")
QUERY_FAILURE_ALERTS = ("DatasourceNoData", "DatasourceError")


def string_map(value: Any, what: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise AdapterError(f"{what} must be an object, got {type(value).__name__}")
    for key, item in value.items():
        if isinstance(item, dict | list):
            raise AdapterError(f"{what}.{key} must be a string, got {type(item).__name__}")
    return str_labels(value)


def value_of(alert: Mapping[str, Any], where: str) -> str | None:
    text = as_text(alert.get("valueString"))
    if text:
        return text
    values = alert.get("values")
    if values is None:
        return None
    if not isinstance(values, dict):
        raise AdapterError(f"{where}.values must be an object or null")
    return ", ".join(f"{k}={v}" for k, v in values.items()) or None


def message_from(annotations: Mapping[str, str]) -> str:
    parts: list[str] = []
    for key in ("summary", "description"):
        text = annotations.get(key, "").strip()
        if text and text not in parts:
            parts.append(text)
    if annotations.get("runbook_url"):
        parts.append(f"Runbook: {annotations['runbook_url']}")
    return "\n\n".join(parts)


def parse_unified_alert(item: Any, where: str, group_status: Any) -> AlertIn:
    alert = require_object(item, where)
    labels = string_map(alert.get("labels"), f"{where}.labels")
    annotations = string_map(alert.get("annotations"), f"{where}.annotations")
    raw_status = alert.get("status", group_status)
    if raw_status is not None and not isinstance(raw_status, str):
        raise AdapterError(f"{where}.status must be a string")
    status = "resolved" if raw_status == "resolved" else "firing"
    name = labels.get("alertname") or annotations.get("summary") or "Grafana alert"
    if name in QUERY_FAILURE_ALERTS and labels.get("rulename"):
        name = f"{labels['rulename']} ({name})"
    original = labels.get("severity") or labels.get("priority")
    starts_at = parse_time(alert.get("startsAt"))
    ends_at = parse_time(alert.get("endsAt"))
    return build_alert(
        source=INFO.key,
        status=status,
        severity=normalise_severity(original),
        original_severity=original,
        asset_ref=next((labels[k] for k in ASSET_LABELS if labels.get(k)), None),
        signature=name,
        message=message_from(annotations),
        labels=labels,
        external_id=as_text(alert.get("fingerprint")),
        occurred_at=(ends_at or starts_at) if status == "resolved" else starts_at,
        url=as_text(alert.get("generatorURL")) or as_text(alert.get("panelURL"))
        or as_text(alert.get("dashboardURL")),
        value=value_of(alert, where),
    )


def parse_legacy(data: dict[str, Any]) -> ParseResult:
    state = as_text(data.get("state"))
    if state is None:
        raise AdapterError("state must be a string (legacy Grafana alert)")
    matches = data.get("evalMatches")
    matches = [] if matches is None else matches
    if not isinstance(matches, list):
        raise AdapterError("evalMatches must be a list")
    values: list[str] = []
    asset: str | None = None
    for i, match in enumerate(matches):
        match = require_object(match, f"evalMatches[{i}]")
        tags = string_map(match.get("tags"), f"evalMatches[{i}].tags")
        asset = asset or next((tags[k] for k in ASSET_LABELS if tags.get(k)), None)
        values.append(f"{as_text(match.get('metric')) or '?'}={as_text(match.get('value')) or 'null'}")
    title = as_text(data.get("title")) or ""
    name = as_text(data.get("ruleName")) or title.split("]", 1)[-1].strip() or "Grafana alert"
    labels = string_map(data.get("tags"), "tags")
    original = labels.get("severity")
    severity = normalise_severity(original, default="low" if state == "no_data" else "medium")
    rule_id = as_text(data.get("ruleId"))
    return ParseResult(alerts=[build_alert(
        source=INFO.key,
        status="resolved" if state == "ok" else "firing",
        severity=severity,
        original_severity=original,
        asset_ref=asset,
        signature=name,
        message=as_text(data.get("message")) or title,
        labels=labels | {"grafana_state": state},
        external_id=f"rule-{rule_id}" if rule_id else None,
        url=as_text(data.get("ruleUrl")),
        value=", ".join(values) or None,
    )])


def parse(body: bytes, headers: Mapping[str, str]) -> ParseResult:
    data = require_object(load_json(body))
    if "alerts" not in data and ("evalMatches" in data or "ruleId" in data or "ruleName" in data):
        return parse_legacy(data)
    alerts = data.get("alerts")
    if not isinstance(alerts, list):
        raise AdapterError("alerts must be a list (is this a Grafana webhook payload?)")
    group_status = data.get("status")
    return ParseResult(
        alerts=[parse_unified_alert(a, f"alerts[{i}]", group_status) for i, a in enumerate(alerts)]
    )
