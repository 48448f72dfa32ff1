"""Datadog Webhooks integration (``@webhook-<name>`` in a monitor message).

The payload is a user-editable template of ``$VARIABLES``. The *default* template carries no state and no
monitor id: the state is only the event title prefix (``[Triggered on {host:web-01}] CPU high``, optionally
after a priority ``[P1]``), so it is read from there, the monitor id from the "Monitor Status" link in the
body and the host from the ``{...}`` group. Extended templates may add (any case, with or without the
``alert_`` prefix where Datadog's own name has one): ``alert_transition``, ``alert_type``, ``alert_id``,
``aggreg_key``, ``alert_cycle_key``, ``hostname``, ``tags`` ("a:b,c" or a list), ``alert_priority``/
``priority`` (P1..P5), ``alert_title``, ``alert_metric``, ``alert_scope``, ``link``, ``date``/``date_posix``/
``last_updated``. Unexpanded ``$VARIABLES`` count as missing. Bodies sent with "Encode as form" work too.

``external_id`` = ``aggreg_key`` (one per monitor and group), else ``<monitor id>/<group>``;
``delivery_id`` = ``$ID`` (the event id, new for every notification).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from alertwhisperer.ingest.adapters.base import (
    AdapterError,
    AdapterInfo,
    as_text,
    build_alert,
    header,
    load_json,
    normalise_severity,
    parse_time,
    require_object,
)
from alertwhisperer.ingest.schemas import AlertStatus, ParseResult, Severity

INFO = AdapterInfo(
    key="datadog",
    name="Datadog",
    description="Datadog monitor notifications through the Webhooks integration (default or extended payload).",
    # Datadog's docs: "Datadog only issues a retry if there is an internal error ... or if Datadog receives a
    # 5XX response" — a 429 would be dropped, so rate limiting answers 503.
    retries_on_429=False,
    supports=frozenset({"firing", "resolved", "default-template", "extended-template", "form-encoded"}),
    docs_url="https://docs.datadoghq.com/integrations/webhooks/",
)

TITLE_PREFIX = re.compile(
    r"^\s*(?:\[(?P<priority>P[1-5])\]\s*)?\[(?P<state>[A-Za-z][A-Za-z -]*?)(?: on \{(?P<group>[^}]*)\})?\]\s*"
    r"(?P<name>.*)$",
    re.DOTALL,
)
MONITOR_LINK = re.compile(r"https://[^\s)\]]*/monitors/(?P<id>\d+)[^\s)\]]*")
UNEXPANDED = re.compile(r"^\$[A-Z_]+$")
PRIORITY = re.compile(r"^P[1-5]$", re.IGNORECASE)

# transition (from $ALERT_TRANSITION or the title prefix) -> (status, severity when no priority is given)
TRANSITIONS: dict[str, tuple[AlertStatus, Severity]] = {
    "triggered": ("firing", "high"),
    "re-triggered": ("firing", "high"),
    "renotify": ("firing", "high"),
    "warn": ("firing", "medium"),
    "warning": ("firing", "medium"),
    "re-warn": ("firing", "medium"),
    "re-warned": ("firing", "medium"),
    "no data": ("firing", "low"),
    "re-no data": ("firing", "low"),
    "recovered": ("resolved", "info"),
    "recovery": ("resolved", "info"),
    "resolved": ("resolved", "info"),
    "ok": ("resolved", "info"),
    "alert": ("firing", "high"),
    "firing": ("firing", "high"),
}
# $ALERT_TYPE: error / warning / success / info
ALERT_TYPES: dict[str, tuple[AlertStatus, Severity]] = {
    "error": ("firing", "high"),
    "warning": ("firing", "medium"),
    "success": ("resolved", "info"),
    "info": ("firing", "info"),
}


def load_body(body: bytes, headers: Mapping[str, str]) -> dict[str, Any]:
    content_type = (header(headers, "content-type") or "").lower()
    if "x-www-form-urlencoded" in content_type:
        try:
            text = body.decode()
        except UnicodeDecodeError as exc:
            raise AdapterError("body is not UTF-8 text") from exc
        return dict(parse_qsl(text, keep_blank_values=True))
    return require_object(load_json(body))


def field(data: Mapping[str, Any], *names: str) -> str | None:
    """The first of ``names`` (keys compared case-insensitively) that holds a real (expanded) value."""
    for name in names:
        value = data.get(name)
        if isinstance(value, dict | list):
            raise AdapterError(f"{name} must be a string, got {type(value).__name__}")
        text = as_text(value)
        if text and not UNEXPANDED.match(text):
            return text
    return None


def parse_tags(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if isinstance(value, str):
        items: list[Any] = [] if UNEXPANDED.match(value.strip()) else value.split(",")
    elif isinstance(value, list):
        items = value
    else:
        raise AdapterError("tags must be a comma-separated string or a list of strings")
    tags: dict[str, str] = {}
    for item in items:
        if not isinstance(item, str):
            raise AdapterError("tags must be a comma-separated string or a list of strings")
        key, _, val = item.strip().partition(":")
        if key.strip():
            tags[key.strip()] = val.strip()
    return tags


def host_of(group: str | None) -> str | None:
    """``host:web-01,device:sda`` -> ``web-01``; a single ungrouped value is kept as it is."""
    if not group:
        return None
    for part in group.split(","):
        key, _, val = part.strip().partition(":")
        if key in ("host", "hostname") and val:
            return val
    return None


def parse(body: bytes, headers: Mapping[str, str]) -> ParseResult:
    raw = load_body(body, headers)
    data = {str(k).lower(): v for k, v in raw.items()}
    title = field(data, "title", "event_title") or ""
    prefix = TITLE_PREFIX.match(title)
    if prefix and prefix.group("state").lower() not in TRANSITIONS:
        prefix = None  # "[Staging] disk full" is a name, not a state prefix
    body_text = field(data, "body", "event_msg", "text_only_msg", "message") or ""
    body_text = body_text.strip().removeprefix("%%%").removesuffix("%%%").strip()

    transition = field(data, "alert_transition", "transition", "status")
    if transition is not None and transition.lower() not in TRANSITIONS:
        labels_status = transition  # e.g. $ALERT_STATUS text in "status": not a state
        transition = None
    else:
        labels_status = None
    if transition is None and prefix:
        transition = prefix.group("state")
    alert_type = field(data, "alert_type")
    state = TRANSITIONS.get((transition or "").lower()) or ALERT_TYPES.get((alert_type or "").lower())
    status, default_severity = state or ("firing", "medium")

    priority = field(data, "alert_priority", "priority")
    if priority is not None and not PRIORITY.match(priority):
        priority = None  # $PRIORITY is the event priority ("normal"/"low"), not a monitor priority
    if priority is None and prefix and prefix.group("priority"):
        priority = prefix.group("priority")
    severity = normalise_severity(priority, default=default_severity)

    group = field(data, "alert_scope", "scope") or (prefix.group("group") if prefix else None)
    monitor_link = MONITOR_LINK.search(body_text)
    monitor_id = field(data, "alert_id", "monitor_id") or (monitor_link.group("id") if monitor_link else None)
    external_id = field(data, "aggreg_key", "aggregation_key")
    if external_id is None and monitor_id:
        external_id = f"{monitor_id}/{group}" if group else monitor_id

    name = (prefix.group("name").strip() if prefix else "") or field(data, "alert_title") or title
    if not name:
        raise AdapterError("no monitor name: expected title ($EVENT_TITLE) or alert_title ($ALERT_TITLE)")

    labels = parse_tags(data.get("tags"))
    for key in ("event_type", "alert_metric", "alert_type", "alert_cycle_key"):
        if (val := field(data, key)) is not None:
            labels[key] = val
    if group:
        labels["alert_scope"] = group
    if labels_status:
        labels["alert_status"] = labels_status
    if monitor_id:
        labels["monitor_id"] = monitor_id
    org = data.get("org")
    if isinstance(org, dict) and (org_name := field(org, "name")):
        labels["datadog_org"] = org_name

    when = field(data, "date_posix", "date", "last_updated")
    occurred_at = parse_time(when) or parse_time((when or "").removesuffix(" UTC"))
    return ParseResult(alerts=[build_alert(
        source=INFO.key,
        status=status,
        severity=severity,
        original_severity=priority or transition or alert_type,
        asset_ref=field(data, "hostname", "host", "host_name") or host_of(group),
        signature=name,
        message=body_text or title,
        labels=labels,
        external_id=external_id,
        delivery_id=field(data, "id", "event_id"),
        occurred_at=occurred_at,
        url=field(data, "link", "url") or (monitor_link.group(0) if monitor_link else None),
        value=field(data, "value", "alert_value"),
    )])
