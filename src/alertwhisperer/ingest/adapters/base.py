"""The adapter protocol and shared helpers. Adapters are pure: (body, headers) -> ParseResult."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from pydantic import ValidationError

from alertwhisperer.ingest.schemas import AlertIn, ParseResult, Severity


class AdapterError(ValueError):
    """The payload cannot be understood; the message names what is wrong (answered as 4xx)."""


@dataclass(frozen=True)
class AdapterInfo:
    key: str  # the {source} in POST /api/webhooks/{source}
    name: str  # display name
    description: str
    retries_on_429: bool = True  # False: the sender drops a delivery on any 4xx (answer 503 instead)
    supports: frozenset[str] = field(default_factory=frozenset)  # e.g. {"firing", "resolved", "batch"}
    docs_url: str | None = None


class Adapter(Protocol):
    INFO: AdapterInfo

    def parse(self, body: bytes, headers: Mapping[str, str]) -> ParseResult: ...


def load_json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except UnicodeDecodeError as exc:
        raise AdapterError("body is not UTF-8 text") from exc
    except json.JSONDecodeError as exc:
        raise AdapterError(f"body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from exc
    except RecursionError as exc:
        raise AdapterError("body is nested too deeply") from exc


def require_object(data: Any, what: str = "body") -> dict[str, Any]:
    if not isinstance(data, dict):
        raise AdapterError(f"{what} must be a JSON object, got {type(data).__name__}")
    return data


def parse_time(value: Any) -> datetime | None:
    """ISO-8601 strings (with Z or offset), unix seconds or milliseconds; naive values are UTC."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            seconds = float(value)
        except OverflowError:  # an int too large for a float
            return None
        if not math.isfinite(seconds):
            return None
        while abs(seconds) > 10_000_000_000:  # milli-, micro- or nanoseconds (Opsgenie sends ns)
            seconds /= 1000
        try:
            return datetime.fromtimestamp(seconds, tz=UTC)
        except (OverflowError, OSError, ValueError):  # NaN, inf, out of platform range
            return None
    if isinstance(value, str):
        text = value.strip()
        if text.isascii() and text.isdigit():  # not '²' etc., which int() rejects
            return parse_time(int(text))
        if text.startswith("0001-01-01"):
            return None  # Go zero time (Alertmanager endsAt of firing alerts)
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


SEVERITY_WORDS: dict[str, Severity] = {
    "critical": "critical", "crit": "critical", "disaster": "critical", "fatal": "critical",
    "emergency": "critical", "p1": "critical", "sev1": "critical", "sev0": "critical", "page": "critical",
    "high": "high", "error": "high", "err": "high", "major": "high", "p2": "high", "sev2": "high",
    "alert": "high",
    "medium": "medium", "warning": "medium", "warn": "medium", "average": "medium", "moderate": "medium",
    "p3": "medium", "sev3": "medium",
    "low": "low", "minor": "low", "p4": "low", "sev4": "low", "notice": "low",
    "info": "info", "information": "info", "informational": "info", "ok": "info", "debug": "info",
    "p5": "info", "sev5": "info", "not classified": "info", "none": "info", "unknown": "medium",
}


def normalise_severity(value: Any, default: Severity = "medium") -> Severity:
    if value is None:
        return default
    return SEVERITY_WORDS.get(str(value).strip().lower(), default)


def str_labels(data: Mapping[str, Any] | None) -> dict[str, str]:
    if not data:
        return {}
    return {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in data.items() if v is not None}


def header(headers: Mapping[str, str], name: str) -> str | None:
    lowered = name.lower()
    for key, value in headers.items():
        if key.lower() == lowered:
            return value
    return None


def as_text(value: Any) -> str | None:
    """A scalar as trimmed text (numbers too); None for missing/empty values, objects and lists."""
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def build_alert(**fields: Any) -> AlertIn:
    """An AlertIn with over-long text clipped; anything still invalid becomes an AdapterError."""
    signature = " ".join(str(fields.get("signature") or "").split())
    if not signature:
        raise AdapterError("the alert has no name (signature)")
    fields["signature"] = clip(signature, 500)
    fields["message"] = clip(str(fields.get("message") or ""), 20_000)
    try:
        return AlertIn(**fields)
    except ValidationError as exc:
        raise AdapterError(f"alert is invalid: {exc.errors()[0]['loc']}: {exc.errors()[0]['msg']}") from exc
