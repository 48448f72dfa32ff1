"""New Relic adapter: workflow default template and legacy channel webhooks."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from alertwhisperer.ingest.adapters import newrelic
from alertwhisperer.ingest.adapters.base import AdapterError

FIXTURES = Path(__file__).parent / "fixtures" / "newrelic"
ISSUE = "0ea2df1c-adab-45d1-aed1-2f3c9a8b1e77"


def body(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def data(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(body(name))
    return loaded


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("*.json")))
def test_every_fixture_parses(name: str) -> None:
    [alert] = newrelic.parse(body(name), {"Content-Type": "application/json"}).alerts
    assert alert.source == "newrelic" and alert.external_id


def test_activated_issue_fires() -> None:
    [alert] = newrelic.parse(body("workflow-activated.json"), {}).alerts
    assert alert.status == "firing"
    assert alert.severity == "critical" and alert.original_severity == "CRITICAL"
    assert alert.asset_ref == "checkout"
    assert alert.signature == "Memory high"
    assert alert.message == "Memory Used % > 90 for at least 2 minutes on 'checkout'"
    assert alert.external_id == ISSUE
    assert alert.delivery_id == f"{ISSUE}:ACTIVATED:1705314064123:STATE_CHANGE"
    assert alert.occurred_at == datetime(2024, 1, 15, 10, 21, 4, 123000, tzinfo=UTC)
    assert alert.url is not None and ISSUE in alert.url
    assert alert.labels == {
        "entities": "checkout", "conditions": "Memory high", "policies": "Production infra",
        "sources": "newrelic", "trigger": "STATE_CHANGE", "workflowName": "MSP intake",
        "totalIncidents": "1", "isCorrelated": "false",
    }


def test_acknowledged_and_closed_pair_with_the_activation() -> None:
    [fired] = newrelic.parse(body("workflow-activated.json"), {}).alerts
    [acked] = newrelic.parse(body("workflow-acknowledged.json"), {}).alerts
    [closed] = newrelic.parse(body("workflow-closed.json"), {}).alerts
    assert (acked.status, closed.status) == ("acknowledged", "resolved")
    assert fired.external_id == acked.external_id == closed.external_id == ISSUE
    assert len({fired.delivery_id, acked.delivery_id, closed.delivery_id}) == 3
    assert closed.occurred_at == datetime(2024, 1, 15, 10, 36, 4, 555000, tzinfo=UTC)  # updatedAt


def test_correlated_issue_keeps_every_entity() -> None:
    [alert] = newrelic.parse(body("workflow-correlated-high.json"), {}).alerts
    assert alert.severity == "high"
    assert alert.asset_ref == "api-gateway"
    assert alert.labels["entities"] == "api-gateway, api-gateway-canary"
    assert alert.labels["isCorrelated"] == "true"
    assert alert.labels["trigger"] == "INCIDENT_ADDED"


def test_legacy_channel_webhook() -> None:
    [alert] = newrelic.parse(body("legacy-channel-open.json"), {}).alerts
    assert alert.status == "firing"
    assert alert.severity == "critical"
    assert alert.asset_ref == "db-02"
    assert alert.signature == "CPU > 90%"
    assert alert.message == "CPU % > 90.0 for at least 5 minutes on 'db-02'"
    assert alert.external_id == "98765"
    assert alert.url == "https://alerts.newrelic.com/accounts/1234567/incidents/98765"
    assert alert.labels["policy_name"] == "Infrastructure"
    payload = data("legacy-channel-open.json")
    payload["current_state"] = "closed"
    [closed] = newrelic.parse(json.dumps(payload).encode(), {}).alerts
    assert closed.status == "resolved" and closed.external_id == "98765"


def test_template_variable_names_are_accepted() -> None:
    payload = {"issueId": "abc", "issuePageUrl": "https://one.newrelic.com/x", "state": "CREATED",
               "priority": "LOW", "annotations.title": ["Disk full"], "entitiesData.names": ["nas-01"]}
    [alert] = newrelic.parse(json.dumps(payload).encode(), {}).alerts
    assert (alert.external_id, alert.url, alert.status) == ("abc", "https://one.newrelic.com/x", "firing")
    assert (alert.signature, alert.asset_ref, alert.severity) == ("Disk full", "nas-01", "low")


def test_minimal_issue_without_names() -> None:
    [alert] = newrelic.parse(b'{"id": "i-1", "state": "ACTIVATED"}', {}).alerts
    assert alert.signature == "New Relic issue"
    assert alert.severity == "medium" and alert.asset_ref is None


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (b"not json", "not valid JSON"),
        (b'"x"', "must be a JSON object"),
        (b'{"state": "ACTIVATED"}', "issue 'id' is missing"),
        (b'{"id": "x"}', "'state' is missing"),
        (b'{"id": "x", "state": "SNOOZED"}', "'SNOOZED' is not one of"),
        (b'{"incident_id": 5, "current_state": "weird"}', "'weird' is not one of"),
        (b'{"incident_id": null, "current_state": "open"}', "incident_id' is missing"),
    ],
)
def test_malformed_bodies_are_refused(raw: bytes, problem: str) -> None:
    with pytest.raises(AdapterError, match=problem):
        newrelic.parse(raw, {})
