"""Google Cloud Monitoring adapter: pure parsing tests over fixtures and odd inputs."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from alertwhisperer.ingest.adapters import gcp_monitoring
from alertwhisperer.ingest.adapters.base import AdapterError

FIXTURES = Path(__file__).parent / "fixtures" / "gcp-monitoring"


def body(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def data(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(body(name))
    return loaded


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("*.json")))
def test_every_fixture_parses(name: str) -> None:
    result = gcp_monitoring.parse(body(name), {"Content-Type": "application/json"})
    assert result.alerts or result.control


def test_open_incident_fires() -> None:
    [alert] = gcp_monitoring.parse(body("open.json"), {}).alerts
    assert alert.source == "gcp-monitoring"
    assert alert.status == "firing"
    assert alert.severity == "medium" and alert.original_severity == "no severity"
    assert alert.asset_ref == "gke-cluster-1-default-pool-e2df4cbd-dgp3"
    assert alert.signature == "Monitor-Project-Cluster: VM Instance - CPU utilization [MAX]"
    assert alert.message.startswith("CPU utilization for internal-project")
    assert "TEST ALERT" in alert.message  # documentation content follows the summary
    assert alert.external_id == "0.opqiw61fsv7p"
    assert alert.delivery_id == "0.opqiw61fsv7p:open"
    assert alert.occurred_at == datetime.fromtimestamp(1577840461, tz=UTC)
    assert alert.value == "0.953"
    assert alert.url is not None and alert.url.startswith("https://console.cloud.google.com/")
    assert alert.labels["resource.instance_id"] == "11223344"
    assert alert.labels["resource.zone"] == "us-central1-c"
    assert alert.labels["policy.user-label-1"] == "important label"
    assert alert.labels["metric_type"] == "compute.googleapis.com/instance/cpu/utilization"
    assert alert.labels["project_id"] == "internal-project"


def test_closed_incident_resolves_the_same_incident() -> None:
    [opened] = gcp_monitoring.parse(body("open.json"), {}).alerts
    [closed] = gcp_monitoring.parse(body("closed.json"), {}).alerts
    assert closed.status == "resolved"
    assert closed.external_id == opened.external_id
    assert closed.delivery_id != opened.delivery_id
    assert closed.occurred_at == datetime.fromtimestamp(1577877071, tz=UTC)  # ended_at
    assert closed.value == "0.835"


def test_policy_severity_is_normalised() -> None:
    [alert] = gcp_monitoring.parse(body("open-critical-cloudsql.json"), {}).alerts
    assert alert.severity == "critical" and alert.original_severity == "Critical"
    assert alert.asset_ref == "acme-prod:orders-db"
    assert alert.signature == "Cloud SQL disk almost full: Disk utilization > 90%"
    assert alert.labels["user.team"] == "payments"


@pytest.mark.parametrize(("word", "expected"), [("ERROR", "high"), ("Warning", "medium"), ("weird", "medium")])
def test_other_severities(word: str, expected: str) -> None:
    payload = data("open.json")
    payload["incident"]["severity"] = word
    [alert] = gcp_monitoring.parse(json.dumps(payload).encode(), {}).alerts
    assert alert.severity == expected and alert.original_severity == word


def test_console_test_button_is_a_test_control_message() -> None:
    result = gcp_monitoring.parse(body("test-connection.json"), {})
    assert result.alerts == []
    assert result.control is not None and result.control.kind == "test"
    assert result.control.details["summary"] == "Test Incident"


def test_asset_falls_back_to_resource_labels() -> None:
    payload = data("open.json")
    for key in ("resource_display_name", "resource_name"):
        del payload["incident"][key]
    [alert] = gcp_monitoring.parse(json.dumps(payload).encode(), {}).alerts
    assert alert.asset_ref == "11223344"


def test_minimal_incident_and_plain_string_documentation() -> None:
    payload = {"version": "1.2", "incident": {"incident_id": "x1", "state": "OPEN", "documentation": "Call ops"}}
    [alert] = gcp_monitoring.parse(json.dumps(payload).encode(), {}).alerts
    assert alert.status == "firing"
    assert alert.signature == "Cloud Monitoring incident"
    assert alert.message == "Call ops"
    assert alert.asset_ref is None and alert.occurred_at is None


def test_overlong_names_are_clipped() -> None:
    payload = data("open.json")
    payload["incident"]["policy_name"] = "p" * 900
    [alert] = gcp_monitoring.parse(json.dumps(payload).encode(), {}).alerts
    assert len(alert.signature) == 500


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (b"", "not valid JSON"),
        (b"{\"a\": \"\xff\"}", "not UTF-8"),
        (b"[]", "must be a JSON object"),
        (b'{"version": "1.2"}', "'incident' object is missing"),
        (b'{"incident": "x"}', "'incident' object is missing"),
        (b'{"incident": {"state": "open"}}', "incident_id is missing"),
        (b'{"incident": {"incident_id": "1"}}', "state is missing"),
        (b'{"incident": {"incident_id": "1", "state": "paused"}}', "'paused' is not one of"),
    ],
)
def test_malformed_bodies_are_refused_with_the_reason(raw: bytes, problem: str) -> None:
    with pytest.raises(AdapterError, match=problem):
        gcp_monitoring.parse(raw, {})


def test_info() -> None:
    assert gcp_monitoring.INFO.key == "gcp-monitoring"
    assert gcp_monitoring.INFO.retries_on_429 is True
