"""Property test over gcp-monitoring, newrelic, sentry, splunk, uptime-kuma, nagios, icinga and generic:
whatever arrives, an adapter answers with a valid ParseResult or an AdapterError - never anything else."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alertwhisperer.ingest import adapters
from alertwhisperer.ingest.adapters.base import AdapterError
from alertwhisperer.ingest.schemas import ParseResult

KEYS = ["gcp-monitoring", "newrelic", "sentry", "splunk", "uptime-kuma", "nagios", "icinga", "generic"]
FIXTURES = Path(__file__).parent / "fixtures"
SAMPLES = [(key, json.loads(path.read_bytes())) for key in KEYS for path in sorted((FIXTURES / key).glob("*.json"))]

scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=25,
)
headers = st.fixed_dictionaries({}, optional={
    "Content-Type": st.sampled_from(["application/json", "application/x-www-form-urlencoded", "text/plain",
                                     "multipart/form-data; boundary=x", "multipart/form-data"]),
    "Sentry-Hook-Resource": st.sampled_from(["event_alert", "metric_alert", "issue", "installation", "x"]),
    "Request-ID": st.text(max_size=40),
})


def check(key: str, body: bytes, hdrs: dict[str, str]) -> None:
    adapter = adapters.get(key)
    assert adapter is not None
    try:
        result = adapter.parse(body, hdrs)
    except AdapterError as exc:
        message = str(exc)
        result = None
    if result is None:
        assert message  # the refusal names the problem
        return
    assert isinstance(result, ParseResult)
    for alert in result.alerts:
        assert alert.source == key and alert.signature


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            found += paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found += paths(v, (*prefix, i))
    return found


@settings(max_examples=300, deadline=None)
@given(key=st.sampled_from(KEYS), value=json_values, hdrs=headers)
def test_random_json(key: str, value: Any, hdrs: dict[str, str]) -> None:
    check(key, json.dumps(value).encode(), hdrs)


@settings(max_examples=150, deadline=None)
@given(key=st.sampled_from(KEYS), raw=st.binary(max_size=200), hdrs=headers)
def test_random_bytes(key: str, raw: bytes, hdrs: dict[str, str]) -> None:
    check(key, raw, hdrs)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), hdrs=headers)
def test_fixtures_with_one_value_replaced(data: st.DataObject, hdrs: dict[str, str]) -> None:
    key, sample = data.draw(st.sampled_from(SAMPLES))
    mutated = json.loads(json.dumps(sample))
    path = data.draw(st.sampled_from(paths(mutated)))
    replacement = data.draw(json_values)
    if not path:
        mutated = replacement
    else:
        parent = mutated
        for step in path[:-1]:
            parent = parent[step]
        parent[path[-1]] = replacement
    check(key, json.dumps(mutated).encode(), hdrs)


@settings(max_examples=200, deadline=None)
@given(key=st.sampled_from(["nagios", "icinga"]),
       fields=st.dictionaries(st.sampled_from(["host", "service", "state", "notification_type", "problem_id",
                                               "last_problem_id", "timestamp", "datetime", "output", "HOSTNAME",
                                               "host.name", "SERVICESTATE"]), st.text(max_size=20), max_size=8))
def test_random_form_fields(key: str, fields: dict[str, str]) -> None:
    check(key, urlencode(fields).encode(), {"Content-Type": "application/x-www-form-urlencoded"})
