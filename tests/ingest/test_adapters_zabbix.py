"""Zabbix webhook media type adapter (loosely matched parameter names)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from alertwhisperer.ingest.adapters import zabbix
from alertwhisperer.ingest.adapters.base import AdapterError
from alertwhisperer.ingest.schemas import AlertIn

FIXTURES = Path(__file__).parent / "fixtures" / "zabbix"


def parse_one(name: str) -> AlertIn:
    [alert] = zabbix.parse((FIXTURES / name).read_bytes(), {}).alerts
    return alert


def test_shipped_pagerduty_parameters_problem() -> None:
    alert = parse_one("pagerduty-params-problem.json")
    assert alert.status == "firing"
    assert alert.signature == "High CPU utilization (over 90% for 5m)"  # "Problem: " subject prefix dropped
    assert (alert.severity, alert.original_severity) == ("high", "4")
    assert alert.asset_ref == "web-01"
    assert alert.external_id == "4711"
    assert alert.delivery_id is None
    assert alert.occurred_at == datetime(2024, 1, 15, 10, 21, 4, tzinfo=UTC)
    assert alert.value == "Current utilization: 97.3 %"
    assert alert.url == "https://zabbix.example.com/tr_events.php?triggerid=23456&eventid=4711"
    assert alert.labels == {"class": "os", "component": "cpu", "scope": "performance", "target": "linux",
                            "host_ip": "192.0.2.10", "trigger_id": "23456", "event_source": "0"}
    assert alert.message.startswith("Problem started at 10:21:04 on 2024.01.15")


def test_shipped_pagerduty_parameters_recovery_pairs_with_problem() -> None:
    alert = parse_one("pagerduty-params-recovery.json")
    assert alert.status == "resolved"
    assert alert.external_id == "4711"
    assert alert.signature == "High CPU utilization (over 90% for 5m)"  # "Resolved in 6m 0s: " dropped


def test_shipped_pagerduty_parameters_update_ack() -> None:
    alert = parse_one("pagerduty-params-update-ack.json")
    assert alert.status == "acknowledged"
    assert alert.external_id == "4711"
    assert alert.signature == "High CPU utilization (over 90% for 5m)"


def test_guide_parameters_problem_ignores_unexpanded_macros() -> None:
    alert = parse_one("guide-problem.json")
    assert alert.status == "firing"
    assert (alert.severity, alert.original_severity) == ("medium", "Average")
    assert alert.signature == "Disk space is low on /"
    assert alert.asset_ref == "db-01"
    assert "update_action" not in alert.labels  # "{EVENT.UPDATE.ACTION}" was not expanded
    assert alert.labels["service"] == "db"


def test_guide_parameters_recovery_uses_recovery_time() -> None:
    alert = parse_one("guide-recovery.json")
    assert alert.status == "resolved"
    assert alert.external_id == "9001"
    assert alert.occurred_at == datetime(2024, 2, 1, 7, 0, tzinfo=UTC)
    assert alert.labels["recovery_event_id"] == "9050"


def test_guide_parameters_ack_and_unack() -> None:
    ack = parse_one("guide-update-ack.json")
    assert (ack.status, ack.external_id) == ("acknowledged", "9001")
    assert ack.occurred_at == datetime(2024, 2, 1, 6, 25, tzinfo=UTC)
    assert parse_one("guide-update-unack.json").status == "firing"


def test_macro_style_names_and_tags_json() -> None:
    alert = parse_one("macro-names-tagsjson.json")
    assert (alert.severity, alert.original_severity) == ("critical", "5")
    assert alert.signature == "Zabbix agent is not available"
    assert alert.asset_ref == "fw-01"
    assert alert.labels["class"] == "software" and alert.labels["host_ip"] == "198.51.100.1"
    assert "recovery_event_id" not in alert.labels
    assert alert.occurred_at == datetime(2024, 2, 2, 23, 59, 59, tzinfo=UTC)


def test_status_word_named_severity_and_tag_list() -> None:
    alert = parse_one("status-words-named-severity.json")
    assert (alert.status, alert.severity, alert.original_severity) == ("firing", "critical", "Disaster")
    assert alert.labels == {"service": "nginx", "team": ""}


@pytest.mark.parametrize(("severity", "expected"), [
    ("0", "info"), ("1", "info"), ("2", "low"), ("3", "medium"), ("4", "high"), ("5", "critical"),
    ("Not classified", "info"), ("Information", "info"), ("Warning", "low"), ("Average", "medium"),
    ("High", "high"), ("Disaster", "critical"), ("Urgent", "medium"),
])
def test_severity_mapping(severity: str, expected: str) -> None:
    [alert] = zabbix.parse(json.dumps({"event_name": "x", "event_severity": severity}).encode(), {}).alerts
    assert alert.severity == expected


@pytest.mark.parametrize(("params", "status"), [
    ({"event_value": "0"}, "resolved"),
    ({"status": "OK"}, "resolved"),
    ({"trigger_status": "PROBLEM"}, "firing"),
    ({"event_update_status": "1", "event_update_action": "closed problem"}, "resolved"),
    ({"event_update_status": "1", "event_update_action": "commented", "event_ack_status": "Yes"}, "acknowledged"),
    ({"event_update_status": "1", "event_update_action": "changed severity"}, "firing"),
])
def test_status_rules(params: dict[str, str], status: str) -> None:
    [alert] = zabbix.parse(json.dumps({"trigger_name": "x", **params}).encode(), {}).alerts
    assert alert.status == status


def test_host_ip_is_the_asset_when_there_is_no_host() -> None:
    [alert] = zabbix.parse(b'{"trigger_name": "x", "host_ip": "10.1.1.1", "event_id": 5}', {}).alerts
    assert (alert.asset_ref, alert.external_id) == ("10.1.1.1", "5")


@pytest.mark.parametrize(("body", "message"), [
    (b'{"event_id": "1"}', "no problem name"),
    (b'{"event_name": "{EVENT.NAME}"}', "no problem name"),
    (b'{"event_name": "x", "event_id": {"a": 1}}', "event_id must be a string"),
    (b'{"event_name": "x", "event_tags": 7}', "event_tags must be a 'tag:value"),
    (b'{"event_name": "x", "event_tags": [{"value": "v"}]}', r"event_tags\[0\] must be an object"),
    (b'{"event_name": "x", "event_tags_json": "[{"}', "event_tags_json is not valid JSON"),
    (b'[1, 2]', "body must be a JSON object"),
])
def test_malformed(body: bytes, message: str) -> None:
    with pytest.raises(AdapterError, match=message):
        zabbix.parse(body, {})


def test_info() -> None:
    assert zabbix.INFO.retries_on_429 is True
