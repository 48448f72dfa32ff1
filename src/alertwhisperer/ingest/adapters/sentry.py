"""Sentry integration-platform webhooks (an internal integration used as an alert-rule action).

``Sentry-Hook-Resource`` says what the body is (inferred from the body when the header is missing):

* ``event_alert`` - an issue alert rule fired for an event (always ``triggered``, Sentry sends no resolve).
* ``metric_alert`` - a metric alert incident went ``critical`` / ``warning`` / ``resolved``.
* ``issue`` - issue lifecycle (``created``, ``unresolved``, ``assigned``, ``resolved``, ``archived``/``ignored``);
  subscribing to it is how an issue alert gets resolved, since both carry the same issue id.

Other resources an internal integration may subscribe to (installation, comment, error, seer, ...) carry no
alert: they are accepted with no alerts so Sentry does not count them as failed deliveries.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from alertwhisperer.ingest.adapters.base import (
    AdapterError,
    AdapterInfo,
    as_text,
    clip,
    header,
    load_json,
    normalise_severity,
    parse_time,
    require_object,
)
from alertwhisperer.ingest.schemas import AlertIn, AlertStatus, ParseResult, Severity

INFO = AdapterInfo(
    key="sentry",
    name="Sentry",
    description="Sentry issue alerts, metric alerts and issue lifecycle webhooks (internal integration).",
    # Sentry's webhook URL is a plain URL (no custom headers), so the key travels as ?api_key=. Sentry does
    # not document dropping 4xx specially; a limited delivery is answered 429 + Retry-After.
    retries_on_429=True,
    supports=frozenset({"firing", "resolved", "acknowledged"}),
    docs_url="https://docs.sentry.io/organization/integrations/integration-platform/webhooks/",
)

_IGNORED_RESOURCES = frozenset({"installation", "comment", "error", "seer", "preprod_artifact"})
_METRIC_ACTION: dict[str, tuple[AlertStatus, Severity]] = {
    "critical": ("firing", "critical"),
    "warning": ("firing", "medium"),
    "resolved": ("resolved", "info"),
}
_ISSUE_ACTION: dict[str, AlertStatus] = {
    "created": "firing", "unresolved": "firing", "triggered": "firing",
    "assigned": "acknowledged",
    "resolved": "resolved", "archived": "resolved", "ignored": "resolved",
}
_PROJECT_IN_URL = re.compile(r"/projects/[^/]+/([^/]+)/")
_LEVEL: dict[str, Severity] = {"fatal": "critical", "error": "high", "warning": "medium", "info": "info",
                               "debug": "info", "sample": "info"}


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _level(level: str | None) -> Severity:
    return _LEVEL.get((level or "").lower(), normalise_severity(level))


def _project_slug(event: dict[str, Any]) -> str | None:
    """The event's project slug, from its API url (the event itself carries only the numeric project id)."""
    match = _PROJECT_IN_URL.search(as_text(event.get("url")) or "")
    return match.group(1) if match else None


def _tags(event: dict[str, Any]) -> dict[str, str]:
    """Event tags arrive as [[key, value], ...] (or as {key: value})."""
    raw = event.get("tags")
    pairs = raw.items() if isinstance(raw, dict) else raw if isinstance(raw, list) else []
    tags: dict[str, str] = {}
    for pair in pairs:
        if isinstance(pair, list | tuple) and len(pair) == 2:
            key, value = as_text(pair[0]), as_text(pair[1])
            if key and value is not None:
                tags[key] = value
    return tags


def _resource(headers: Mapping[str, str], data: dict[str, Any]) -> str:
    resource = header(headers, "Sentry-Hook-Resource")
    if resource:
        return resource.strip().lower()
    inner = _dict(data.get("data"))
    for key, name in (("metric_alert", "metric_alert"), ("event", "event_alert"), ("issue", "issue")):
        if isinstance(inner.get(key), dict):
            return name
    raise AdapterError("no Sentry-Hook-Resource header and the body has no data.event, data.metric_alert "
                       "or data.issue")


def _event_alert(data: dict[str, Any], action: str | None) -> AlertIn:
    inner = _dict(data.get("data"))
    event = inner.get("event")
    if not isinstance(event, dict):
        raise AdapterError("event_alert without a data.event object")
    issue_id = as_text(event.get("issue_id")) or as_text(event.get("group_id"))
    if issue_id is None:
        raise AdapterError("data.event.issue_id is missing")
    rule = as_text(inner.get("triggered_rule")) or as_text(_dict(inner.get("issue_alert")).get("title"))
    tags = _tags(event)
    title = as_text(event.get("title")) or as_text(event.get("message")) or "Sentry event"
    level = as_text(event.get("level")) or tags.get("level")
    labels = {f"tag.{k}": v for k, v in tags.items()}
    labels.update({k: v for k, v in (
        ("alert_rule", rule), ("project", _project_slug(event) or as_text(event.get("project"))),
        ("platform", as_text(event.get("platform"))),
        ("culprit", as_text(event.get("culprit"))), ("environment", as_text(event.get("environment"))),
        ("release", as_text(event.get("release"))), ("event_id", as_text(event.get("event_id"))),
        ("sentry_action", action)) if v})
    event_id = as_text(event.get("event_id"))
    return AlertIn(
        source=INFO.key,
        status="firing",
        severity=_level(level),
        original_severity=level,
        asset_ref=(as_text(event.get("server_name")) or tags.get("server_name") or _project_slug(event)
                   or as_text(event.get("project"))),
        signature=clip(title, 500),
        message=clip(title if not rule else f"{title}\nAlert rule: {rule}", 20_000),
        labels=labels,
        external_id=issue_id,
        # the same event firing the same rule is one notification
        delivery_id=f"event:{event_id}:{rule or ''}" if event_id else None,
        occurred_at=parse_time(event.get("datetime")) or parse_time(event.get("timestamp")),
        url=as_text(event.get("web_url")) or as_text(event.get("issue_url")),
    )


