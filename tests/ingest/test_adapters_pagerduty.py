"""PagerDuty Events API v2 (and v1) senders adapter."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from alertwhisperer.ingest.adapters import pagerduty
from alertwhisperer.ingest.adapters.base import AdapterError

FIXTURES = Path(__file__).parent / "fixtures" / "pagerduty"


def parse(name: str) -> list:
    return pagerduty.parse((FIXTURES / name).read_bytes(), {}).alerts


def test_trigger() -> None:
    [alert] = parse("trigger.json")
    assert (alert.status, alert.severity, alert.original_severity) == ("firing", "critical", "critical")
    assert alert.signature == "DISK at 99% on machine prod-datapipe03.example.com"
    assert alert.asset_ref == "prod-datapipe03.example.com"
    assert alert.external_id == "srv01/mysql"
    assert alert.occurred_at == datetime(2015, 7, 17, 8, 42, 58, 315000, tzinfo=UTC)
    assert alert.url == "http://pagerduty.example.com"
    assert alert.labels == {"free space": "1%", "ping time": "1500ms", "load avg": "0.75", "component": "mysql",
                            "group": "prod-datapipe", "class": "disk", "client": "Sample Monitoring Service"}
    assert "e93facc04764012d7bfb002500d5d1a6" not in json.dumps(alert.model_dump(mode="json"))  # routing key


@pytest.mark.parametrize(("name", "status"), [("acknowledge.json", "acknowledged"), ("resolve.json", "resolved")])
def test_acknowledge_and_resolve_by_dedup_key(name: str, status: str) -> None:
    [alert] = parse(name)
    assert (alert.status, alert.external_id, alert.signature) == (status, "srv01/mysql", "srv01/mysql")


def test_resolve_repeating_the_payload() -> None:
    [alert] = parse("alertmanager-resolve-with-payload.json")
    assert alert.status == "resolved"
    assert alert.signature == "[RESOLVED:1] InstanceDown (node-3:9100 node)"
    assert alert.labels["client"] == "Alertmanager"


def test_zabbix_media_type_body() -> None:
    [alert] = parse("zabbix-media-type-trigger.json")
    assert (alert.severity, alert.original_severity) == ("high", "error")
    assert alert.asset_ref == "web-01 : 192.0.2.10"
    assert alert.external_id == "4711"
    assert alert.url == "https://zabbix.example.com/tr_events.php?triggerid=23456&eventid=4711"
    assert alert.labels["Event host"] == "web-01"


def test_batch_list() -> None:
    trigger, resolve = parse("batch.json")
    assert (trigger.status, trigger.severity, trigger.external_id) == ("firing", "medium", "host-a/disk")
    assert trigger.message == "Disk full on host-a\n\ndf shows 100% on /"  # string custom_details
    assert (resolve.status, resolve.external_id) == ("resolved", "host-b/disk")


def test_events_v1() -> None:
    [alert] = parse("v1-trigger.json")
    assert (alert.status, alert.severity, alert.external_id) == ("firing", "high", "srv01/HTTP")
    assert alert.signature == "FAILURE for production/HTTP on machine srv01.acme.com"
    assert alert.labels == {"ping time": "1500ms", "load avg": "0.75"}
    v1_resolve = b'{"service_key": "k", "event_type": "resolve", "incident_key": "srv01/HTTP"}'
    [resolved] = pagerduty.parse(v1_resolve, {}).alerts
    assert (resolved.status, resolved.external_id) == ("resolved", "srv01/HTTP")


@pytest.mark.parametrize(("body", "message"), [
    (b'{"event_action": "explode"}', "event_action must be one of trigger, acknowledge, resolve"),
    (b'{"routing_key": "x"}', "event_action must be one of"),
    (b'{"event_action": "trigger"}', "payload must be an object for a trigger event"),
    (b'{"event_action": "trigger", "payload": {"source": "a"}}', "payload.summary is required"),
    (b'{"event_action": "trigger", "payload": []}', "payload must be an object"),
    (b'{"event_action": "resolve"}', "dedup_key is required for resolve events"),
    (b'{"event_action": "trigger", "payload": {"summary": "s"}, "links": {}}', "links must be a list"),
    (b'{"event_action": "trigger", "payload": {"summary": {"a": 1}}}', "payload.summary must be a string"),
    (b'[{"event_action": "trigger", "payload": {"summary": "ok"}}, {"event_action": "resolve"}]',
     r"\[1\].dedup_key is required"),
    (b'[3]', r"\[0\] must be a JSON object"),
    (b'{"event_type": "acknowledge"}', "incident_key is required"),
    (b'{"event_type": "trigger"}', "description is required"),
    (b'7', "body must be a JSON object"),
])
def test_malformed(body: bytes, message: str) -> None:
    with pytest.raises(AdapterError, match=message):
        pagerduty.parse(body, {})


def test_info() -> None:
    assert pagerduty.INFO.retries_on_429 is True
