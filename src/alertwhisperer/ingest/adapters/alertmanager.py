"""Prometheus Alertmanager ``webhook_config`` (payload ``"version": "4"``).

One delivery is a notification for one alert group; every entry of ``alerts[]`` becomes one AlertIn with its
own status (a group notification can mix firing and resolved alerts). ``labels`` are kept as they are;
``annotations.summary``/``description`` make the message. Alertmanager has no per-notification id, so
``delivery_id`` stays None (the endpoint uses ``X-Delivery-ID`` when a proxy sets one).
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
)
from alertwhisperer.ingest.schemas import AlertIn, ParseResult

INFO = AdapterInfo(
    key="alertmanager",
    name="Prometheus Alertmanager",
    description="Alertmanager webhook receiver (payload version 4): batches of firing and resolved alerts.",
    # Alertmanager's webhook notifier retries only on 5xx and network errors; any 4xx drops the
    # notification for good, so a rate-limited delivery must be answered 503 + Retry-After.
    retries_on_429=False,
    supports=frozenset({"firing", "resolved", "batch"}),
    docs_url="https://prometheus.io/docs/alerting/latest/configuration/#webhook_config",
)

# label names that say which machine/endpoint an alert is about, best first
ASSET_LABELS = ("instance", "host", "hostname", "nodename", "node", "job")


def string_map(value: Any, what: str) -> dict[str, str]:
    """A label/annotation set: a JSON object whose values are scalars (Alertmanager sends only strings)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise AdapterError(f"{what} must be an object, got {type(value).__name__}")
    out: dict[str, str] = {}
    for key, item in value.items():
        if isinstance(item, dict | list):
            raise AdapterError(f"{what}.{key} must be a string, got {type(item).__name__}")
        if item is not None:
            out[str(key)] = item if isinstance(item, str) else str(item)
    return out


def message_from(annotations: Mapping[str, str]) -> str:
    summary = annotations.get("summary") or annotations.get("message") or ""
    description = annotations.get("description") or ""
    parts = [p for p in (summary.strip(), description.strip()) if p]
    if len(parts) == 2 and parts[0] == parts[1]:
        parts = parts[:1]
    runbook = annotations.get("runbook_url") or annotations.get("runbook")
    if runbook:
        parts.append(f"Runbook: {runbook}")
    return "\n\n".join(parts)


def parse_alert(item: Any, where: str, group_status: str | None) -> AlertIn:
    alert = require_object(item, where)
    labels = string_map(alert.get("labels"), f"{where}.labels")
    annotations = string_map(alert.get("annotations"), f"{where}.annotations")
    raw_status = alert.get("status", group_status)
    if raw_status is not None and not isinstance(raw_status, str):
        raise AdapterError(f"{where}.status must be a string")
    status = "resolved" if raw_status == "resolved" else "firing"
    starts_at = parse_time(alert.get("startsAt"))
    ends_at = parse_time(alert.get("endsAt"))
    signature = labels.get("alertname") or annotations.get("summary") or "Alertmanager alert"
    original = labels.get("severity") or labels.get("priority")
    return build_alert(
        source=INFO.key,
        status=status,
        severity=normalise_severity(original),
        original_severity=original,
        asset_ref=next((labels[k] for k in ASSET_LABELS if labels.get(k)), None),
        signature=signature,
        message=message_from(annotations),
        labels=labels,
        external_id=as_text(alert.get("fingerprint")),
        occurred_at=(ends_at or starts_at) if status == "resolved" else starts_at,
        url=as_text(alert.get("generatorURL")),
        value=annotations.get("value"),
    )


def parse(body: bytes, headers: Mapping[str, str]) -> ParseResult:
    data = require_object(load_json(body))
    alerts = data.get("alerts")
    if not isinstance(alerts, list):
        raise AdapterError("alerts must be a list (is this an Alertmanager webhook payload?)")
    group_status = data.get("status")
    if group_status is not None and not isinstance(group_status, str):
        raise AdapterError("status must be a string")
    return ParseResult(alerts=[parse_alert(a, f"alerts[{i}]", group_status) for i, a in enumerate(alerts)])
