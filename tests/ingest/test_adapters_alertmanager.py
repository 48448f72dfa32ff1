"""Alertmanager webhook v4 adapter over its fixtures (pure: no database)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from alertwhisperer.ingest.adapters import alertmanager
from alertwhisperer.ingest.adapters.base import AdapterError

FIXTURES = Path(__file__).parent / "fixtures" / "alertmanager"


def parse(name: str) -> list:
    return alertmanager.parse((FIXTURES / name).read_bytes(), {"Content-Type": "application/json"}).alerts


@pytest.mark.parametrize("name", ["firing.json", "firing-v0.34.json"])
def test_firing(name: str) -> None:
    [alert] = parse(name)
    assert alert.source == "alertmanager"
    assert alert.status == "firing"
    assert alert.signature == "ProbeFailure"
    assert (alert.severity, alert.original_severity) == ("critical", "critical")
    assert alert.asset_ref == "https://server.example.org"
    assert alert.external_id == "1a30ba71cca2921f"
    assert alert.delivery_id is None
    assert alert.occurred_at == datetime(2023, 2, 6, 13, 8, 45, 828000, tzinfo=UTC)
    assert alert.url == "http://prometheus.example.org:9090/graph?g0.expr=probe_success+%3D%3D+0&g0.tab=1"
    assert alert.message == ("BlackBox Probe Failure: https://server.example.org\n\n"
                             "Instance https://server.example.org has been down for over 5m. Job: http_checks")
    assert alert.labels == {"alertname": "ProbeFailure", "instance": "https://server.example.org",
                            "job": "http_checks", "monitor": "master", "severity": "critical"}


def test_resolved_uses_ends_at_and_same_fingerprint() -> None:
    [alert] = parse("resolved.json")
    assert alert.status == "resolved"
    assert alert.external_id == "1a30ba71cca2921f"
    assert alert.occurred_at == datetime(2023, 2, 6, 13, 23, 45, 828000, tzinfo=UTC)


def test_batch_one_alert_per_entry_with_own_status_and_instance_port() -> None:
    alerts = parse("batch-mixed.json")
    assert [a.status for a in alerts] == ["firing", "firing", "resolved"]
    assert [a.asset_ref for a in alerts] == ["10.0.0.5:9100", "10.0.0.6:9100", "10.0.0.7:9100"]
    assert [a.severity for a in alerts] == ["medium", "critical", "medium"]
    assert [a.external_id for a in alerts] == ["5ef77f1f8a3ecb8d", "a1b2c3d4e5f60718", "0f0e0d0c0b0a0908"]
    assert alerts[0].message.endswith(
        "Runbook: https://runbooks.prometheus-operator.dev/runbooks/node/nodefilesystemalmostoutofspace")
    assert alerts[2].occurred_at == datetime(2024, 3, 1, 8, 2, tzinfo=UTC)
    assert all(a.signature == "NodeFilesystemAlmostOutOfSpace" for a in alerts)


def test_no_asset_label_and_severity_none() -> None:
    [alert] = parse("no-instance-label.json")
    assert alert.asset_ref is None
    assert (alert.severity, alert.original_severity) == ("info", "none")
    assert alert.url is None  # empty generatorURL


def test_job_is_the_last_resort_asset_and_status_defaults_to_group() -> None:
    body = {"status": "resolved", "alerts": [{"labels": {"alertname": "X", "job": "api"}}]}
    [alert] = alertmanager.parse(json.dumps(body).encode(), {}).alerts
    assert (alert.asset_ref, alert.status) == ("api", "resolved")


def test_empty_batch_is_not_an_error() -> None:
    assert alertmanager.parse(b'{"alerts": []}', {}).alerts == []


@pytest.mark.parametrize(("body", "message"), [
    (b'{"alerts": {}}', "alerts must be a list"),
    (b'{"version": "4"}', "alerts must be a list"),
    (b'{"alerts": [{"labels": {"alertname": "A"}}, {"labels": {}}, {"labels": "x"}]}',
     "alerts[2].labels must be an object"),
    (b'{"alerts": [1]}', "alerts[0] must be a JSON object"),
    (b'{"alerts": [{"labels": {"a": {"b": 1}}}]}', "alerts[0].labels.a must be a string"),
    (b'{"alerts": [{"annotations": []}]}', "alerts[0].annotations must be an object"),
    (b'{"alerts": [{"status": 5}]}', "alerts[0].status must be a string"),
    (b'[]', "body must be a JSON object"),
    (b'{', "body is not valid JSON"),
])
def test_malformed(body: bytes, message: str) -> None:
    with pytest.raises(AdapterError, match=message.replace("[", r"\[").replace("]", r"\]")):
        alertmanager.parse(body, {})


def test_info() -> None:
    assert alertmanager.INFO.key == "alertmanager"
    assert alertmanager.INFO.retries_on_429 is False
