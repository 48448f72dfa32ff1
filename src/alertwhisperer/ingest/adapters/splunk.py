"""Splunk Enterprise / Splunk Cloud built-in "Webhook" alert action.

The body is fixed (no templating): ``result`` (the FIRST result row only, field -> string or list),
``sid`` (search job id), ``results_link``, ``search_name`` (null for an unsaved search), ``owner``, ``app``.

Splunk alerts are fire-only: there is no resolve notification, so every alert is ``firing``. ``sid`` names
one run of the search, not the condition, so it cannot pair anything: the alert's identity
(``external_id``) is ``app/search_name/host`` - the same saved search about the same host is the same
alert across runs - and ``sid`` plus a digest of the result row is the ``delivery_id`` (a "for each
result" alert sends one webhook per row with the same ``sid``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from alertwhisperer.ingest.adapters.base import (
    AdapterError,
    AdapterInfo,
    clip,
    load_json,
    normalise_severity,
    parse_time,
    require_object,
    str_labels,
)
from alertwhisperer.ingest.schemas import AlertIn, ParseResult

INFO = AdapterInfo(
    key="splunk",
    name="Splunk",
    description="Splunk webhook alert action (first result row, sid, search name, results link).",
    # The webhook alert action takes a URL only (key as ?api_key=) and makes one attempt: Splunk retries
    # neither 4xx nor 5xx, so the status code cannot save a limited delivery. 429 is the honest answer.
    retries_on_429=True,
    supports=frozenset({"firing"}),
    docs_url="https://docs.splunk.com/Documentation/Splunk/latest/Alert/Webhooks",
)

# Result fields that name the machine the row is about, best first.
_HOST_FIELDS = ("host", "hostname", "dest", "dest_host", "dvc", "src_host", "computer", "ComputerName")
# Result fields carrying a severity (Enterprise Security notables, or the search's own eval).
_SEVERITY_FIELDS = ("severity", "urgency", "priority", "alert_severity", "level")
_MAX_RESULT_LABELS = 50


def _text(value: Any) -> str | None:
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, list):  # a multivalue field: its first value
        return next((t for t in (_text(v) for v in value) if t), None)
    return None


def _event_time(value: Any) -> datetime | None:
    """``_time`` renders as epoch seconds with a fraction ("1705314064.000") or ISO-8601."""
    text = _text(value)
    if text is None:
        return None
    try:
        seconds = float(text)
    except ValueError:
        return parse_time(text)
    try:
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _message(result: dict[str, Any]) -> str:
    raw = _text(result.get("_raw"))
    if raw:
        return raw
    fields = [f"{k}={_text(v) or ''}" for k, v in result.items() if not str(k).startswith("_")]
    return ", ".join(fields)


def parse(body: bytes, headers: Mapping[str, str]) -> ParseResult:
    data = require_object(load_json(body))
    if "sid" not in data and "result" not in data:
        raise AdapterError("neither 'sid' nor 'result' present: not a Splunk webhook alert action body")
    sid = _text(data.get("sid"))
    if sid is None:
        raise AdapterError("'sid' (the search id) is missing or empty")
    raw_result = data.get("result")
    if raw_result is None:
        raw_result = {}  # an alert on a search with zero result rows (e.g. "number of results = 0")
    result = require_object(raw_result, "'result'")
    search_name = _text(data.get("search_name"))
    app = _text(data.get("app"))
    host = next((h for h in (_text(result.get(f)) for f in _HOST_FIELDS) if h), None)
    severity_raw = next((s for s in (_text(result.get(f)) for f in _SEVERITY_FIELDS) if s), None)
    signature = search_name or f"Splunk alert ({app or 'ad hoc search'})"
    labels = {f"result.{k}": v for k, v in list(str_labels(result).items())[:_MAX_RESULT_LABELS]
              if k != "_raw"}
    labels.update({k: v for k, v in (("sid", sid), ("app", app), ("owner", _text(data.get("owner"))),
                                     ("search_name", search_name)) if v})
    digest = hashlib.sha256(json.dumps(result, sort_keys=True, default=str).encode()).hexdigest()[:16]
    try:
        alert = AlertIn(
            source=INFO.key,
            status="firing",
            severity=normalise_severity(severity_raw),
            original_severity=severity_raw,
            asset_ref=host,
            signature=clip(signature, 500),
            message=clip(_message(result), 20_000),
            labels=labels,
            external_id=f"{app or ''}/{search_name or sid}/{host or ''}",
            delivery_id=f"{sid}:{digest}",
            occurred_at=_event_time(result.get("_time")),
            url=_text(data.get("results_link")),
            value=_text(result.get("count")),
        )
    except ValidationError as exc:
        raise AdapterError(f"Splunk alert cannot be represented: {exc.errors()[0]['msg']}") from exc
    return ParseResult(alerts=[alert])
