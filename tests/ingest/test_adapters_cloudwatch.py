"""CloudWatch alarms through SNS (text/plain bodies, subscription confirmation, metric math)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from alertwhisperer.ingest.adapters import cloudwatch
from alertwhisperer.ingest.adapters.base import AdapterError
from alertwhisperer.ingest.schemas import ParseResult

FIXTURES = Path(__file__).parent / "fixtures" / "cloudwatch"
SNS_HEADERS = {"Content-Type": "text/plain; charset=UTF-8", "x-amz-sns-message-type": "Notification"}


def parse(name: str) -> ParseResult:
    return cloudwatch.parse((FIXTURES / name).read_bytes(), SNS_HEADERS)


def test_alarm() -> None:
    [alert] = parse("alarm.json").alerts
    assert (alert.status, alert.severity) == ("firing", "medium")
    assert alert.signature == "EXAMPLE"
    assert alert.asset_ref == "TestInstance"
    assert alert.external_id == "arn:aws:cloudwatch:REGION:ACCOUNT_NUMBER:alarm:EXAMPLE"
    assert alert.delivery_id == "95df01b4-ee98-5cb9-9903-4c221d41eb5e"
    assert alert.occurred_at == datetime(2015, 6, 3, 17, 43, 27, 123000, tzinfo=UTC)
    assert alert.value == "1234.0"
    assert alert.labels["InstanceId"] == "TestInstance"
    assert alert.labels["metric_name"] == "NetworkOut" and alert.labels["namespace"] == "AWS/EC2"
    assert alert.message.startswith("EXAMPLE\n\nThreshold Crossed")


def test_ok_resolves_the_same_alarm() -> None:
    [alert] = parse("ok.json").alerts
    assert alert.status == "resolved"
    assert alert.external_id == "arn:aws:cloudwatch:REGION:ACCOUNT_NUMBER:alarm:EXAMPLE"
    assert alert.value == "0.0"


def test_metric_math_alarm_takes_dimension_from_metrics() -> None:
    [alert] = parse("alarm-metricmath.json").alerts
    assert alert.asset_ref == "TestInstance"
    assert alert.labels["metric_name"] == "NetworkOut"


def test_insufficient_data_with_severity_in_description() -> None:
    [alert] = parse("insufficient-data.json").alerts
    assert alert.status == "firing"
    assert (alert.severity, alert.original_severity) == ("critical", "critical")
    assert alert.asset_ref == "i-0abc123def4567890"
    assert alert.url == ("https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1"
                         "#alarmsV2:alarm/web-01-cpu-high")


def test_insufficient_data_without_severity_is_low() -> None:
    envelope = json.loads((FIXTURES / "insufficient-data.json").read_text())
    alarm = json.loads(envelope["Message"])
    alarm["AlarmDescription"] = None
    envelope["Message"] = json.dumps(alarm)
    [alert] = cloudwatch.parse(json.dumps(envelope).encode(), {}).alerts
    assert (alert.severity, alert.original_severity) == ("low", None)


def test_raw_message_delivery() -> None:
    [alert] = parse("raw-message-delivery.json").alerts
    assert (alert.status, alert.value, alert.delivery_id) == ("firing", "91.2", None)


def test_eventbridge_event_inside_sns() -> None:
    [alert] = parse("eventbridge-in-sns.json").alerts
    assert alert.signature == "db-freeable-memory-low"
    assert alert.asset_ref == "prod-db-1"
    assert alert.external_id == "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:db-freeable-memory-low"
    assert alert.delivery_id == "9e5d1c2b-2222-5e2d-8a9b-0c1d2e3f4a5b"
    assert alert.labels["namespace"] == "AWS/RDS"
    assert alert.value == "1.2E8"


def test_plain_sns_notification_is_one_alert_named_after_subject() -> None:
    [alert] = parse("sns-notification-plain.json").alerts
    assert (alert.signature, alert.message) == ("My First Message", "Hello world!")
    assert alert.delivery_id == "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324"
    assert alert.external_id is None
    assert alert.occurred_at == datetime(2012, 5, 2, 0, 54, 6, 655000, tzinfo=UTC)


def test_subscription_confirmation_is_a_control_message() -> None:
    result = parse("subscription-confirmation.json")
    assert result.alerts == []
    assert result.control is not None
    assert result.control.kind == "sns_subscription_confirmation"
    assert result.control.details["subscribe_url"].startswith(
        "https://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription&TopicArn=")
    assert result.control.details["topic_arn"] == "arn:aws:sns:us-west-2:123456789012:MyTopic"
    assert result.control.details["message_id"] == "165545c9-2a5c-472c-8df2-7ff2be2b3b1b"


def test_unsubscribe_confirmation() -> None:
    result = parse("unsubscribe-confirmation.json")
    assert result.control is not None and result.control.kind == "sns_unsubscribe_confirmation"
    assert result.control.details["message_id"] == "47138184-6831-46b8-8f7c-afc488602d7d"


@pytest.mark.parametrize("url", [
    "http://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription",
    "https://evil.example.com/?Action=ConfirmSubscription",
    "https://sns.us-west-2.amazonaws.com.evil.example/?x",
])
def test_subscription_confirmation_refuses_foreign_urls(url: str) -> None:
    body = json.loads((FIXTURES / "subscription-confirmation.json").read_text()) | {"SubscribeURL": url}
    with pytest.raises(AdapterError, match="SubscribeURL must be"):
        cloudwatch.parse(json.dumps(body).encode(), {})


def test_type_from_header_when_missing_in_body() -> None:
    body = json.loads((FIXTURES / "subscription-confirmation.json").read_text())
    del body["Type"]
    result = cloudwatch.parse(json.dumps(body).encode(), {"X-Amz-Sns-Message-Type": "SubscriptionConfirmation"})
    assert result.control is not None


@pytest.mark.parametrize(("body", "message"), [
    ({"Type": "Bogus"}, "Type must be Notification"),
    ({"Type": "Notification", "Message": {"a": 1}}, "Message must be a string"),
    ({"Type": "SubscriptionConfirmation"}, "SubscribeURL is missing"),
    ({"Type": "Notification", "Message": "{\"AlarmName\": \"a\", \"NewStateValue\": \"MAYBE\"}"},
     "NewStateValue must be ALARM, OK or INSUFFICIENT_DATA"),
    ({"Type": "Notification", "Message": "{\"AlarmName\": \"a\", \"NewStateValue\": \"OK\", \"Trigger\": 3}"},
     "Message.Trigger must be a JSON object"),
    ({"Type": "Notification", "Message": "{\"AlarmName\": \"a\", \"NewStateValue\": \"OK\", "
      "\"Trigger\": {\"Dimensions\": 3}}"}, "Message.Trigger.Dimensions must be a list"),
    ({"AlarmName": ["x"]}, "Message.AlarmName must be a string"),
])
def test_malformed(body: dict, message: str) -> None:
    with pytest.raises(AdapterError, match=message):
        cloudwatch.parse(json.dumps(body).encode(), {})


def test_info() -> None:
    assert cloudwatch.INFO.retries_on_429 is False
