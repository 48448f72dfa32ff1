"""Icinga: the Icinga Notifications webhook channel, and Icinga 2's documented notification command.

1. **Icinga Notifications** (the notification daemon fed by Icinga DB) has a built-in Webhook channel
   whose default body is ``{{json .}}`` of the plugin's NotificationRequest: ``contact``, ``object``
   (``name`` "host!service", ``url``, ``tags`` {host, service}), ``incident`` (``id``, ``severity`` ok|debug|
   info|notice|warning|err|crit|alert|emerg, newer releases also ``muted``/``recovered``; null for
   notifications outside an incident) and ``event`` (``time``, ``message``). The request carries no event
   type, so an acknowledgement is indistinguishable from a repeat of the state: both arrive as firing.
2. **Icinga 2 NotificationCommand** (classic, no native webhook): our guide's commands post runtime
   macros form-encoded (JSON accepted too): ``notification_type`` ($notification.type$), ``host``
   ($host.name$), ``host_display_name``, ``address``, ``service`` ($service.name$, absent for host
   notifications), ``service_display_name``, ``state`` ($service.state$ / $host.state$), ``output``,
   ``timestamp`` ($icinga.timet$), ``datetime``, ``author``, ``comment``. Macro names (``host.name``,
   ``HOSTNAME``, ``SERVICENAME``, ...) are accepted as keys too.

Both pair firing and resolved on ``host!service`` (or ``host``), Icinga's own object name.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

from pydantic import ValidationError

from alertwhisperer.ingest.adapters.base import (
    AdapterError,
    AdapterInfo,
    as_text,
    clip,
    header,
    parse_time,
)
from alertwhisperer.ingest.schemas import AlertIn, AlertStatus, ParseResult, Severity

INFO = AdapterInfo(
    key="icinga",
    name="Icinga",
    description="Icinga Notifications webhook channel and Icinga 2 notification commands (curl).",
    # The Icinga 2 commands run `curl --retry` (retries 429 and 5xx, honouring Retry-After). The Icinga
    # Notifications webhook plugin makes one attempt and treats any unexpected status as failed.
    retries_on_429=True,
    supports=frozenset({"firing", "resolved", "acknowledged"}),
    docs_url="https://icinga.com/docs/icinga-notifications/latest/",
)

HOST_SIGNATURE = "Host down"
_EVENT_SEVERITY: dict[str, Severity] = {
    "ok": "info", "debug": "info", "info": "info", "notice": "low", "warning": "medium", "err": "high",
    "crit": "critical", "alert": "critical", "emerg": "critical",
}
_STATE_SEVERITY: dict[str, Severity] = {
    "CRITICAL": "critical", "WARNING": "medium", "UNKNOWN": "medium", "OK": "info",
    "DOWN": "critical", "UNREACHABLE": "high", "UP": "info",
}
_TYPE_STATUS: dict[str, AlertStatus] = {
    "PROBLEM": "firing", "RECOVERY": "resolved", "ACKNOWLEDGEMENT": "acknowledged",
}
_ALIASES = {
    "notification.type": "notification_type", "notificationtype": "notification_type",
    "host.name": "host", "hostname": "host", "host_name": "host",
    "host.display_name": "host_display_name", "hostdisplayname": "host_display_name", "hostalias": "host_display_name",
    "address": "address", "host.address": "address", "hostaddress": "address",
    "service.name": "service", "servicename": "service", "servicedesc": "service",
    "service.display_name": "service_display_name", "servicedisplayname": "service_display_name",
    "service.state": "state", "servicestate": "state", "host.state": "host_state", "hoststate": "host_state",
    "service.output": "output", "serviceoutput": "output", "host.output": "host_output", "hostoutput": "host_output",
    "icinga.timet": "timestamp", "icinga.long_date_time": "datetime", "longdatetime": "datetime",
    "notification.author": "author", "notificationauthorname": "author",
    "notification.comment": "comment", "notificationcomment": "comment",
}


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _load_fields(body: bytes, headers: Mapping[str, str]) -> dict[str, Any]:
    """JSON object (the webhook channel sets no Content-Type by default) or a form-encoded body."""
    content_type = (header(headers, "content-type") or "").lower()
    if "json" in content_type or body.lstrip().startswith((b"{", b"[")):
        try:
            data = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise AdapterError(f"body is not valid JSON: {exc}") from exc
        except RecursionError as exc:
            raise AdapterError("body is nested too deeply") from exc
        if not isinstance(data, dict):
            raise AdapterError(f"body must be a JSON object, got {type(data).__name__}")
        return data
    if "x-www-form-urlencoded" in content_type or b"=" in body:
        return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    raise AdapterError("body is neither a JSON object nor form-encoded (key=value&...)")


def _notifications_alert(data: dict[str, Any]) -> AlertIn:
    """Icinga Notifications webhook channel, default body template."""
    obj, event = _dict(data.get("object")), _dict(data.get("event"))
    tags = {str(k): v for k, v in ((k, as_text(v)) for k, v in _dict(obj.get("tags")).items()) if v}
    name = as_text(obj.get("name"))
    host = tags.get("host") or (name.split("!", 1)[0] if name else None)
    service = tags.get("service") or (name.split("!", 1)[1] if name and "!" in name else None)
    object_name = name or (f"{host}!{service}" if host and service else host)
    if object_name is None:
        raise AdapterError("object.name is missing (and object.tags has no host)")
    raw_incident = data.get("incident")
    if raw_incident is not None and not isinstance(raw_incident, dict):
        raise AdapterError(f"'incident' must be an object or null, got {type(raw_incident).__name__}")
    incident = raw_incident or {}
    severity_raw = as_text(incident.get("severity"))
    if severity_raw is not None and severity_raw.lower() not in _EVENT_SEVERITY:
        raise AdapterError(f"incident.severity {severity_raw!r} is not one of {', '.join(_EVENT_SEVERITY)}")
    recovered = incident.get("recovered") is True or (severity_raw or "").lower() == "ok"
    status: AlertStatus = "resolved" if recovered else "firing"
    labels = {f"tag.{k}": v for k, v in tags.items()}
    labels.update({k: v for k, v in (("incident_id", as_text(incident.get("id"))),
                                     ("muted", "true" if incident.get("muted") is True else None),
                                     ("service", service)) if v})
    event_time = as_text(event.get("time"))
    return AlertIn(
        source=INFO.key,
        status=status,
        # no incident: a notification outside any incident (e.g. a custom one) - informational
        severity=_EVENT_SEVERITY.get((severity_raw or "").lower(), "info" if not incident else "medium"),
        original_severity=severity_raw,
        asset_ref=host,
        signature=clip(service or HOST_SIGNATURE, 500),
        message=clip(as_text(event.get("message")) or "", 20_000),
        labels=labels,
        external_id=object_name,
        # variable parts first: the idempotency key is cut at 190 characters
        delivery_id=f"{event_time}:{severity_raw or ''}:{object_name}" if event_time else None,
        occurred_at=parse_time(event_time),
        url=as_text(obj.get("url")) or as_text(incident.get("url")),
    )


def _long_date_time(text: str | None) -> datetime | None:
    """$icinga.long_date_time$ renders as "2024-01-15 10:21:04 +0100"."""
    try:
        return datetime.strptime(text or "", "%Y-%m-%d %H:%M:%S %z")
    except ValueError:
        return parse_time(text)


def _command_alert(raw: Mapping[str, Any]) -> AlertIn:
    """Icinga 2 NotificationCommand posting runtime macros."""
    fields: dict[str, str] = {}
    for key, value in raw.items():
        name = str(key).strip().strip("$").lower()
        text = as_text(value)
        if text is not None:
            fields[_ALIASES.get(name, name)] = text
    host = fields.get("host")
    if host is None:
        raise AdapterError("'host' ($host.name$) is missing; for the Icinga Notifications webhook the body "
                           "needs 'object' and 'event'")
    service = fields.get("service")
    state = fields.get("state") if service else fields.get("state") or fields.get("host_state")
    output = fields.get("output") if service else fields.get("output") or fields.get("host_output")
    ntype = (fields.get("notification_type") or "").upper() or None
    state_up = (state or "").upper() or None
    if ntype is None and state_up is None:
        raise AdapterError("neither 'notification_type' ($notification.type$) nor 'state' is present")
    if state_up is not None and state_up not in _STATE_SEVERITY:
        raise AdapterError(f"state {state!r} is not an Icinga state (OK, WARNING, CRITICAL, UNKNOWN, UP, DOWN)")
    status = _TYPE_STATUS.get(ntype or "") or ("resolved" if state_up in {"OK", "UP"} else "firing")
    object_name = f"{host}!{service}" if service else host
    message = output or ""
    if ntype == "ACKNOWLEDGEMENT" and (fields.get("author") or fields.get("comment")):
        message += f"\nAcknowledged by {fields.get('author') or 'unknown'}: {fields.get('comment') or ''}"
    labels = {k: v for k, v in fields.items()
              if k in {"host_display_name", "service_display_name", "address", "author", "comment"}}
    labels.update({k: v for k, v in (("notification_type", ntype), ("state", state_up),
                                     ("service", service)) if v})
    timestamp = fields.get("timestamp")
    return AlertIn(
        source=INFO.key,
        status=status,
        severity=_STATE_SEVERITY.get(state_up or "", "medium"),
        original_severity=state,
        asset_ref=host,
        signature=clip(service or HOST_SIGNATURE, 500),
        message=clip(message, 20_000),
        labels=labels,
        external_id=object_name,
        delivery_id=f"{timestamp}:{ntype}:{object_name}" if timestamp else None,
        occurred_at=parse_time(timestamp) or _long_date_time(fields.get("datetime")),
    )


def parse(body: bytes, headers: Mapping[str, str]) -> ParseResult:
    data = _load_fields(body, headers)
    try:
        if isinstance(data.get("object"), dict) and isinstance(data.get("event"), dict):
            return ParseResult(alerts=[_notifications_alert(data)])
        return ParseResult(alerts=[_command_alert(data)])
    except ValidationError as exc:
        raise AdapterError(f"notification cannot be represented: {exc.errors()[0]['msg']}") from exc
