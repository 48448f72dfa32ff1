"""Uptime Kuma "Webhook" notification.

Body ``{"heartbeat": {...}, "monitor": {...}, "msg": "[name] [🔴 Down] ..."}`` with the JSON preset, or the
same object as a ``data`` field with the form-data preset (multipart). ``heartbeat.status``: 0 DOWN,
1 UP, 2 PENDING, 3 MAINTENANCE. The monitor id pairs DOWN with the following UP.

Bodies without a heartbeat:

* the "Test" button sends ``heartbeat``/``monitor`` null and ``msg`` "<notification name> Testing": answered
  as a ``test`` control message, nothing stored;
* certificate-expiry reminders send ``msg`` "[name][url] Certificate will be expired in N days" (monitor null
  in 1.x): stored as a ``medium`` firing alert "TLS certificate expiring" on that URL;
* anything else is kept as an ``info`` alert carrying the message, rather than refused.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

from pydantic import ValidationError

from alertwhisperer.ingest.adapters.base import (
    AdapterError,
    AdapterInfo,
    as_text,
    clip,
    header,
    load_json,
    parse_time,
    require_object,
)
from alertwhisperer.ingest.schemas import AlertIn, AlertStatus, ControlMessage, ParseResult, Severity

INFO = AdapterInfo(
    key="uptime-kuma",
    name="Uptime Kuma",
    description="Uptime Kuma webhook notifications: monitor down/up, certificate expiry, test.",
    # Uptime Kuma sends each notification once and only logs a failure (no retry on any status), and its
    # webhook can carry "Additional Headers" (X-API-Key). Nothing is gained by 503; 429 states the cause.
    retries_on_429=True,
    supports=frozenset({"firing", "resolved", "test"}),
    docs_url="https://github.com/louislam/uptime-kuma/wiki",
)

_STATUS: dict[int, tuple[str, AlertStatus, Severity]] = {
    0: ("DOWN", "firing", "critical"),
    1: ("UP", "resolved", "info"),
    2: ("PENDING", "firing", "low"),
    3: ("MAINTENANCE", "resolved", "info"),
}
_CERT_MSG = re.compile(r"^\[(?P<name>[^\]]*)\]\s*\[(?P<url>[^\]]*)\]\s*(?P<text>.*certificate.*)$",
                       re.IGNORECASE | re.DOTALL)
_EMPTY_URLS = frozenset({"", "http://", "https://"})  # Uptime Kuma's default url of non-HTTP monitors


def _form_data(body: bytes, content_type: str) -> bytes:
    """The ``data`` field of a multipart/form-data body (Uptime Kuma's form-data preset)."""
    head = "Content-Type: " + content_type.replace("\r", " ").replace("\n", " ") + "\r\n\r\n"
    message = BytesParser(policy=policy.HTTP).parsebytes(head.encode("latin-1", "replace") + body)
    if isinstance(message, EmailMessage) and message.is_multipart():
        for part in message.iter_parts():
            if part.get_param("name", header="content-disposition") == "data":
                payload = part.get_payload(decode=True)
                if isinstance(payload, bytes):
                    return payload
    raise AdapterError("multipart body has no 'data' field (Uptime Kuma's form-data preset sends one)")


def _asset_ref(monitor: dict[str, Any]) -> str | None:
    hostname = as_text(monitor.get("hostname"))
    if hostname:
        port = monitor.get("port")
        has_port = isinstance(port, int) and not isinstance(port, bool) and port > 0
        return f"{hostname}:{port}" if has_port and monitor.get("type") == "port" else hostname
    url = as_text(monitor.get("url"))
    if url and url not in _EMPTY_URLS:
        return url
    return as_text(monitor.get("docker_container")) or as_text(monitor.get("name"))


def _monitor_labels(monitor: dict[str, Any]) -> dict[str, str]:
    labels = {k: v for k, v in (("monitor_type", as_text(monitor.get("type"))),
                                ("monitor_name", as_text(monitor.get("name"))),
                                ("monitor_path", as_text(monitor.get("pathName"))),
                                ("interval", as_text(monitor.get("interval")))) if v}
    tags = monitor.get("tags")
    for tag in tags if isinstance(tags, list) else []:
        name = as_text(tag.get("name")) if isinstance(tag, dict) else None
        if name:
            labels[f"tag.{name}"] = as_text(tag.get("value")) or ""
    return labels


def _heartbeat_alert(heartbeat: dict[str, Any], monitor: dict[str, Any], msg: str | None) -> AlertIn:
    status_code = heartbeat.get("status")
    if not isinstance(status_code, int) or isinstance(status_code, bool) or status_code not in _STATUS:
        raise AdapterError(f"heartbeat.status {status_code!r} is not 0 (down), 1 (up), 2 (pending) or "
                           "3 (maintenance)")
    state, status, severity = _STATUS[status_code]
    monitor_id = as_text(monitor.get("id")) or as_text(heartbeat.get("monitorID"))
    if monitor_id is None:
        raise AdapterError("neither monitor.id nor heartbeat.monitorID is present")
    name = as_text(monitor.get("name")) or f"monitor {monitor_id}"
    labels = _monitor_labels(monitor)
    labels["kuma_status"] = state
    for key in ("retries", "important", "duration", "timezone"):
        value = heartbeat.get(key)
        text = str(value).lower() if isinstance(value, bool) else as_text(value)
        if text:
            labels[key] = text
    time = as_text(heartbeat.get("time"))
    return AlertIn(
        source=INFO.key,
        status=status,
        severity=severity,
        original_severity=None,  # Uptime Kuma has no severity; the state is in labels["kuma_status"]
        asset_ref=_asset_ref(monitor),
        signature=clip(name, 500),
        message=clip(msg or as_text(heartbeat.get("msg")) or "", 20_000),
        labels=labels,
        external_id=monitor_id,
        delivery_id=f"{monitor_id}:{time}:{status_code}" if time else None,
        occurred_at=parse_time(time),
        value=as_text(heartbeat.get("ping")),
    )


def _message_alert(monitor: dict[str, Any], msg: str) -> AlertIn:
    """A notification without a heartbeat: certificate expiry, or something newer we do not know."""
    cert = _CERT_MSG.match(msg)
    monitor_id = as_text(monitor.get("id"))
    if cert:
        url = cert.group("url").strip() or _asset_ref(monitor)
        name = cert.group("name").strip() or as_text(monitor.get("name")) or url or "monitor"
        return AlertIn(
            source=INFO.key, severity="medium", asset_ref=url, signature="TLS certificate expiring",
            message=clip(msg, 20_000), labels={**_monitor_labels(monitor), "monitor_name": name},
            external_id=f"cert:{monitor_id or name}",
        )
    return AlertIn(
        source=INFO.key, severity="info", asset_ref=_asset_ref(monitor) if monitor else None,
        signature=clip(as_text(monitor.get("name")) or "Uptime Kuma notification", 500),
        message=clip(msg, 20_000), labels=_monitor_labels(monitor),
        external_id=f"msg:{monitor_id}" if monitor_id else None,
    )


def parse(body: bytes, headers: Mapping[str, str]) -> ParseResult:
    content_type = header(headers, "content-type") or ""
    if content_type.lower().startswith("multipart/"):
        body = _form_data(body, content_type)
    data = require_object(load_json(body))
    if not {"heartbeat", "monitor", "msg"} & data.keys():
        raise AdapterError("none of 'heartbeat', 'monitor', 'msg' present: not an Uptime Kuma webhook body")
    heartbeat, monitor, msg = data.get("heartbeat"), data.get("monitor"), data.get("msg")
    for name, value in (("heartbeat", heartbeat), ("monitor", monitor)):
        if value is not None and not isinstance(value, dict):
            raise AdapterError(f"'{name}' must be an object or null, got {type(value).__name__}")
    if msg is not None and not isinstance(msg, str):
        raise AdapterError(f"'msg' must be a string, got {type(msg).__name__}")
    text = as_text(msg)
    try:
        if heartbeat:
            return ParseResult(alerts=[_heartbeat_alert(heartbeat, monitor or {}, text)])
        if not monitor and (text is None or text.endswith("Testing")):
            return ParseResult(control=ControlMessage(kind="test", details={"tool": INFO.name, "msg": text or ""}))
        if text is None:
            raise AdapterError("no heartbeat and no 'msg': nothing to report")
        return ParseResult(alerts=[_message_alert(monitor or {}, text)])
    except ValidationError as exc:
        raise AdapterError(f"notification cannot be represented: {exc.errors()[0]['msg']}") from exc
