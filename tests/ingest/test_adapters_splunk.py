"""Splunk adapter: the webhook alert action's fixed body."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from alertwhisperer.ingest.adapters import splunk
from alertwhisperer.ingest.adapters.base import AdapterError

FIXTURES = Path(__file__).parent / "fixtures" / "splunk"


def body(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def data(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(body(name))
    return loaded


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("*.json")))
def test_every_fixture_parses(name: str) -> None:
    [alert] = splunk.parse(body(name), {"Content-Type": "application/json"}).alerts
    assert alert.status == "firing" and alert.delivery_id


def test_docs_example_unsaved_search() -> None:
    [alert] = splunk.parse(body("docs-example.json"), {}).alerts
    assert alert.signature == "Splunk alert (search)"  # search_name is null in the docs example
    assert alert.severity == "medium" and alert.original_severity is None
    assert alert.asset_ref is None
    assert alert.message == "sourcetype=mongod, count=8"
    assert alert.value == "8"
    assert alert.labels == {"result.sourcetype": "mongod", "result.count": "8", "app": "search", "owner": "admin",
                            "sid": "scheduler_admin_search_W2_at_14232356_132"}
    assert alert.url == "http://web.example.local:8000/app/search/@go?sid=scheduler_admin_search_W2_at_14232356_132"
    assert alert.delivery_id is not None
    assert alert.delivery_id.startswith("scheduler_admin_search_W2_at_14232356_132:")


def test_saved_search_about_a_host() -> None:
    [alert] = splunk.parse(body("saved-search-host.json"), {}).alerts
    assert alert.signature == "Filesystem errors"
    assert alert.asset_ref == "db-07"
    assert alert.severity == "high" and alert.original_severity == "high"
    assert alert.message.startswith("Jan 15 10:21:04 db-07 kernel: EXT4-fs error")
    assert alert.occurred_at == datetime(2024, 1, 15, 10, 21, 4, tzinfo=UTC)
    assert alert.external_id == "search/Filesystem errors/db-07"
    assert "result._raw" not in alert.labels
    assert alert.labels["search_name"] == "Filesystem errors"


def test_identity_is_stable_across_runs_and_deliveries_are_per_row() -> None:
    first = data("saved-search-host.json")
    later = json.loads(json.dumps(first))
    later["sid"] = "scheduler__admin__search__RMD5e461de04b1d0c2f8_at_1705314360_1240"
    other_row = json.loads(json.dumps(first))
    other_row["result"]["_raw"] = "another line"
    [a] = splunk.parse(json.dumps(first).encode(), {}).alerts
    [b] = splunk.parse(json.dumps(later).encode(), {}).alerts
    [c] = splunk.parse(json.dumps(other_row).encode(), {}).alerts
    assert a.external_id == b.external_id == c.external_id
    assert len({a.delivery_id, b.delivery_id, c.delivery_id}) == 3
    assert splunk.parse(json.dumps(first).encode(), {}).alerts[0].delivery_id == a.delivery_id


def test_multivalue_fields_and_iso_time() -> None:
    [alert] = splunk.parse(body("multivalue-dest.json"), {}).alerts
    assert alert.asset_ref == "fw-edge-01"  # host taken from dest
    assert alert.labels["result.action"] == '["blocked", "dropped"]'
    assert "action=blocked" in alert.message
    assert alert.occurred_at == datetime(2024, 1, 15, 10, 25, tzinfo=UTC)


@pytest.mark.parametrize("result", [None, {}])
def test_alert_without_result_rows(result: dict[str, Any] | None) -> None:
    payload = {"sid": "s1", "search_name": "No logs from backup server", "app": "search", "result": result}
    [alert] = splunk.parse(json.dumps(payload).encode(), {}).alerts
    assert alert.signature == "No logs from backup server" and alert.message == ""


@pytest.mark.parametrize("stamp", ["nan", "1e400", "-1e30", "yesterday"])
def test_odd_times_are_ignored(stamp: str) -> None:
    payload = {"sid": "s1", "result": {"_time": stamp, "host": "h"}}
    [alert] = splunk.parse(json.dumps(payload).encode(), {}).alerts
    assert alert.occurred_at is None


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (b"<xml/>", "not valid JSON"),
        (b"[]", "must be a JSON object"),
        (b'{"search_name": "x"}', "neither 'sid' nor 'result'"),
        (b'{"result": {}, "sid": ""}', "'sid'"),
        (b'{"result": [1], "sid": "s"}', "'result' must be a JSON object"),
    ],
)
def test_malformed_bodies_are_refused(raw: bytes, problem: str) -> None:
    with pytest.raises(AdapterError, match=problem):
        splunk.parse(raw, {})
