"""Zabbix webhook media type.

Zabbix has no fixed webhook body: a media type's script decides what it POSTs. The body is taken to be the
media type's *parameters* (name -> macro-expanded value), which is what our integration guide's script sends
and what most scripts start from. Parameter names are matched loosely — case, ``_``, ``.`` and ``-`` are
ignored — so the names of Zabbix's shipped media types (``eventid``, ``event_id``, ``EVENT.ID``,
``Event_ID``, ``event_nseverity``, ``event_update_status``, ``host_name``, ``HOST.IP``, ...) and the common
snake_case variants all work.

* status: an update operation (``event_update_status`` = 1) that acknowledges -> acknowledged ("unacknowledged"
  -> firing, "closed problem" -> resolved, other updates keep firing unless the problem is acknowledged);
  otherwise ``event_value`` 1 = problem (firing), 0 = recovery (resolved); else a status word
  (``PROBLEM``/``RESOLVED``/``OK``).
* severity: ``event_nseverity`` 0..5 or the names (Not classified, Information, Warning, Average, High,
  Disaster) -> info, info, low, medium, high, critical. Renamed severities fall back to common words.
* ``external_id`` is ``{EVENT.ID}``: recovery and update notifications carry the PROBLEM's event id, so they
  pair with it. Zabbix has no per-notification id, so ``delivery_id`` stays None.
* ``{EVENT.DATE}``/``{EVENT.TIME}`` are in the Zabbix server's local time without an offset; they are read as
  UTC (set the Zabbix server to UTC, or send an ISO-8601 ``event_datetime`` with an offset).
* Unexpanded macros (``{EVENT.RECOVERY.ID}``) and ``*UNKNOWN*`` count as missing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
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
)
from alertwhisperer.ingest.schemas import AlertStatus, ParseResult, Severity

INFO = AdapterInfo(
    key="zabbix",
    name="Zabbix",
    description="Zabbix webhook media type (problem, recovery and update/acknowledge operations).",
    # The media type script in our guide throws on any non-2xx answer, and Zabbix then retries the alert
    # ("Attempts"/"Attempt interval" of the media type), so a 429 is retried.
    retries_on_429=True,
    supports=frozenset({"firing", "resolved", "acknowledged"}),
    docs_url="https://www.zabbix.com/documentation/current/en/manual/config/notifications/media/webhook",
)

SEVERITY_NAMES: dict[str, Severity] = {
    "not classified": "info", "information": "info", "warning": "low",
    "average": "medium", "high": "high", "disaster": "critical",
}
SEVERITY_BY_NUMBER = ("Not classified", "Information", "Warning", "Average", "High", "Disaster")
UNEXPANDED = re.compile(r"^\{[A-Za-z0-9_.#$:]+\}$")
SUBJECT_PREFIX = re.compile(
    r"^(?:problem|resolved(?: in [^:]{1,40})?|updated problem(?: in [^:]{1,40})?|problem resolved|recovery|"
    r"recovered|ok|update)\s*:\s*",
    re.IGNORECASE,
)
TRUE_WORDS = ("1", "yes", "true")


def norm(key: str) -> str:
    return re.sub(r"[^a-z0-9]", "", key.lower())


class Params:
    """Media type parameters looked up by loosely matched names."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.raw = {norm(str(k)): (str(k), v) for k, v in data.items()}

    def get(self, *names: str) -> str | None:
        for name in names:
            key, value = self.raw.get(name, ("", None))
            if isinstance(value, dict | list):
                raise AdapterError(f"{key} must be a string, got {type(value).__name__}")
            text = as_text(value)
            if text and not UNEXPANDED.match(text) and text != "*UNKNOWN*":
                return text
        return None


def parse_tags(p: Params) -> dict[str, str]:
    key, value = next(
        (p.raw[n] for n in ("eventtagsjson", "eventtags", "tags") if p.raw.get(n, ("", None))[1] is not None),
        ("", None),
    )
    if isinstance(value, str) and value.strip().startswith("["):
        try:
            value = json.loads(value)  # {EVENT.TAGSJSON}
        except ValueError as exc:
            raise AdapterError(f"{key} is not valid JSON") from exc
        except RecursionError as exc:
            raise AdapterError(f"{key} is nested too deeply") from exc
    tags: dict[str, str] = {}
    if value is None or (isinstance(value, str) and (UNEXPANDED.match(value.strip()) or not value.strip())):
        return tags
    if isinstance(value, str):
        for part in value.split(","):
            name, _, val = part.strip().partition(":")
            if name.strip():
                tags[name.strip()] = val.strip()
        return tags
    if not isinstance(value, list):
        raise AdapterError(f"{key} must be a 'tag:value, ...' string or a list of {{tag, value}} objects")
    for i, item in enumerate(value):
        if not isinstance(item, dict) or not isinstance(item.get("tag"), str):
            raise AdapterError(f"{key}[{i}] must be an object with a string 'tag'")
        tag_value = item.get("value")
        tags[item["tag"]] = "" if tag_value is None else str(tag_value)
    return tags


