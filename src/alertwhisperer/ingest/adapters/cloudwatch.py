"""AWS CloudWatch alarms delivered by an SNS HTTPS subscription.

SNS posts a JSON envelope, by default with ``Content-Type: text/plain``:

* ``SubscriptionConfirmation`` / ``UnsubscribeConfirmation`` -> a ControlMessage (the endpoint confirms only
  when the company allows it). The SubscribeURL must be an ``https://sns.<region>.amazonaws.com`` URL, so a
  forged message cannot make us fetch an arbitrary address.
* ``Notification`` whose ``Message`` is a CloudWatch alarm (JSON string): ``NewStateValue`` ALARM = firing,
  OK = resolved, INSUFFICIENT_DATA = firing with severity low (data stopped arriving: often the resource is
  gone or stopped, worth a look but not a page). CloudWatch alarms have no severity; ALARM is ``medium``
  unless the alarm description says ``severity: <word>`` (e.g. "severity: critical").
  The asset is the first dimension value (e.g. the InstanceId); metric-math alarms (``Trigger.Metrics``) use
  the first metric that has dimensions. An EventBridge "CloudWatch Alarm State Change" event inside the
  Message, and raw message delivery (the alarm JSON without envelope) are understood too.
* any other ``Notification`` (plain text) -> one alert named after its ``Subject``.

``external_id`` = AlarmArn; ``delivery_id`` = the SNS MessageId.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Literal
from urllib.parse import quote, urlsplit

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
from alertwhisperer.ingest.schemas import AlertIn, ControlMessage, ParseResult, Severity

INFO = AdapterInfo(
    key="cloudwatch",
    name="AWS CloudWatch (SNS)",
    description="CloudWatch alarms through an SNS HTTPS subscription, including subscription confirmation.",
    # SNS's delivery policy retries server-side errors (5xx) and unreachable endpoints; a 4xx counts as a
    # permanent failure, so rate limiting answers 503 instead of 429.
    retries_on_429=False,
    supports=frozenset({"firing", "resolved", "subscription-confirmation", "text-plain", "metric-math"}),
    docs_url="https://docs.aws.amazon.com/sns/latest/dg/sns-http-https-endpoint-as-subscriber.html",
)

SNS_HOST = re.compile(r"^sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$")
REASON_VALUE = re.compile(r"\[(-?\d[\d.eE+-]*) \(")
DESCRIPTION_SEVERITY = re.compile(r"\b(?:severity|sev|priority)\s*[:=]\s*([A-Za-z0-9]+)", re.IGNORECASE)
ControlKind = Literal["sns_subscription_confirmation", "sns_unsubscribe_confirmation"]
CONTROL_KINDS: dict[str, ControlKind] = {
    "SubscriptionConfirmation": "sns_subscription_confirmation",
    "UnsubscribeConfirmation": "sns_unsubscribe_confirmation",
}


def text(data: Mapping[str, Any], key: str, what: str = "") -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str | int | float):
        raise AdapterError(f"{what}{key} must be a string, got {type(value).__name__}")
    return as_text(value)


def control(data: dict[str, Any], kind: ControlKind) -> ParseResult:
    url = text(data, "SubscribeURL")
    if url is None:
        raise AdapterError("SubscribeURL is missing")
    parts = urlsplit(url)
    if parts.scheme != "https" or not SNS_HOST.match(parts.hostname or ""):
        raise AdapterError("SubscribeURL must be an https://sns.<region>.amazonaws.com URL")
    details = {
        "subscribe_url": url,
        "topic_arn": text(data, "TopicArn"),
        "message_id": text(data, "MessageId"),
        "token": text(data, "Token"),
        "timestamp": text(data, "Timestamp"),
    }
    return ParseResult(control=ControlMessage(kind=kind, details=details))


def dimension_pairs(value: Any, where: str) -> list[tuple[str, str]]:
    """SNS alarm dimensions: a list of {"name", "value"}; EventBridge: an object name -> value."""
    if value is None:
        return []
    if isinstance(value, dict):
        return [(str(k), str(v)) for k, v in value.items()]
    if not isinstance(value, list):
        raise AdapterError(f"{where} must be a list")
    pairs = []
    for i, item in enumerate(value):
        dim = require_object(item, f"{where}[{i}]")
        name, val = as_text(dim.get("name") or dim.get("Name")), as_text(dim.get("value") or dim.get("Value"))
        if name and val:
            pairs.append((name, val))
    return pairs


def metric_math_dimensions(metrics: Any, where: str) -> tuple[list[tuple[str, str]], Mapping[str, Any]]:
    if not isinstance(metrics, list):
        raise AdapterError(f"{where} must be a list")
    for i, item in enumerate(metrics):
        entry = require_object(item, f"{where}[{i}]")
        stat = entry.get("MetricStat") or entry.get("metricStat") or {}
        metric = require_object(stat, f"{where}[{i}].MetricStat").get("Metric") or stat.get("metric") or {}
        metric = require_object(metric, f"{where}[{i}].MetricStat.Metric")
        pairs = dimension_pairs(metric.get("Dimensions", metric.get("dimensions")), f"{where}[{i}].Dimensions")
        if pairs:
            return pairs, metric
    return [], {}


def console_url(arn: str | None, name: str) -> str | None:
    parts = (arn or "").split(":")
    if len(parts) < 4 or not parts[3]:
        return None
    region = parts[3]
    return f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}#alarmsV2:alarm/{quote(name)}"


def alarm_alert(alarm: dict[str, Any], delivery_id: str | None, sent_at: Any) -> AlertIn:
    if "detail" in alarm:  # EventBridge "CloudWatch Alarm State Change"
        detail = require_object(alarm["detail"], "Message.detail")
        change = require_object(detail.get("state") or {}, "Message.detail.state")
        config = require_object(detail.get("configuration") or {}, "Message.detail.configuration")
        resources = alarm.get("resources")
        arn = as_text(resources[0]) if isinstance(resources, list) and resources else None
        fields = {"AlarmName": detail.get("alarmName"), "NewStateValue": change.get("value"),
                  "NewStateReason": change.get("reason"), "StateChangeTime": change.get("timestamp") or
                  alarm.get("time"), "AlarmArn": arn, "AlarmDescription": config.get("description"),
                  "AWSAccountId": alarm.get("account"), "Trigger": {"Metrics": config.get("metrics") or []}}
        return alarm_alert(fields, delivery_id or as_text(alarm.get("id")), sent_at)
    name = text(alarm, "AlarmName", "Message.")
    if name is None:
        raise AdapterError("Message.AlarmName is missing")
    state = (text(alarm, "NewStateValue", "Message.") or "").upper()
    if state not in ("ALARM", "OK", "INSUFFICIENT_DATA"):
        raise AdapterError("Message.NewStateValue must be ALARM, OK or INSUFFICIENT_DATA")
    trigger = require_object(alarm.get("Trigger") or {}, "Message.Trigger")
    if "Metrics" in trigger:
        dims, metric = metric_math_dimensions(trigger["Metrics"], "Message.Trigger.Metrics")
        metric_name = as_text(metric.get("MetricName") or metric.get("name"))
        namespace = as_text(metric.get("Namespace") or metric.get("namespace"))
    else:
        dims = dimension_pairs(trigger.get("Dimensions"), "Message.Trigger.Dimensions")
        metric_name, namespace = as_text(trigger.get("MetricName")), as_text(trigger.get("Namespace"))
    description = text(alarm, "AlarmDescription", "Message.") or ""
    reason = text(alarm, "NewStateReason", "Message.") or ""
    explicit = DESCRIPTION_SEVERITY.search(description)
    severity: Severity = normalise_severity(explicit.group(1) if explicit else None)
    if state == "INSUFFICIENT_DATA" and not explicit:
        severity = "low"
    labels = dict(dims)
    extra = {"namespace": namespace, "metric_name": metric_name, "state": state,
             "old_state": text(alarm, "OldStateValue", "Message."),
             "aws_account_id": text(alarm, "AWSAccountId", "Message."), "region": text(alarm, "Region", "Message.")}
    labels.update({k: v for k, v in extra.items() if v})
    arn = text(alarm, "AlarmArn", "Message.")
    value = REASON_VALUE.search(reason)
    return build_alert(
        source=INFO.key,
        status="resolved" if state == "OK" else "firing",
        severity=severity,
        original_severity=explicit.group(1) if explicit else None,
        asset_ref=dims[0][1] if dims else None,
        signature=name,
        message="\n\n".join(p for p in (description, reason) if p),
        labels=labels,
        external_id=arn,
        delivery_id=delivery_id,
        occurred_at=parse_time(alarm.get("StateChangeTime")) or parse_time(sent_at),
        url=console_url(arn, name),
        value=value.group(1) if value else None,
    )


def parse(body: bytes, headers: Mapping[str, str]) -> ParseResult:
    data = require_object(load_json(body))
    if "AlarmName" in data or "detail" in data:  # raw message delivery: no SNS envelope
        return ParseResult(alerts=[alarm_alert(data, None, None)])
    kind = text(data, "Type") or header(headers, "x-amz-sns-message-type")
    if kind in CONTROL_KINDS:
        return control(data, CONTROL_KINDS[kind])
    if kind != "Notification":
        raise AdapterError(f"Type must be Notification, SubscriptionConfirmation or UnsubscribeConfirmation, "
                           f"got {kind!r}")
    message = data.get("Message")
    if not isinstance(message, str):
        raise AdapterError("Message must be a string")
    message_id = text(data, "MessageId")
    if message.lstrip().startswith("{"):
        try:
            inner = json.loads(message)
        except (ValueError, RecursionError):
            inner = None
        if isinstance(inner, dict) and ("AlarmName" in inner or "detail" in inner):
            return ParseResult(alerts=[alarm_alert(inner, message_id, data.get("Timestamp"))])
    topic = text(data, "TopicArn")
    return ParseResult(alerts=[build_alert(
        source=INFO.key,
        signature=text(data, "Subject") or f"SNS notification on {(topic or 'topic').rsplit(':', 1)[-1]}",
        message=message,
        labels={"topic_arn": topic} if topic else {},
        delivery_id=message_id,
        occurred_at=parse_time(data.get("Timestamp")),
    )])
