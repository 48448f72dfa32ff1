"""Azure Monitor common alert schema adapter."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from alertwhisperer.ingest.adapters import azure_monitor
from alertwhisperer.ingest.adapters.base import AdapterError

FIXTURES = Path(__file__).parent / "fixtures" / "azure-monitor"
ALERT_ID = ("/subscriptions/<subscription ID>/providers/Microsoft.AlertsManagement/alerts/"
            "aaaa0a0a-bb1b-cc2c-dd3d-eeeeee4e4e4e")
TARGET = ("/subscriptions/<subscription ID>/resourcegroups/pipelinealertrg/providers/microsoft.compute/"
          "virtualmachines/wcus-r2-gen2")


def parse(name: str) -> list:
    return azure_monitor.parse((FIXTURES / name).read_bytes(), {}).alerts


def test_metric_alert_fired() -> None:
    [alert] = parse("metric-fired.json")
    assert alert.source == "azure-monitor"
    assert (alert.status, alert.severity, alert.original_severity) == ("firing", "low", "Sev3")
    assert alert.signature == "WCUS-R2-Gen2"
    assert alert.external_id == ALERT_ID
    assert alert.asset_ref == TARGET
    assert alert.occurred_at == datetime(2019, 3, 22, 13, 58, 24, 371321, tzinfo=UTC)
    assert alert.value == "31.1105"
    assert alert.message == "Percentage CPU GreaterThan 25 (Average) - value 31.1105"
    assert alert.labels["configurationItem"] == "wcus-r2-gen2"
    assert alert.labels["ResourceId"] == "b1b1b1b1-cccc-dddd-eeee-f2f2f2f2f2f2"
    assert alert.labels["signalType"] == "Metric"


def test_metric_alert_resolved_uses_resolved_time() -> None:
    [alert] = parse("metric-resolved.json")
    assert (alert.status, alert.external_id) == ("resolved", ALERT_ID)
    assert alert.occurred_at == datetime(2019, 3, 22, 14, 3, 16, 224631, tzinfo=UTC)
    assert alert.value == "7.727"


def test_log_alert_v2() -> None:
    [alert] = parse("log-alert-v2-fired.json")
    assert (alert.severity, alert.original_severity) == ("high", "Sev1")
    assert alert.signature == "Heartbeat missing"
    assert alert.labels["Computer"] == "vm-app-03"
    assert alert.labels["customer"] == "Acme Dental"
    assert alert.message.startswith("No heartbeat for 10 minutes\n\nHeartbeat | summarize")


@pytest.mark.parametrize(("sev", "expected"), [("Sev0", "critical"), ("Sev1", "high"), ("Sev2", "medium"),
                                               ("Sev3", "low"), ("Sev4", "info"), ("Sev9", "medium")])
def test_severity_mapping(sev: str, expected: str) -> None:
    body = json.loads((FIXTURES / "metric-fired.json").read_text())
    body["data"]["essentials"]["severity"] = sev
    [alert] = azure_monitor.parse(json.dumps(body).encode(), {}).alerts
    assert alert.severity == expected


def test_configuration_item_when_no_target_ids() -> None:
    body = json.loads((FIXTURES / "metric-fired.json").read_text())
    body["data"]["essentials"]["alertTargetIDs"] = []
    [alert] = azure_monitor.parse(json.dumps(body).encode(), {}).alerts
    assert alert.asset_ref == "wcus-r2-gen2"


@pytest.mark.parametrize(("body", "message"), [
    ({"schemaId": "AzureMonitorMetricAlert", "data": {}}, "enable the common alert schema"),
    ({"schemaId": "azureMonitorCommonAlertSchema"}, "data must be a JSON object"),
    ({"data": {"essentials": []}}, "data.essentials must be a JSON object"),
    ({"data": {"essentials": {"monitorCondition": "Fired"}}}, "alertRule is missing"),
    ({"data": {"essentials": {"alertRule": "r", "monitorCondition": "Maybe"}}}, "must be Fired or Resolved"),
    ({"data": {"essentials": {"alertRule": "r", "monitorCondition": "Fired", "alertTargetIDs": "x"}}},
     "alertTargetIDs must be a list"),
    ({"data": {"essentials": {"alertRule": "r", "monitorCondition": "Fired"}, "alertContext": 3}},
     "alertContext must be an object"),
])
def test_malformed(body: dict, message: str) -> None:
    with pytest.raises(AdapterError, match=message):
        azure_monitor.parse(json.dumps(body).encode(), {})


def test_info() -> None:
    assert azure_monitor.INFO.key == "azure-monitor"
    assert azure_monitor.INFO.retries_on_429 is True