def _metric_alert(data: dict[str, Any], action: str | None, request_id: str | None) -> AlertIn:
    inner = _dict(data.get("data"))
    incident = inner.get("metric_alert")
    if not isinstance(incident, dict):
        raise AdapterError("metric_alert without a data.metric_alert object")
    mapped = _METRIC_ACTION.get((action or "").lower())
    if mapped is None:
        raise AdapterError(f"metric_alert action {action!r} is not one of critical, warning, resolved")
    status, severity = mapped
    incident_id = as_text(incident.get("id"))
    if incident_id is None:
        raise AdapterError("data.metric_alert.id is missing")
    rule = _dict(incident.get("alert_rule"))
    raw_projects = incident["projects"] if isinstance(incident.get("projects"), list) else []
    projects = [p for p in (as_text(x) for x in raw_projects) if p]
    labels = {k: v for k, v in (
        ("alert_rule_id", as_text(rule.get("id"))), ("aggregate", as_text(rule.get("aggregate"))),
        ("query", as_text(rule.get("query"))), ("dataset", as_text(rule.get("dataset"))),
        ("environment", as_text(rule.get("environment"))), ("projects", ", ".join(projects) or None),
        ("incident_identifier", as_text(incident.get("identifier"))), ("sentry_action", action)) if v}
    title = as_text(inner.get("description_title")) or as_text(rule.get("name")) or "Sentry metric alert"
    text = as_text(inner.get("description_text"))
    when = incident.get("date_closed") if status == "resolved" else incident.get("date_detected")
    return AlertIn(
        source=INFO.key,
        status=status,
        severity=severity,
        original_severity=action,
        asset_ref=projects[0] if projects else None,
        signature=clip(as_text(rule.get("name")) or title, 500),
        message=clip(f"{title}\n{text}" if text else title, 20_000),
        labels=labels,
        external_id=f"metric_alert:{incident_id}",
        delivery_id=request_id,
        occurred_at=parse_time(when) or parse_time(incident.get("date_started")),
        url=as_text(inner.get("web_url")),
    )


def _issue(data: dict[str, Any], action: str | None, request_id: str | None) -> AlertIn:
    issue = _dict(data.get("data")).get("issue")
    if not isinstance(issue, dict):
        raise AdapterError("issue webhook without a data.issue object")
    status = _ISSUE_ACTION.get((action or "").lower())
    if status is None:
        raise AdapterError(f"issue action {action!r} is not one of created, unresolved, assigned, resolved, "
                           "archived")
    issue_id = as_text(issue.get("id"))
    if issue_id is None:
        raise AdapterError("data.issue.id is missing")
    project = _dict(issue.get("project"))
    metadata = _dict(issue.get("metadata"))
    title = as_text(issue.get("title")) or "Sentry issue"
    level = as_text(issue.get("level"))
    labels = {k: v for k, v in (
        ("project", as_text(project.get("slug")) or as_text(project.get("name"))),
        ("short_id", as_text(issue.get("shortId"))),
        ("culprit", as_text(issue.get("culprit"))), ("platform", as_text(issue.get("platform"))),
        ("substatus", as_text(issue.get("substatus"))), ("event_count", as_text(issue.get("count"))),
        ("sentry_action", action)) if v}
    value = as_text(metadata.get("value"))
    return AlertIn(
        source=INFO.key,
        status=status,
        severity=_level(level),
        original_severity=level,
        asset_ref=labels.get("project"),
        signature=clip(title, 500),
        message=clip(value or title, 20_000),
        labels=labels,
        external_id=issue_id,
        delivery_id=request_id,
        occurred_at=parse_time(issue.get("lastSeen")) if status == "firing" else None,
        url=as_text(issue.get("web_url")) or as_text(issue.get("permalink")),
    )


def parse(body: bytes, headers: Mapping[str, str]) -> ParseResult:
    data = require_object(load_json(body))
    resource = _resource(headers, data)
    action = as_text(data.get("action"))
    request_id = as_text(header(headers, "Request-ID"))
    try:
        if resource == "event_alert":
            return ParseResult(alerts=[_event_alert(data, action)])
        if resource == "metric_alert":
            return ParseResult(alerts=[_metric_alert(data, action, request_id)])
        if resource == "issue":
            return ParseResult(alerts=[_issue(data, action, request_id)])
    except ValidationError as exc:
        raise AdapterError(f"Sentry {resource} cannot be represented: {exc.errors()[0]['msg']}") from exc
    if resource in _IGNORED_RESOURCES:
        return ParseResult()
    raise AdapterError(f"Sentry-Hook-Resource {resource!r} is not supported (event_alert, metric_alert, issue)")
