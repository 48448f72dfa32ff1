"""Nagios Core (and Icinga 1.x, Naemon): the documented notification command.

Nagios has no webhook; a notification command posts the standard macros. Our integration guide's
commands send them form-encoded (``curl --data-urlencode``, which survives any character in plugin
output) with these keys; the same keys as a JSON object are accepted too:

``notification_type`` ($NOTIFICATIONTYPE$: PROBLEM, RECOVERY, ACKNOWLEDGEMENT, FLAPPINGSTART, ...),
``host`` ($HOSTNAME$), ``host_alias``, ``address`` ($HOSTADDRESS$), ``service`` ($SERVICEDESC$, absent or
empty for host notifications), ``state`` ($SERVICESTATE$ or $HOSTSTATE$), ``output``, ``long_output``,
``timestamp`` ($TIMET$), ``datetime`` ($LONGDATETIME$), ``problem_id`` ($SERVICEPROBLEMID$ /
$HOSTPROBLEMID$), ``last_problem_id`` ($LASTSERVICEPROBLEMID$ / $LASTHOSTPROBLEMID$), ``author``, ``comment``.
The macro names themselves (``HOSTNAME``, ``SERVICEDESC``, ``SERVICESTATE``, ...) are accepted as keys too.

Pairing: a problem id is non-zero while the problem lasts and the RECOVERY notification carries it as
$LASTSERVICEPROBLEMID$, so ``external_id`` is ``host!service#<problem id>`` (``host!service`` without ids).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
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
    key="nagios",
    name="Nagios",
    description="Nagios Core / Icinga 1.x / Naemon notification command (curl, form-encoded or JSON).",
    # The documented command runs `curl --retry`, which retries 429 and 5xx (honouring Retry-After).
    retries_on_429=True,
    supports=frozenset({"firing", "resolved", "acknowledged"}),
    docs_url="https://assets.nagios.com/downloads/nagioscore/docs/nagioscore/4/en/macrolist.html",
)

_ALIASES = {
    "notificationtype": "notification_type", "type": "notification_type",
    "hostname": "host", "host_name": "host",
    "hostalias": "host_alias", "hostaddress": "address", "host_address": "address",
    "servicedesc": "service", "service_desc": "service", "service_description": "service",
    "servicestate": "state", "service_state": "state", "hoststate": "host_state",
    "serviceoutput": "output", "service_output": "output", "hostoutput": "host_output",
    "longserviceoutput": "long_output", "longhostoutput": "long_host_output",
    "timet": "timestamp", "longdatetime": "datetime",
    "serviceproblemid": "problem_id", "hostproblemid": "host_problem_id",
    "lastserviceproblemid": "last_problem_id", "lasthostproblemid": "last_host_problem_id",
    "notificationauthor": "author", "notificationauthorname": "author", "notificationcomment": "comment",
}
_SEVERITY: dict[str, Severity] = {
    "CRITICAL": "critical", "WARNING": "medium", "UNKNOWN": "medium", "OK": "info",
    "DOWN": "critical", "UNREACHABLE": "high", "UP": "info",
}
_TYPE_STATUS: dict[str, AlertStatus] = {
    "PROBLEM": "firing", "RECOVERY": "resolved", "ACKNOWLEDGEMENT": "acknowledged",
}
_OK_STATES = frozenset({"OK", "UP"})
HOST_SIGNATURE = "Host down"


def _load_fields(body: bytes, headers: Mapping[str, str]) -> dict[str, Any]:
    """A form-encoded or JSON body -> its fields (keys as sent)."""
    content_type = (header(headers, "content-type") or "").lower()
    stripped = body.lstrip()
    if "json" in content_type or stripped.startswith((b"{", b"[")):
        try:
            data = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise AdapterError(f"body is not valid JSON ({exc}); with plugin output in it, post it "
                               "form-encoded instead (curl --data-urlencode)") from exc
        except RecursionError as exc:
            raise AdapterError("body is nested too deeply") from exc
        if not isinstance(data, dict):
            raise AdapterError(f"body must be a JSON object, got {type(data).__name__}")
        return data
    if "x-www-form-urlencoded" in content_type or b"=" in body:
        return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    raise AdapterError("body is neither form-encoded (key=value&...) nor a JSON object")


def _canonical(fields: Mapping[str, Any], aliases: Mapping[str, str]) -> dict[str, str]:
    """Lower-cased keys without $ and macro names mapped to our keys; scalar values as text."""
    out: dict[str, str] = {}
    for key, value in fields.items():
        name = str(key).strip().strip("$").lower()
        text = as_text(value)
        if text is not None:
            out[aliases.get(name, name)] = text
    return out


def _id(value: str | None) -> str | None:
    return value if value and value not in {"0", "0.0"} else None


def _occurred(fields: Mapping[str, str]) -> datetime | None:
    stamp = parse_time(fields.get("timestamp"))
    if stamp is not None:
        return stamp
    text = fields.get("datetime", "")
    for fmt in ("%a %b %d %H:%M:%S UTC %Y", "%a %b %d %H:%M:%S GMT %Y"):  # $LONGDATETIME$ in UTC only
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    return parse_time(text)


def _alert(fields: dict[str, str]) -> AlertIn:
    host = fields.get("host")
    if host is None:
        raise AdapterError("'host' ($HOSTNAME$) is missing")
    service = fields.get("service")
    if service:
        state = fields.get("state")
        problem_id, last_id = fields.get("problem_id"), fields.get("last_problem_id")
        output = fields.get("output")
        long_output = fields.get("long_output")
    else:
        state = fields.get("state") or fields.get("host_state")
        problem_id = fields.get("problem_id") or fields.get("host_problem_id")
        last_id = fields.get("last_problem_id") or fields.get("last_host_problem_id")
        output = fields.get("output") or fields.get("host_output")
        long_output = fields.get("long_output") or fields.get("long_host_output")
    ntype = (fields.get("notification_type") or "").upper() or None
    state_up = (state or "").upper() or None
    if ntype is None and state_up is None:
        raise AdapterError("neither 'notification_type' ($NOTIFICATIONTYPE$) nor 'state' is present")
    status = _TYPE_STATUS.get(ntype or "")
    if status is None:  # FLAPPING*, DOWNTIME*, CUSTOM or no type: the state says whether it is still bad
        status = "resolved" if state_up in _OK_STATES else "firing"
    if state_up is not None and state_up not in _SEVERITY:
        raise AdapterError(f"state {state!r} is not a Nagios state (OK, WARNING, CRITICAL, UNKNOWN, UP, DOWN, "
                           "UNREACHABLE)")
    object_name = f"{host}!{service}" if service else host
    # a RECOVERY carries the problem's id as the LAST problem id; while the problem lasts it is current
    pid = (_id(last_id) or _id(problem_id)) if status == "resolved" else _id(problem_id)
    external_id = f"{object_name}#{pid}" if pid else object_name
    message = "\n".join(part for part in (output, long_output) if part)
    if ntype == "ACKNOWLEDGEMENT" and (fields.get("author") or fields.get("comment")):
        message += f"\nAcknowledged by {fields.get('author') or 'unknown'}: {fields.get('comment') or ''}"
    labels = {k: v for k, v in fields.items() if k in {
        "host_alias", "address", "author", "comment", "host_display_name", "service_display_name"}}
    labels.update({k: v for k, v in (("notification_type", ntype), ("state", state_up),
                                     ("service", service), ("problem_id", pid)) if v})
    timestamp = fields.get("timestamp")
    return AlertIn(
        source=INFO.key,
        status=status,
        severity=_SEVERITY.get(state_up or "", "medium"),
        original_severity=state,
        asset_ref=host,
        signature=clip(service or HOST_SIGNATURE, 500),
        message=clip(message, 20_000),
        labels=labels,
        external_id=external_id,
        # variable parts first: the idempotency key is cut at 190 characters
        delivery_id=f"{timestamp}:{ntype}:{object_name}" if timestamp else None,
        occurred_at=_occurred(fields),
    )


def parse(body: bytes, headers: Mapping[str, str]) -> ParseResult:
    fields = _canonical(_load_fields(body, headers), _ALIASES)
    try:
        return ParseResult(alerts=[_alert(fields)])
    except ValidationError as exc:
        raise AdapterError(f"notification cannot be represented: {exc.errors()[0]['msg']}") from exc
