"""The grouping policy: defaults and bounds."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from alertwhisperer.correlation import CorrelationPolicy


def test_defaults() -> None:
    policy = CorrelationPolicy()
    assert policy.window == timedelta(minutes=15)
    assert policy.key == "asset+symptom"
    assert policy.topology and policy.storm and policy.related_symptoms
    assert policy.transient_pause is None
    assert policy.storm_classes == ("host_down", "network")


@pytest.mark.parametrize("bad", [
    {"window_minutes": 4}, {"window_minutes": 16}, {"key": "labels"}, {"key": "asset+colour"},
    {"storm_classes": ["disk"]}, {"flap_changes": 1}, {"transient_pause_minutes": 0}, {"unknown": 1},
])
def test_bounds(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        CorrelationPolicy.model_validate(bad)


def test_round_trips_through_json() -> None:
    policy = CorrelationPolicy.model_validate({
        "window_minutes": 10, "key": "labels", "key_labels": ["cluster", "service"],
        "maintenance_windows": [{"id": "w", "weekly": {"days": ["sun"], "start": "02:00", "duration_minutes": 60,
                                                       "timezone": "Europe/Berlin"}}],
        "symptom_rules": [{"id": "r", "pattern": "billing", "symptom": "http_errors"}],
    })
    assert CorrelationPolicy.model_validate_json(policy.model_dump_json()) == policy
