"""Azure Monitor alerts through an action group webhook with the *common alert schema* enabled.

``data.essentials``: ``monitorCondition`` Fired = firing, Resolved = resolved; ``severity`` Sev0..Sev4
(Azure: Critical, Error, Warning, Informational, Verbose) -> critical, high, medium, low, info;
``alertRule`` is the signature, ``alertId`` the external id; the asset is the first ``alertTargetIDs`` entry
(the full resource id), else the first ``configurationItems`` entry (kept as a label too). The event time
is ``resolvedDateTime`` for a resolved alert, else ``firedDateTime``. For metric and log alerts the first
``alertContext.condition.allOf`` criterion gives the value and a one-line summary. Azure has no
per-notification id, so ``delivery_id`` stays None. Payloads without the common schema are refused with a
message saying to enable it.
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
    parse_time,
    require_object,
    str_labels,
)
from alertwhisperer.ingest.schemas import ParseResult, Severity

INFO = AdapterInfo(
    key="azure-monitor",
    name="Azure Monitor",
    description="Azure Monitor alerts (action group webhook, common alert schema): fired and resolved.",
    # Action group webhooks are retried when the endpoint answers 408, 429, 503 or 504 (or not at all),
    # per Azure Monitor's action group documentation, so 429 + Retry-After is understood.
    retries_on_429=True,
    supports=frozenset({"firing", "resolved", "common-alert-schema"}),
    docs_url="https://learn.microsoft.com/azure/azure-monitor/alerts/alerts-common-schema",
)

SEVERITIES: dict[str, Severity] = {
    "sev0": "critical", "sev1": "high", "sev2": "medium", "sev3": "low", "sev4": "info",
}
COMMON_SCHEMA = "azuremonitorcommonalertschema"


def string(data: Mapping[str, Any], key: str, where: str) -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str | int | float):
        raise AdapterError(f"{where}{key} must be a string, got {type(value).__name__}")
    return as_text(value)


def first_string(data: Mapping[str, Any], key: str, where: str) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, list):
        raise AdapterError(f"{where}{key} must be a list")
    return next((text for item in value if (text := as_text(item))), None)


def criterion(context: Mapping[str, Any]) -> tuple[str | None, str | None, dict[str, str]]:
    """(summary, value, dimensions) of the first condition criterion of a metric or log alert."""
    condition = context.get("condition")
    all_of = condition.get("allOf") if isinstance(condition, dict) else None
    if not isinstance(all_of, list) or not all_of or not isinstance(all_of[0], dict):
        return None, None, {}
    first: dict[str, Any] = all_of[0]
    value = as_text(first.get("metricValue"))
    dims: dict[str, str] = {}
    if isinstance(first.get("dimensions"), list):
        for dim in first["dimensions"]:
            if isinstance(dim, dict) and (name := as_text(dim.get("name"))) and (val := as_text(dim.get("value"))):
                dims[name] = val
    subject = as_text(first.get("metricName")) or as_text(first.get("searchQuery"))
    summary = None
    if subject:
        summary = " ".join(p for p in (
            subject, as_text(first.get("operator")), as_text(first.get("threshold")),
            f"({as_text(first.get('timeAggregation'))})" if as_text(first.get("timeAggregation")) else None,
            f"- value {value}" if value else None) if p)
    return summary, value, dims


def parse(body: bytes, headers: Mapping[str, str]) -> ParseResult:
    payload = require_object(load_json(body))
    schema = payload.get("schemaId")
    if schema is not None and (not isinstance(schema, str) or schema.lower() != COMMON_SCHEMA):
        raise AdapterError(f"schemaId {schema!r} is not supported: enable the common alert schema on the "
                           "action group's webhook action")
    data = require_object(payload.get("data"), "data")
    essentials = require_object(data.get("essentials"), "data.essentials")
    where = "data.essentials."
    rule = string(essentials, "alertRule", where)
    if rule is None:
        raise AdapterError("data.essentials.alertRule is missing")
    condition = string(essentials, "monitorCondition", where)
    if condition not in ("Fired", "Resolved"):
        raise AdapterError("data.essentials.monitorCondition must be Fired or Resolved")
    original = string(essentials, "severity", where)
    context = data.get("alertContext")
    if context is not None and not isinstance(context, dict):
        raise AdapterError("data.alertContext must be an object")
    summary, value, dims = criterion(context or {})
    config_item = first_string(essentials, "configurationItems", where)
    labels = dict(dims)
    for key in ("signalType", "monitoringService", "targetResourceType", "targetResourceGroup",
                "originAlertId"):
        if text := string(essentials, key, where):
            labels[key] = text
    if config_item:
        labels["configurationItem"] = config_item
    custom = data.get("customProperties")
    if isinstance(custom, dict):
        labels.update(str_labels(custom))
    resolved = condition == "Resolved"
    description = string(essentials, "description", where)
    fired_at = parse_time(essentials.get("firedDateTime"))
    links = context or {}
    return ParseResult(alerts=[build_alert(
        source=INFO.key,
        status="resolved" if resolved else "firing",
        severity=SEVERITIES.get((original or "").lower(), "medium"),
        original_severity=original,
        asset_ref=first_string(essentials, "alertTargetIDs", where) or config_item,
        signature=rule,
        message="\n\n".join(p for p in (description, summary) if p),
        labels=labels,
        external_id=string(essentials, "alertId", where),
        occurred_at=(parse_time(essentials.get("resolvedDateTime")) or fired_at) if resolved else fired_at,
        url=as_text(links.get("linkToFilteredSearchResultsUI")) or as_text(links.get("linkToSearchResultsUI")),
        value=value,
    )])
