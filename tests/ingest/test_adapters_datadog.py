"""Datadog webhook adapter (default template: state from the title prefix; extended variables)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from alertwhisperer.ingest.adapters import datadog
from alertwhisperer.ingest.adapters.base import AdapterError

FIXTURES = Path(__file__).parent / "fixtures" / "datadog"


def parse(name: str) -> list:
    return datadog.parse((FIXTURES / name).read_bytes(), {"Content-Type": "application/json"}).alerts


def test_default_template_triggered() -> None:
    [alert] = parse("default-triggered.json")
    assert (alert.status, alert.severity, alert.original_severity) == ("firing", "high", "Triggered")
    assert alert.signature == "CPU usage high"
    assert alert.asset_ref == "web-01"
    assert alert.external_id == "12345678/host:web-01"  # monitor id from the body link + group from the title
    assert alert.delivery_id == "7420195876543210987"
    assert alert.occurred_at == datetime(2024, 1, 15, 10, 21, 4, tzinfo=UTC)
    assert alert.message.startswith("CPU usage on host:web-01 is above 90%")
    assert "%%%" not in alert.message
    assert alert.url is not None and alert.url.startswith("https://app.datadoghq.com/monitors/12345678?")
    assert alert.labels["datadog_org"] == "Example MSP Customer"


def test_default_template_recovered_pairs_with_triggered() -> None:
    [alert] = parse("default-recovered.json")
    assert alert.status == "resolved"
    assert alert.external_id == "12345678/host:web-01"
    assert alert.delivery_id == "7420195876543299999"


def test_default_no_data() -> None:
    [alert] = parse("default-nodata.json")
    assert (alert.status, alert.severity, alert.asset_ref) == ("firing", "low", "db-02")
    assert alert.signature == "Disk usage"
    assert alert.external_id == "555/host:db-02"


def test_extended_template() -> None:
    [alert] = parse("extended-triggered.json")
    assert (alert.status, alert.severity, alert.original_severity) == ("firing", "high", "P2")
    assert alert.signature == "CPU usage high"
    assert alert.external_id == "9bd4ac313a4d1e8fae2482df7b77628"
    assert alert.asset_ref == "web-01"
    assert alert.labels["env"] == "prod" and alert.labels["monitor"] == ""
    assert alert.labels["alert_metric"] == "system.cpu.user"
    assert alert.url == "https://app.datadoghq.com/event/event?id=7420195876543210987"
    [recovered] = parse("extended-recovered.json")
    assert recovered.status == "resolved"
    assert recovered.external_id == alert.external_id


def test_uppercase_keys_and_utc_suffix_dates() -> None:
    [alert] = parse("uppercase-keys.json")
    assert (alert.status, alert.severity) == ("firing", "medium")  # Warn
    assert alert.signature == "CPU load is high on my-host"  # no event title: the alert title
    assert alert.occurred_at == datetime(2024, 1, 15, 10, 30, tzinfo=UTC)
    assert alert.labels["environment"] == "production"
    assert alert.delivery_id == "87654321"


@pytest.mark.parametrize(("title", "status", "severity"), [
    ("[Re-Triggered on {host:a}] Disk", "firing", "high"),
    ("[Warn on {host:a}] Disk", "firing", "medium"),
    ("[Recovered] Disk", "resolved", "info"),
    ("[P1] [Triggered on {host:a,device:sda}] Disk", "firing", "critical"),
    ("[Staging] Disk", "firing", "medium"),  # not a state prefix: kept in the name
])
def test_title_prefixes(title: str, status: str, severity: str) -> None:
    [alert] = datadog.parse(json.dumps({"title": title, "id": "1"}).encode(), {}).alerts
    assert (alert.status, alert.severity) == (status, severity)
    assert alert.signature == ("[Staging] Disk" if "Staging" in title else "Disk")
    if "host:a" in title:
        assert alert.asset_ref == "a"


def test_form_encoded_body() -> None:
    body = b"title=%5BTriggered+on+%7Bhost%3Aweb-09%7D%5D+Load+high&id=99&alert_id=42"
    [alert] = datadog.parse(body, {"content-type": "application/x-www-form-urlencoded"}).alerts
    assert (alert.signature, alert.asset_ref, alert.external_id) == ("Load high", "web-09", "42/host:web-09")


def test_event_priority_is_not_a_monitor_priority() -> None:
    body = {"title": "[Triggered] X", "priority": "normal", "alert_transition": "Triggered"}
    [alert] = datadog.parse(json.dumps(body).encode(), {}).alerts
    assert (alert.severity, alert.original_severity) == ("high", "Triggered")


@pytest.mark.parametrize(("name_or_body", "message"), [
    ("default-template-unrendered.json", "no monitor name"),
    ("servicenow-template-unrendered.json", "no monitor name"),
    (b'{"title": ["x"]}', "title must be a string"),
    (b'{"title": "[Triggered] x", "tags": 5}', "tags must be a comma-separated string"),
    (b'{"title": "[Triggered] x", "tags": [1]}', "tags must be a comma-separated string"),
    (b'{}', "no monitor name"),
    (b'"x"', "body must be a JSON object"),
])
def test_malformed(name_or_body: str | bytes, message: str) -> None:
    body = name_or_body if isinstance(name_or_body, bytes) else (FIXTURES / name_or_body).read_bytes()
    with pytest.raises(AdapterError, match=message):
        datadog.parse(body, {})


def test_info() -> None:
    assert datadog.INFO.retries_on_429 is False  # Datadog retries only 5xx


def test_status_text_that_is_not_a_transition_falls_back_to_the_title() -> None:
    body = {"title": "[Recovered on {host:a}] Load", "status": "system.load.1 over host:a was > 1"}
    [alert] = datadog.parse(json.dumps(body).encode(), {}).alerts
    assert alert.status == "resolved"
    assert alert.labels["alert_status"] == "system.load.1 over host:a was > 1"
