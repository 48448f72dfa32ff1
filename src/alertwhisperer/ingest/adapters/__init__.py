"""The explicit registry of monitoring-tool adapters (one pure module each).

A key here is the ``{source}`` of ``POST /api/webhooks/{source}`` and the ``source`` of the replay format.
"""

from __future__ import annotations

import importlib
from functools import cache

from alertwhisperer.ingest.adapters.base import Adapter

# key -> module under alertwhisperer.ingest.adapters
ADAPTER_MODULES: dict[str, str] = {
    "alertmanager": "alertmanager",
    "grafana": "grafana",
    "datadog": "datadog",
    "zabbix": "zabbix",
    "cloudwatch": "cloudwatch",
    "pagerduty": "pagerduty",
    "opsgenie": "opsgenie",
    "azure-monitor": "azure_monitor",
    "gcp-monitoring": "gcp_monitoring",
    "newrelic": "newrelic",
    "sentry": "sentry",
    "splunk": "splunk",
    "uptime-kuma": "uptime_kuma",
    "nagios": "nagios",
    "icinga": "icinga",
    "generic": "generic",
}


@cache
def _load(module: str) -> Adapter:
    mod = importlib.import_module(f"{__name__}.{module}")
    adapter: Adapter = mod  # a module with INFO and parse() satisfies the protocol
    return adapter


def get(key: str) -> Adapter | None:
    module = ADAPTER_MODULES.get(key)
    return _load(module) if module else None


def all_keys() -> list[str]:
    """Every registered source key, in registry order."""
    return list(ADAPTER_MODULES)
