"""Fuzzing the alertmanager, grafana, datadog, zabbix, cloudwatch, pagerduty, opsgenie and azure-monitor
adapters: whatever the body, they return a valid ParseResult or raise AdapterError — nothing else."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alertwhisperer.ingest import adapters
from alertwhisperer.ingest.adapters.base import AdapterError
from alertwhisperer.ingest.schemas import ParseResult

KEYS = ["alertmanager", "grafana", "datadog", "zabbix", "cloudwatch", "pagerduty", "opsgenie", "azure-monitor"]
FIXTURES = Path(__file__).parent / "fixtures"
FIXTURE_FILES = sorted((key, path) for key in KEYS for path in (FIXTURES / key).glob("*.json"))
HEADER_SETS = [{}, {"Content-Type": "text/plain; charset=UTF-8"},
               {"content-type": "application/x-www-form-urlencoded"}]

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=30)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5),
    max_leaves=25,
)


def check(key: str, body: bytes, headers: dict[str, str] | None = None) -> ParseResult | None:
    adapter = adapters.get(key)
    assert adapter is not None
    try:
        result = adapter.parse(body, headers or {})
    except AdapterError as exc:
        message = str(exc)
    else:
        message = None
    if message is not None:
        assert message.strip()  # the message names the problem
        return None
    assert isinstance(result, ParseResult)
    assert all(alert.source == key for alert in result.alerts)
    return result


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every position inside a JSON document (for replacing one value)."""
    found = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            found += paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found += paths(v, (*prefix, i))
    return found


def replaced(doc: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(doc, dict):
        return {k: replaced(v, rest, new) if k == head else v for k, v in doc.items()}
    return [replaced(v, rest, new) if i == head else v for i, v in enumerate(doc)]


JUNK = [b"", b"   ", b"not json", b"\xff\xfe\x00", b"null", b"42", b"-1.5e400", b'"text"', b"true", b"[]",
        b"[null]", b"{}", b'{"a": NaN}', b'{"a": Infinity}', b"[" * 50_000, b'{"alerts": [' * 3000]


@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize("body", JUNK, ids=lambda b: repr(b[:20]))
def test_junk_bodies_raise_only_adapter_error(key: str, body: bytes) -> None:
    for headers in HEADER_SETS:
        check(key, body, headers)


@pytest.mark.parametrize("key", KEYS)
def test_obvious_junk_is_refused(key: str) -> None:
    for body in (b"not json", b"null", b"42", b'"text"', b"{}"):
        with pytest.raises(AdapterError):
            adapters.get(key).parse(body, {})  # type: ignore[union-attr]


@pytest.mark.parametrize("key", KEYS)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=json_values)
def test_random_json(key: str, value: Any) -> None:
    check(key, json.dumps(value).encode())


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_fixtures_with_one_value_replaced(data: st.DataObject) -> None:
    key, path = data.draw(st.sampled_from(FIXTURE_FILES))
    doc = json.loads(path.read_text())
    where = data.draw(st.sampled_from(paths(doc)))
    mutated = replaced(doc, where, data.draw(json_values))
    check(key, json.dumps(mutated).encode(), data.draw(st.sampled_from(HEADER_SETS)))


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_sns_message_strings_replaced(data: st.DataObject) -> None:
    """The alarm inside an SNS Message is itself JSON text: mutate inside it too."""
    doc = json.loads((FIXTURES / "cloudwatch" / "alarm.json").read_text())
    alarm = json.loads(doc["Message"])
    where = data.draw(st.sampled_from(paths(alarm)))
    doc["Message"] = json.dumps(replaced(alarm, where, data.draw(json_values)))
    check("cloudwatch", json.dumps(doc).encode())


@pytest.mark.parametrize(("key", "path"), FIXTURE_FILES, ids=[f"{k}/{p.name}" for k, p in FIXTURE_FILES])
def test_every_fixture_parses(key: str, path: Path) -> None:
    adapter = adapters.get(key)
    assert adapter is not None
    if path.name.endswith("-unrendered.json"):  # a template with its $VARIABLES not filled in
        with pytest.raises(AdapterError):
            adapter.parse(path.read_bytes(), {})
        return
    result = adapter.parse(path.read_bytes(), {"Content-Type": "text/plain; charset=UTF-8"})
    if path.name != "addnote.json":  # Opsgenie notes change nothing
        assert result.alerts or result.control
    for alert in result.alerts:
        assert alert.occurred_at is None or alert.occurred_at.tzinfo is not None


@pytest.mark.parametrize("key", KEYS)
def test_registry_info_fixtures_and_guide(key: str) -> None:
    adapter = adapters.get(key)
    assert adapter is not None
    assert adapter.INFO.key == key
    assert (FIXTURES / key / "SOURCES.md").is_file()
    assert any((FIXTURES / key).glob("*.json"))
    guide = Path(adapters.__file__).parent.parent / "guides" / f"{key}.md"
    assert guide.is_file()
    text = guide.read_text()
    assert "{{ webhook_url }}" in text
    assert "X-API-Key" in text or "api_key=" in text
