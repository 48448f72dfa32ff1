"""Symptom class -> category (the skill an incident needs)."""

from __future__ import annotations

import pytest

from alertwhisperer.correlation.symptoms import classify
from alertwhisperer.incidents.categories import CATEGORIES, canonical, category_for, has_skill


@pytest.mark.parametrize(("symptom", "category"), [
    ("host_down", "Network"), ("network", "Network"), ("service_down:named", "Network"),
    ("db_connections", "Database"), ("db_slow", "Database"), ("replication", "Database"),
    ("service_down:postgresql", "Database"), ("service_down:mysql", "Database"), ("service_down:mssql", "Database"),
    ("service_down:oracle", "Database"), ("service_down:mongodb", "Database"), ("service_down:redis", "Database"),
    ("security", "Security"), ("certificate", "Security"),
    ("disk", "Storage"), ("backup", "Storage"),
    ("cpu", "Server"), ("memory", "Server"), ("oom", "Server"), ("service_down:nginx", "Server"),
    ("service_down:unknown", "Server"), ("service_down", "Server"),
    ("http_errors", "Application"), ("latency", "Application"), ("service_down:http", "Application"),
    ("other", "General"), ("", "General"), ("something_new", "General"),
])
def test_category_for(symptom: str, category: str) -> None:
    assert category_for(symptom) == category
    assert category in CATEGORIES


def test_real_alerts_land_in_the_right_category() -> None:
    assert category_for(classify("PostgreSQL is down").name) == "Database"
    assert category_for(classify("MySQLReplicationLag").name) == "Database"
    assert category_for(classify("NodeFilesystemAlmostOutOfSpace").name) == "Storage"
    assert category_for(classify("HostOutOfMemory").name) == "Server"
    assert category_for(classify("SSL certificate expires soon").name) == "Security"


def test_canonical_and_skills() -> None:
    assert canonical(" database ") == "Database" and canonical("Kubernetes") == "Kubernetes"
    assert canonical("") is None and canonical(None) is None
    assert has_skill("Network", ["database"], "Database") and not has_skill("Network", [], "Database")
    assert has_skill(None, [], "General")
