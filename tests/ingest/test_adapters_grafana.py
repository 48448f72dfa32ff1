"""Grafana webhook adapter (unified alerting and legacy dashboard alerts) over its fixtures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from alertwhisperer.ingest.adapters import grafana
from alertwhisperer.ingest.adapters.base import AdapterError

FIXTURES = Path(__file__).parent / "fixtures" / "grafana"
CEST = timezone(timedelta(hours=2))


def parse(name: str) -> list:
    return grafana.parse((FIXTURES / name).read_bytes(), {}).alerts


def test_docs_example_is_a_batch_of_two() -> None:
    first, second = parse("firing-docs.json")
    assert (first.signature, second.signature) == ("High memory usage", "High CPU usage")
    assert first.status == second.status == "firing"
    assert (first.external_id, second.external_id) == ("c6eadffa33fcdf37", "bc97ff14869b13e3")
    assert first.value == "B=44.23943737541908, C=1"
    assert first.occurred_at == datetime(2021, 10, 12, 9, 51, 3, 157076, tzinfo=CEST)
    assert first.url == "https://play.grafana.org/alerting/1afz29v7z/edit"
    assert first.message == ("This alert was triggered for zone us-1\n\nThe system has high memory usage\n\n"
                             "Runbook: https://myrunbook.com/runbook/1234")
    assert first.labels == {"alertname": "High memory usage", "team": "blue", "zone": "us-1"}
    assert first.severity == "medium" and first.original_severity is None
    assert first.asset_ref is None and first.delivery_id is None


def test_resolved_pairs_by_fingerprint_and_uses_ends_at() -> None:
    first, second = parse("resolved.json")
    assert first.status == second.status == "resolved"
    assert first.external_id == "c6eadffa33fcdf37"
    assert first.occurred_at == datetime(2021, 10, 12, 10, 6, 3, 157076, tzinfo=CEST)


def test_upstream_test_fixture_zero_times_and_null_values() -> None:
    [alert] = parse("firing-testfixture.json")
    assert alert.signature == "alert1"
    assert alert.occurred_at is None  # Go zero time
    assert alert.value is None  # values null, valueString ""
    assert alert.external_id == "fac0861a85de433a"


def test_value_string_instance_and_severity() -> None:
    [alert] = parse("value-string-instance.json")
    assert alert.asset_ref == "web-01:9100"
    assert (alert.severity, alert.original_severity) == ("critical", "critical")
    assert alert.value is not None and alert.value.startswith("[ var='B' labels={instance=web-01:9100} value=97.5 ]")
    assert alert.occurred_at == datetime(2024, 3, 1, 9, 0, tzinfo=UTC)


def test_datasource_no_data_is_named_after_its_rule() -> None:
    [alert] = parse("datasource-nodata.json")
    assert alert.signature == "Disk usage high (DatasourceNoData)"
    assert alert.labels["rulename"] == "Disk usage high"


def test_legacy_alerting_and_ok() -> None:
    [firing] = parse("legacy-alerting.json")
    assert (firing.status, firing.signature, firing.external_id) == ("firing", "Panel Title alert", "rule-1")
    assert firing.value == "Count=1"
    assert firing.message == "Notification Message"
    assert firing.labels == {"tag name": "tag value", "grafana_state": "alerting"}
    assert firing.url is not None and firing.url.startswith("http://localhost:3000/d/hZ7BuVbWz/")
    [ok] = parse("legacy-ok.json")
    assert (ok.status, ok.external_id, ok.signature) == ("resolved", "rule-1", "Panel Title alert")


def test_legacy_no_data_is_low() -> None:
    [alert] = grafana.parse(b'{"ruleId": 7, "ruleName": "r", "state": "no_data", "evalMatches": []}', {}).alerts
    assert (alert.status, alert.severity) == ("firing", "low")


@pytest.mark.parametrize(("body", "message"), [
    (b'{"receiver": "x"}', "alerts must be a list"),
    (b'{"alerts": [{"labels": []}]}', r"alerts\[0\].labels must be an object"),
    (b'{"alerts": [{"values": [1, 2]}]}', r"alerts\[0\].values must be an object or null"),
    (b'{"ruleId": 1, "state": {}}', "state must be a string"),
    (b'{"ruleId": 1, "state": "ok", "evalMatches": {}}', "evalMatches must be a list"),
    (b'{"ruleId": 1, "state": "ok", "evalMatches": [3]}', r"evalMatches\[0\] must be a JSON object"),
    (b'null', "body must be a JSON object"),
])
def test_malformed(body: bytes, message: str) -> None:
    with pytest.raises(AdapterError, match=message):
        grafana.parse(body, {})


def test_info() -> None:
    assert grafana.INFO.retries_on_429 is False
