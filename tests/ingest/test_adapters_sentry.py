"""Sentry adapter: issue alerts, metric alerts and issue lifecycle webhooks."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from alertwhisperer.ingest.adapters import sentry
from alertwhisperer.ingest.adapters.base import AdapterError

FIXTURES = Path(__file__).parent / "fixtures" / "sentry"
RESOURCE = {
    "event-alert-triggered.json": "event_alert", "event-alert-backend-fatal.json": "event_alert",
    "metric-alert-critical.json": "metric_alert", "metric-alert-resolved.json": "metric_alert",
    "issue-created.json": "issue", "issue-resolved.json": "issue", "issue-assigned.json": "issue",
    "installation-created.json": "installation",
}


def body(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def hook(name: str, request_id: str = "req-1") -> dict[str, str]:
    return {"Content-Type": "application/json", "Sentry-Hook-Resource": RESOURCE[name], "Request-ID": request_id}


def test_every_fixture_is_listed() -> None:
    assert sorted(p.name for p in FIXTURES.glob("*.json")) == sorted(RESOURCE)


@pytest.mark.parametrize("name", sorted(RESOURCE))
def test_every_fixture_parses(name: str) -> None:
    result = sentry.parse(body(name), hook(name))
    assert len(result.alerts) == (0 if RESOURCE[name] == "installation" else 1)


def test_issue_alert_fires_on_the_issue() -> None:
    [alert] = sentry.parse(body("event-alert-triggered.json"), hook("event-alert-triggered.json")).alerts
    assert alert.status == "firing"
    assert alert.severity == "high" and alert.original_severity == "error"
    assert alert.asset_ref == "front-end"  # project slug from the event's API url (no server_name)
    assert alert.signature == "ReferenceError: heck is not defined"
    assert "Very Important Alert Rule!" in alert.message
    assert alert.external_id == "1117540176"
    assert alert.delivery_id == "event:e4874d664c3540c1a32eab185f12c5ab:Very Important Alert Rule!"
    assert alert.occurred_at == datetime(2019, 8, 19, 21, 6, 17, 677000, tzinfo=UTC)
    assert alert.url == ("https://sentry.io/organizations/test-org/issues/1117540176/events/"
                         "e4874d664c3540c1a32eab185f12c5ab/")
    assert alert.labels["alert_rule"] == "Very Important Alert Rule!"
    assert alert.labels["tag.browser"] == "Chrome 75.0.3770"
    assert alert.labels["culprit"] == "?(<anonymous>)"


def test_backend_event_names_the_server() -> None:
    name = "event-alert-backend-fatal.json"
    [alert] = sentry.parse(body(name), hook(name)).alerts
    assert alert.asset_ref == "worker-03"
    assert alert.severity == "critical" and alert.original_severity == "fatal"
    assert alert.labels["project"] == "billing"
    assert alert.labels["environment"] == "production"


def test_metric_alert_critical_then_resolved() -> None:
    [fired] = sentry.parse(body("metric-alert-critical.json"), hook("metric-alert-critical.json", "r1")).alerts
    [cleared] = sentry.parse(body("metric-alert-resolved.json"), hook("metric-alert-resolved.json", "r2")).alerts
    assert (fired.status, fired.severity, fired.original_severity) == ("firing", "critical", "critical")
    assert (cleared.status, cleared.severity) == ("resolved", "info")
    assert fired.external_id == cleared.external_id == "metric_alert:4"
    assert fired.signature == cleared.signature == "Too many errors"
    assert fired.asset_ref == "bar"
    assert fired.message.startswith("Critical: Too many errors\n1000 events")
    assert (fired.delivery_id, cleared.delivery_id) == ("r1", "r2")
    assert fired.url == "https://sentry.io/organizations/baz/alerts/1/"
    assert fired.labels["aggregate"] == "count()"
    assert fired.occurred_at == datetime(2020, 9, 13, 12, 26, 40, tzinfo=UTC)


def test_metric_alert_warning() -> None:
    payload: dict[str, Any] = json.loads(body("metric-alert-critical.json"))
    payload["action"] = "warning"
    [alert] = sentry.parse(json.dumps(payload).encode(), {"Sentry-Hook-Resource": "metric_alert"}).alerts
    assert (alert.status, alert.severity) == ("firing", "medium")
    assert alert.delivery_id is None  # no Request-ID header


def test_issue_lifecycle_pairs_with_the_issue_alert() -> None:
    created = sentry.parse(body("issue-created.json"), hook("issue-created.json")).alerts[0]
    assigned = sentry.parse(body("issue-assigned.json"), hook("issue-assigned.json")).alerts[0]
    resolved = sentry.parse(body("issue-resolved.json"), hook("issue-resolved.json")).alerts[0]
    assert (created.status, assigned.status, resolved.status) == ("firing", "acknowledged", "resolved")
    assert created.external_id == assigned.external_id == resolved.external_id == "1170820242"
    assert created.asset_ref == "front-end"
    assert created.signature == "ReferenceError: blooopy is not defined"
    assert created.message == "blooopy is not defined"
    assert created.labels["short_id"] == "FRONT-END-9"
    assert created.occurred_at == datetime(2019, 8, 19, 20, 58, 37, 391000, tzinfo=UTC)
    assert resolved.occurred_at is None


@pytest.mark.parametrize("action", ["archived", "ignored"])
def test_archived_issue_counts_as_resolved(action: str) -> None:
    payload: dict[str, Any] = json.loads(body("issue-created.json"))
    payload["action"] = action
    [alert] = sentry.parse(json.dumps(payload).encode(), {"Sentry-Hook-Resource": "issue"}).alerts
    assert alert.status == "resolved" and alert.labels["sentry_action"] == action


@pytest.mark.parametrize("name", ["event-alert-triggered.json", "metric-alert-resolved.json", "issue-created.json"])
def test_resource_is_inferred_without_the_header(name: str) -> None:
    with_header = sentry.parse(body(name), hook(name, "same")).alerts
    without = sentry.parse(body(name), {"request-id": "same"}).alerts
    assert with_header == without


def test_non_alert_resources_are_accepted_empty() -> None:
    for resource in ("installation", "comment", "error"):
        assert sentry.parse(b'{"action": "created", "data": {}}', {"sentry-hook-resource": resource}).alerts == []


@pytest.mark.parametrize(
    ("raw", "headers", "problem"),
    [
        (b"{", {}, "not valid JSON"),
        (b"[1]", {}, "must be a JSON object"),
        (b'{"action": "triggered", "data": {}}', {}, "no Sentry-Hook-Resource header"),
        (b'{"data": {}}', {"Sentry-Hook-Resource": "event_alert"}, "without a data.event"),
        (b'{"data": {"event": {}}}', {"Sentry-Hook-Resource": "event_alert"}, "issue_id is missing"),
        (b'{"action": "critical", "data": {}}', {"Sentry-Hook-Resource": "metric_alert"}, "without a data.metric"),
        (b'{"action": "boom", "data": {"metric_alert": {"id": "1"}}}', {"Sentry-Hook-Resource": "metric_alert"},
         "'boom' is not one of"),
        (b'{"action": "critical", "data": {"metric_alert": {}}}', {"Sentry-Hook-Resource": "metric_alert"},
         "metric_alert.id is missing"),
        (b'{"action": "created", "data": {"issue": {}}}', {"Sentry-Hook-Resource": "issue"}, "issue.id is missing"),
        (b'{"action": "zapped", "data": {"issue": {"id": "1"}}}', {"Sentry-Hook-Resource": "issue"}, "'zapped'"),
        (b'{"data": {}}', {"Sentry-Hook-Resource": "issue"}, "without a data.issue"),
        (b'{"data": {}}', {"Sentry-Hook-Resource": "team"}, "'team' is not supported"),
    ],
)
def test_malformed_bodies_are_refused(raw: bytes, headers: dict[str, str], problem: str) -> None:
    with pytest.raises(AdapterError, match=problem):
        sentry.parse(raw, headers)
