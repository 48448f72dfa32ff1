"""Generic JSON: the platform's own alert format (the origin documents' webhook body).

One object, or a JSON array of them (a batch)::

    {"asset_name": "srv-app-01", "signature": "cpu_high", "severity": "high",
     "message": "CPU usage above 90%", "tool_source": "Datadog",
     "status": "firing", "timestamp": "2025-01-25T10:00:00Z", "asset_id": "a-17",
     "labels": {"env": "prod"}, "external_id": "cpu_high/srv-app-01"}

Required: ``asset_name``, ``signature``, ``severity``, ``message``, ``tool_source``. Optional: ``status``
(firing | resolved | acknowledged; "active" = firing), ``timestamp`` (ISO-8601 or unix seconds/ms),
``asset_id``, ``labels`` (flat object), ``external_id`` (your id for this alert, pairs firing/resolved).
Validation is strict: unknown keys and wrong types are refused with the field (and batch index) named.
``tool_source`` and ``asset_id`` are kept as labels.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from alertwhisperer.ingest.adapters.base import SEVERITY_WORDS, AdapterError, AdapterInfo, load_json, parse_time
from alertwhisperer.ingest.schemas import AlertIn, AlertStatus, ParseResult, Severity

INFO = AdapterInfo(
    key="generic",
    name="Generic JSON",
    description="The platform's own JSON alert format (single object or batch array), e.g. from scripts.",
    # Our own format: senders are scripts we document, told to honour 429 + Retry-After.
    retries_on_429=True,
    supports=frozenset({"firing", "resolved", "acknowledged", "batch"}),
)

REQUIRED = ("asset_name", "signature", "severity", "message", "tool_source")
OPTIONAL = ("status", "timestamp", "asset_id", "labels", "external_id")
_STATUS: dict[str, AlertStatus] = {"firing": "firing", "active": "firing", "resolved": "resolved",
                                   "acknowledged": "acknowledged"}
_CANONICAL: tuple[Severity, ...] = ("critical", "high", "medium", "low", "info")
_LIMITS = {"asset_name": 500, "signature": 500, "message": 20_000, "tool_source": 100, "external_id": 500,
           "asset_id": 200, "severity": 50, "status": 50}


def _string(item: Mapping[str, Any], key: str, where: str, *, required: bool, empty_ok: bool = False) -> str | None:
    value = item.get(key)
    if value is None:
        if required:
            raise AdapterError(f"{where}'{key}' is required")
        return None
    if key == "asset_id" and isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise AdapterError(f"{where}'{key}' must be a string, got {type(value).__name__}")
    text = value.strip()
    if not text and not empty_ok:
        raise AdapterError(f"{where}'{key}' must not be empty")
    if len(text) > _LIMITS[key]:
        raise AdapterError(f"{where}'{key}' is longer than {_LIMITS[key]} characters")
    return text


def _required(item: Mapping[str, Any], key: str, where: str, *, empty_ok: bool = False) -> str:
    text = _string(item, key, where, required=True, empty_ok=empty_ok)
    if text is None:  # pragma: no cover - _string raises for a missing required field
        raise AdapterError(f"{where}'{key}' is required")
    return text


def _severity(value: str, where: str) -> Severity:
    word = value.lower()
    if word in _CANONICAL:
        return SEVERITY_WORDS[word]
    if word in SEVERITY_WORDS and word not in {"ok", "none", "unknown"}:
        return SEVERITY_WORDS[word]  # e.g. "warning", "error", "P2": common names of the same levels
    raise AdapterError(f"{where}'severity' {value!r} is not one of {', '.join(_CANONICAL)}")


def _labels(value: Any, where: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise AdapterError(f"{where}'labels' must be an object, got {type(value).__name__}")
    labels: dict[str, str] = {}
    for key, item in value.items():
        if isinstance(item, bool):
            labels[key] = str(item).lower()
        elif isinstance(item, str | int | float):
            labels[key] = str(item)
        elif item is not None:
            raise AdapterError(f"{where}'labels.{key}' must be a string, number or boolean, "
                               f"got {type(item).__name__}")
    return labels


def _timestamp(value: Any, where: str) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise AdapterError(f"{where}'timestamp' must be an ISO-8601 string or unix seconds, "
                           f"got {type(value).__name__}")
    parsed = parse_time(value)
    if parsed is None:
        raise AdapterError(f"{where}'timestamp' {value!r} is not an ISO-8601 time or unix seconds")
    return parsed


def _alert(item: Any, where: str) -> AlertIn:
    if not isinstance(item, dict):
        raise AdapterError(f"{where or 'body '}must be a JSON object, got {type(item).__name__}")
    unknown = sorted(set(item) - set(REQUIRED) - set(OPTIONAL))
    if unknown:
        raise AdapterError(f"{where}unknown field(s) {', '.join(repr(u) for u in unknown)}; allowed: "
                           f"{', '.join(REQUIRED + OPTIONAL)}")
    asset_name = _required(item, "asset_name", where)
    signature = _required(item, "signature", where)
    severity_raw = _required(item, "severity", where)
    message = _required(item, "message", where, empty_ok=True)
    tool_source = _required(item, "tool_source", where)
    status_raw = _string(item, "status", where, required=False)
    status = _STATUS.get((status_raw or "firing").lower())
    if status is None:
        raise AdapterError(f"{where}'status' {status_raw!r} is not one of firing, resolved, acknowledged")
    labels = _labels(item.get("labels"), where)
    labels["tool_source"] = tool_source
    asset_id = _string(item, "asset_id", where, required=False)
    if asset_id:
        labels["asset_id"] = asset_id
    return AlertIn(
        source=INFO.key,
        status=status,
        severity=_severity(severity_raw, where),
        original_severity=severity_raw,
        asset_ref=asset_name,
        signature=signature,
        message=message,
        labels=labels,
        external_id=_string(item, "external_id", where, required=False),
        occurred_at=_timestamp(item.get("timestamp"), where),
    )


def parse(body: bytes, headers: Mapping[str, str]) -> ParseResult:
    data = load_json(body)
    try:
        if isinstance(data, list):
            if not data:
                raise AdapterError("batch is empty: send at least one alert object")
            return ParseResult(alerts=[_alert(item, f"alert[{i}]: ") for i, item in enumerate(data)])
        return ParseResult(alerts=[_alert(data, "")])
    except ValidationError as exc:
        raise AdapterError(f"alert cannot be represented: {exc.errors()[0]['msg']}") from exc
