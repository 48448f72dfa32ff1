"""Alert identity: which notifications are the same alert (repeats, acknowledgements and its resolve).

* The tool's own id when it gives one (Alertmanager fingerprint, PagerDuty dedup_key, Zabbix event id,
  Datadog alert cycle, ...), namespaced by source: ``alertmanager:5ef77f1f8a3ecb8d``.
* Otherwise ``h:<source>:<sha256>`` over the source, the resolved asset key, the signature (whitespace
  collapsed, case-folded) and the labels that describe the alert, leaving out the ones that change between
  notifications of one alert (values, counts, timestamps, state words) so that a repeat and its resolve hash
  the same.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from functools import lru_cache

# Label keys (lower case) that vary between notifications of one alert.
VOLATILE_LABELS: frozenset[str] = frozenset({
    "value", "values", "current_value", "observed", "metric_value", "threshold_value", "count", "event_count",
    "result.count", "num_firing", "num_resolved", "firing", "resolved", "state", "status", "old_state",
    "new_state", "notification_type", "kuma_status", "sentry_action", "alert_type", "alert_transition",
    "grafana_state", "update_action", "recovery_event_id", "event_id", "event_date", "event_time",
    "event date", "event time", "time", "timestamp", "date", "duration", "age", "sid", "author", "comment",
    "incident_id", "incident_identifier", "substatus", "trigger", "totalincidents", "iscorrelated",
    "problem_id", "lag_seconds", "delivery_id", "attempt", "retry", "retries", "last_updated", "updated_at",
    "started_at", "startsat", "endsat", "ends_at", "fired_at", "resolved_at", "alert_cycle_key",
    "event_type", "output", "long_output", "summary", "description", "message",
})
_VOLATILE_SUFFIX = re.compile(r"(?:^|[._ ])(?:time|timestamp|date|at|value|count|duration|age|id_seq|ms|seconds)$")
_SPACE = re.compile(r"\s+")


def stable_labels(labels: Mapping[str, str]) -> list[tuple[str, str]]:
    """The labels that identify an alert, sorted."""
    out = []
    for key, value in labels.items():
        k = key.lower()
        if k in VOLATILE_LABELS or _VOLATILE_SUFFIX.search(k) or k.startswith("result._"):
            continue
        out.append((k, value.strip()))
    out.sort()
    return out


@lru_cache(maxsize=16384)
def normalise_signature(signature: str) -> str:
    return _SPACE.sub(" ", signature).strip().casefold()


def alert_identity(*, source: str, external_id: str | None, signature: str, asset_key: str,
                   labels: Mapping[str, str]) -> str:
    """The stable identity of an alert (see the module docstring)."""
    source = source.strip().lower()
    if external_id and external_id.strip():
        return f"{source}:{external_id.strip()}"
    digest = hashlib.sha256()
    for part in (source, asset_key, normalise_signature(signature)):
        digest.update(part.encode())
        digest.update(b"\x1f")
    for key, value in stable_labels(labels):
        digest.update(key.encode())
        digest.update(b"=")
        digest.update(value.encode())
        digest.update(b"\x1e")
    return f"h:{source}:{digest.hexdigest()[:32]}"
