"""PagerDuty Events API v2 senders (``POST /v2/enqueue`` bodies), for tools that can only "send to PagerDuty".

Alertmanager ``pagerduty_configs``, Grafana's PagerDuty contact point, Zabbix's PagerDuty media type and many
others emit this format; point their Events API URL at us. ``event_action`` trigger = firing, acknowledge =
acknowledged, resolve = resolved, all keyed by ``dedup_key`` (the external id). Acknowledge and resolve
events carry only the ``dedup_key``, so their signature is the ``dedup_key`` and they must be paired with
the trigger by external id. ``payload.severity`` critical/error/warning/info -> critical/high/medium/info.
The legacy Events API v1 (``service_key``, ``event_type``, ``incident_key``, ``description``) and a JSON list of
events (several events in one body) are accepted too. The ``routing_key``/``service_key`` is never kept.
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
from alertwhisperer.ingest.schemas import AlertIn, AlertStatus, ParseResult

INFO = AdapterInfo(
    key="pagerduty",
    name="PagerDuty Events API v2 (compatible senders)",
    description="Any tool that sends PagerDuty Events API v2 (or v1) events: trigger, acknowledge, resolve.",
    # PagerDuty's Events API itself answers 429 when rate limited, and its senders (e.g. Alertmanager's
    # PagerDuty notifier) retry 429, so 429 + Retry-After is the right answer.
    retries_on_429=True,
    supports=frozenset({"firing", "resolved", "acknowledged", "batch", "events-v1"}),
    docs_url="https://developer.pagerduty.com/docs/events-api-v2/trigger-events/",
)

ACTIONS: dict[str, AlertStatus] = {"trigger": "firing", "acknowledge": "acknowledged", "resolve": "resolved"}


def string(data: Mapping[str, Any], key: str, where: str) -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str | int | float):
        raise AdapterError(f"{where}{key} must be a string, got {type(value).__name__}")
    return as_text(value)


def details_labels(value: Any) -> tuple[dict[str, str], str]:
    """custom_details: an object becomes labels; any other value is appended to the message."""
    if isinstance(value, dict):
        return str_labels(value), ""
    if value is None:
        return {}, ""
    return {}, value if isinstance(value, str) else str(value)


def first_link(links: Any, where: str) -> str | None:
    if links is None:
        return None
    if not isinstance(links, list):
        raise AdapterError(f"{where}links must be a list")
    for link in links:
        if isinstance(link, dict) and (href := as_text(link.get("href"))):
            return href
    return None


def parse_v2(event: dict[str, Any], where: str) -> AlertIn:
    action = string(event, "event_action", where)
    if action not in ACTIONS:
        raise AdapterError(f"{where}event_action must be one of trigger, acknowledge, resolve")
    dedup_key = string(event, "dedup_key", where)
    url = first_link(event.get("links"), where) or string(event, "client_url", where)
    payload = event.get("payload")
    if payload is not None and not isinstance(payload, dict):
        raise AdapterError(f"{where}payload must be an object")
    if action == "trigger" and payload is None:
        raise AdapterError(f"{where}payload must be an object for a trigger event")
    if action != "trigger" and dedup_key is None:
        raise AdapterError(f"{where}dedup_key is required for {action} events")
    summary = string(payload, "summary", f"{where}payload.") if payload else None
    if payload is None or summary is None:
        if action == "trigger":
            raise AdapterError(f"{where}payload.summary is required")
        # acknowledge/resolve usually carry only the dedup_key (some senders repeat the payload)
        return build_alert(source=INFO.key, status=ACTIONS[action], signature=dedup_key,
                           external_id=dedup_key, url=url, severity="info")
    original = string(payload, "severity", f"{where}payload.")
    labels, extra = details_labels(payload.get("custom_details"))
    for key in ("component", "group", "class"):
        if value := string(payload, key, f"{where}payload."):
            labels[key] = value
    if client := string(event, "client", where):
        labels["client"] = client
    return build_alert(
        source=INFO.key,
        status=ACTIONS[action],
        severity=normalise_severity(original),
        original_severity=original,
        asset_ref=string(payload, "source", f"{where}payload."),
        signature=summary,
        message="\n\n".join(p for p in (summary, extra) if p),
        labels=labels,
        external_id=dedup_key,
        occurred_at=parse_time(payload.get("timestamp")),
        url=url,
    )


def parse_v1(event: dict[str, Any], where: str) -> AlertIn:
    action = string(event, "event_type", where)
    if action not in ACTIONS:
        raise AdapterError(f"{where}event_type must be one of trigger, acknowledge, resolve")
    incident_key = string(event, "incident_key", where)
    description = string(event, "description", where)
    labels, extra = details_labels(event.get("details"))
    if action != "trigger" and incident_key is None:
        raise AdapterError(f"{where}incident_key is required for {action} events")
    if action == "trigger" and description is None:
        raise AdapterError(f"{where}description is required for a trigger event")
    return build_alert(
        source=INFO.key,
        status=ACTIONS[action],
        severity="high" if action == "trigger" else "info",  # v1 has no severity; PagerDuty treats it as error
        signature=description or incident_key,
        message="\n\n".join(p for p in (description or "", extra) if p),
        labels=labels,
        external_id=incident_key,
        url=string(event, "client_url", where),
    )


def parse_event(item: Any, where: str) -> AlertIn:
    event = require_object(item, where.rstrip(".") or "body")
    if "event_action" in event or "event_type" not in event:
        return parse_v2(event, where)
    return parse_v1(event, where)


def parse(body: bytes, headers: Mapping[str, str]) -> ParseResult:
    data = load_json(body)
    if isinstance(data, list):
        return ParseResult(alerts=[parse_event(e, f"[{i}].") for i, e in enumerate(data)])
    return ParseResult(alerts=[parse_event(data, "")])