def severity_of(p: Params) -> tuple[Severity, str | None]:
    number = p.get("eventnseverity", "triggernseverity", "nseverity")
    name = p.get("eventseverity", "triggerseverity", "severity", "priority")
    if number is None and name is not None and name.isdigit():
        number, name = name, None
    if number is not None and number.isdigit() and int(number) < len(SEVERITY_BY_NUMBER):
        return SEVERITY_NAMES[SEVERITY_BY_NUMBER[int(number)].lower()], name or number
    if name is not None:
        return SEVERITY_NAMES.get(name.lower()) or normalise_severity(name), name
    return "medium", number


def status_of(p: Params) -> AlertStatus:
    value = p.get("eventvalue", "triggervalue")
    acknowledged = (p.get("eventackstatus", "eventack", "ackstatus", "acknowledged") or "").lower() in TRUE_WORDS
    if (p.get("eventupdatestatus", "eventupdate", "isupdate") or "").lower() in TRUE_WORDS:
        action = (p.get("eventupdateaction", "updateaction") or "").lower()
        if "unacknowledged" in action:
            return "firing"
        if "acknowledged" in action or acknowledged:
            return "acknowledged"
        if "closed" in action or value == "0":
            return "resolved"
        return "firing"
    if value in ("0", "1"):
        return "resolved" if value == "0" else "firing"
    word = (p.get("eventstatus", "triggerstatus", "status", "eventtype") or "").lower()
    if word in ("ok", "resolved", "recovery", "recovered", "resolve"):
        return "resolved"
    if word in ("acknowledged", "ack", "acknowledge"):
        return "acknowledged"
    return "firing"


ZABBIX_DATE = re.compile(r"(\d{4})\.(\d{1,2})\.(\d{1,2})")
ZABBIX_TIME = re.compile(r"(\d{1,2}):(\d{2}):(\d{2})")


def _zabbix_datetime(date: str, clock: str) -> datetime | None:
    """Zabbix's ``{EVENT.DATE}`` ``2026.03.02`` and ``{EVENT.TIME}`` ``09:00:01`` (what ``strptime`` with
    ``%Y.%m.%d %H:%M:%S`` accepts, at a fraction of its cost: this runs for every Zabbix delivery)."""
    d, t = ZABBIX_DATE.fullmatch(date.strip()), ZABBIX_TIME.fullmatch(clock.strip())
    if d is None or t is None:
        return None
    try:
        return datetime(int(d[1]), int(d[2]), int(d[3]), int(t[1]), int(t[2]), int(t[3]), tzinfo=UTC)
    except ValueError:
        return None


def time_of(p: Params, status: AlertStatus) -> datetime | None:
    iso = p.get("eventdatetime", "eventtimestamp", "timestamp", "clock")
    if iso and (parsed := parse_time(iso.replace(".", "-", 2) if re.match(r"^\d{4}\.", iso) else iso)):
        return parsed
    prefixes = {"resolved": ("eventrecovery", "event"), "acknowledged": ("eventupdate", "event")}
    for prefix in prefixes.get(status, ("event",)):
        date, clock = p.get(f"{prefix}date"), p.get(f"{prefix}time")
        if date and clock:
            when = _zabbix_datetime(date, clock)
            if when is not None:
                return when
    return None


def parse(body: bytes, headers: Mapping[str, str]) -> ParseResult:
    p = Params(require_object(load_json(body)))
    trigger_name = p.get("triggername")
    subject = p.get("eventname", "problemname", "alertsubject", "subject", "name", "title")
    signature = trigger_name or (SUBJECT_PREFIX.sub("", subject) if subject else None)
    if not signature:
        raise AdapterError("no problem name: expected event_name, trigger_name or alert_subject")
    status = status_of(p)
    severity, original = severity_of(p)
    event_id = p.get("eventid", "problemeventid", "problemid")
    trigger_id = p.get("triggerid")
    host = p.get("host", "hosthost", "hostname", "hostname1", "hostvisiblename")
    host_ip = p.get("hostip", "hostconn", "ip")

    labels = parse_tags(p)
    extra = {"host_ip": host_ip, "trigger_id": trigger_id, "event_source": p.get("eventsource"),
             "recovery_event_id": p.get("eventrecoveryid"), "update_action": p.get("eventupdateaction")}
    labels.update({k: v for k, v in extra.items() if v})

    url = p.get("eventurl", "triggerurl", "alerturl", "problemurl", "link")
    base = p.get("zabbixurl", "url")
    if url is None and base and base.startswith("http"):
        url = base
        if trigger_id and event_id and "tr_events.php" not in base:
            url = f"{base.rstrip('/')}/tr_events.php?triggerid={trigger_id}&eventid={event_id}"
    message = p.get("alertmessage", "message", "triggerdescription", "triggerdesc", "eventdescription",
                    "description") or subject or signature
    return ParseResult(alerts=[build_alert(
        source=INFO.key,
        status=status,
        severity=severity,
        original_severity=original,
        asset_ref=host or host_ip,
        signature=signature,
        message=message,
        labels=labels,
        external_id=event_id,
        occurred_at=time_of(p, status),
        url=url,
        value=p.get("eventopdata", "triggeropdata", "opdata", "itemvalue", "itemlastvalue"),
    )])
