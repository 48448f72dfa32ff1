"""Symptom classes for real tools' signatures, messages and labels."""

from __future__ import annotations

import pytest

from alertwhisperer.correlation.causality import same_asset
from alertwhisperer.correlation.symptoms import (
    SymptomClassifier,
    SymptomRule,
    canonical_service,
    classify,
    normalise,
)


def related(a: str, b: str) -> bool:
    return same_asset(a, b) is not None

CASES = [
    # Prometheus Alertmanager alertnames
    ("NodeFilesystemSpaceFillingUp", "", {}, "disk"),
    ("NodeFilesystemAlmostOutOfSpace", "", {}, "disk"),
    ("NodeFilesystemFilesFillingUp", "", {}, "disk"),
    ("KubePersistentVolumeFillingUp", "", {}, "disk"),
    ("KubePodCrashLooping", "", {"container": "checkout-api"}, "service_down:checkout-api"),
    ("TargetDown", "", {}, "host_down"),
    ("InstanceDown", "", {}, "host_down"),
    ("KubeNodeNotReady", "", {}, "host_down"),
    ("NodeMemoryHighUtilization", "", {}, "memory"),
    ("HostOomKillDetected", "", {}, "oom"),
    ("NodeCPUHighUsage", "", {}, "cpu"),
    ("PostgresqlTooManyConnections", "", {}, "db_connections"),
    ("PostgresqlDown", "", {}, "service_down:postgresql"),
    ("PGSQL connections", "", {}, "db_connections"),  # Nagios check_pgsql
    ("Drive C: Space", "Drive C: Space CRITICAL", {}, "disk"),  # Nagios NSClient++
    ("Service nginx restarted", "", {}, "service_down:nginx"),
    ("Service app.service has been restarted (uptime < 10m)", "", {}, "service_down:unknown"),
    ("postgres-connections", "postgres-connections check", {}, "db_connections"),  # Icinga check_postgres
    ("PostgresqlSlowQueries", "", {}, "db_slow"),
    ("MySQLReplicationLag", "", {}, "replication"),
    ("MysqlSlaveReplicationLag", "", {}, "replication"),
    ("MysqlDown", "", {}, "service_down:mysql"),
    ("RedisDown", "", {}, "service_down:redis"),
    ("NginxHighHttp5xxErrorRate", "", {}, "http_errors"),
    ("BlackboxProbeFailed", "", {}, "service_down:http"),
    ("BlackboxSslCertificateWillExpireSoon", "", {}, "certificate"),
    ("NodeNetworkReceiveErrs", "", {}, "network"),
    ("HostUnusualDiskReadLatency", "", {}, "disk"),
    ("Watchdog", "This is an alert meant to ensure that the entire alerting pipeline is functional.", {}, "other"),
    # Zabbix trigger names
    ("Free disk space is less than 5% on volume /", "", {}, "disk"),
    ("High CPU utilization (over 90% for 5m)", "", {}, "cpu"),
    ("Zabbix agent is not available (for 3m)", "", {}, "host_down"),
    ("Unavailable by ICMP ping", "", {}, "host_down"),
    ("Linux: Load average is too high (per CPU load over 1.5 for 5m)", "", {}, "cpu"),
    ("Interface eth0: Link down", "", {}, "network"),
    ("MySQL: Service is down", "", {}, "service_down:mysql"),
    ("Service nginx is down", "", {}, "service_down:nginx"),
    ("Cert: SSL certificate expires soon (less than 7 days)", "", {}, "certificate"),
    # Datadog monitor names
    ("[P1] Disk space low on {{host.name}}", "", {}, "disk"),
    ("Process nginx is not running", "", {}, "service_down:nginx"),
    ("Postgres connections above 90% of max_connections", "", {}, "db_connections"),
    ("APM p99 latency high on checkout", "", {}, "latency"),
    ("Kubernetes Pods Restarting", "", {"kube_deployment": "x"}, "service_down:unknown"),
    # Nagios / Icinga service descriptions and states
    ("HTTP", "HTTP CRITICAL - 503 Service Unavailable", {}, "service_down:http"),
    ("PING", "PING CRITICAL - Packet loss = 100%", {}, "host_down"),
    ("PING", "PING WARNING - Packet loss = 20%, RTA = 80 ms", {}, "network"),
    ("Disk /", "DISK CRITICAL - free space: / 120 MB (2%)", {}, "disk"),
    ("SSH", "connect to address 10.0.0.5 and port 22: Connection refused", {}, "service_down:sshd"),
    ("Host down", "CRITICAL - Host Unreachable (192.0.2.40)", {}, "host_down"),
    ("Swap Usage", "", {}, "memory"),
    ("Current Load", "", {}, "cpu"),
    # CloudWatch alarm names and metric names
    ("web-01-cpu-high", "", {"metric_name": "CPUUtilization"}, "cpu"),
    ("prod-alarm-17", "", {"metric_name": "StatusCheckFailed_System"}, "host_down"),
    ("prod-alarm-18", "", {"metric_name": "FreeStorageSpace"}, "disk"),
    ("prod-alarm-19", "", {"metric_name": "DatabaseConnections"}, "db_connections"),
    ("prod-alarm-20", "", {"metric_name": "ReplicaLag"}, "replication"),
    ("prod-alarm-21", "", {"metric_name": "HTTPCode_Target_5XX_Count"}, "http_errors"),
    ("api-5XXError", "", {}, "http_errors"),
    ("prod-alarm-22", "", {"metric_name": "TargetResponseTime"}, "latency"),
    ("prod-alarm-23", "", {"metric_name": "Latency"}, "latency"),
    ("prod-alarm-24", "", {"metric_name": "NetworkOut"}, "network"),
    ("db-freeable-memory-low", "", {}, "memory"),
    # Azure Monitor, GCP, New Relic, Sentry, Splunk, Uptime Kuma, generic
    ("WCUS-R2-Gen2", "Percentage CPU GreaterThan 25 (Average) - value 31.1", {}, "cpu"),
    ("Heartbeat missing", "", {}, "host_down"),
    ("Http Server Errors", "", {}, "http_errors"),
    ("Cloud SQL disk almost full: Disk utilization > 90%", "", {}, "disk"),
    ("Uptime check failed for checkout", "", {}, "service_down:http"),
    ("Host not reporting", "", {}, "host_down"),
    ("Slow responses", "", {}, "latency"),
    ("Error percentage > 5", "", {}, "http_errors"),
    ("ReferenceError: heck is not defined", "", {}, "http_errors"),
    ("OperationalError: could not connect to server: Connection refused", "", {}, "db_connections"),
    ("Filesystem errors", "EXT4-fs error (device sda1)", {}, "disk"),
    ("Blocked connection burst", "", {}, "security"),
    ("Failed SSH logins from 203.0.113.7", "", {}, "security"),
    ("Windows: Brute force attempt (event id 4625)", "", {}, "security"),
    ("My Website", "[My Website] [Down] Request failed with status code 503", {"monitor_type": "http"},
     "service_down:http"),
    ("Postgres primary", "connect ECONNREFUSED 192.0.2.25:5432", {"monitor_type": "port"},
     "service_down:postgresql"),
    ("Gateway 2", "", {"monitor_type": "ping"}, "host_down"),
    ("Router", "", {}, "network"),
    ("TLS certificate expiring", "Certificate will be expired in 7 days", {}, "certificate"),
    ("backup_failed", "Nightly backup exited with code 2", {}, "backup"),
    ("Veeam job 'nightly' finished with Failed", "", {}, "backup"),
    ("The World Wide Web Publishing Service service terminated unexpectedly", "", {}, "service_down:iis"),
    ("Redis out of memory", "", {}, "oom"),
    ("Deadlocks detected on orders DB", "", {}, "db_slow"),
    ("RabbitMQ queue backlog growing", "", {}, "latency"),
    ("test alert", "test alert", {}, "other"),
]


@pytest.mark.parametrize(("signature", "message", "labels", "expected"), CASES)
def test_real_tool_signatures_map_to_the_taxonomy(signature: str, message: str, labels: dict[str, str],
                                                  expected: str) -> None:
    assert classify(signature, message, labels).name == expected


def test_host_name_in_the_text_does_not_decide_the_class() -> None:
    assert classify("High CPU on backup-01", asset_ref="backup-01").name == "cpu"
    assert classify("High CPU on backup-01").name == "backup"  # without knowing the host, the word wins


def test_signature_wins_over_labels_and_labels_over_message() -> None:
    s = classify("Disk space low", "CPU is fine", {"metric_name": "CPUUtilization"})
    assert (s.name, s.field) == ("disk", "signature")
    s = classify("alarm-7", "disk is full", {"metric_name": "CPUUtilization"})
    assert (s.name, s.field) == ("cpu", "labels")
    s = classify("alarm-7", "disk is full", {})
    assert (s.name, s.field, s.rule) == ("disk", "message", "disk")


def test_company_rules_take_precedence_and_can_extract_a_service() -> None:
    rules = (SymptomRule(id="acme.billing", pattern=r"billing ?job (?P<service>\w+) stuck",
                         symptom="service_down:{service}"),
             SymptomRule(id="acme.cpu-is-latency", pattern=r"\bcpu\b", symptom="latency"))
    classifier = SymptomClassifier(rules)
    assert classifier.classify("BillingJob invoicer stuck").name == "service_down:invoicer"
    s = classifier.classify("High CPU")
    assert (s.name, s.rule) == ("latency", "acme.cpu-is-latency")
    assert classify("High CPU").name == "cpu"  # the built-in classifier is untouched


def test_bad_company_rules_are_refused() -> None:
    with pytest.raises(ValueError, match="invalid regular expression"):
        SymptomRule(id="x", pattern="(", symptom="disk")
    with pytest.raises(ValueError, match="unknown symptom class"):
        SymptomRule(id="x", pattern="x", symptom="weather")


def test_normalise_and_service_names() -> None:
    assert normalise("NodeFilesystemAlmostOutOfSpace") == "node filesystem almost out of space"
    assert normalise("HTTPCode_Target_5XX_Count") == "http code target 5xx count"
    assert normalise("MySQLReplicationLag") == "mysql replication lag"
    assert canonical_service("postgres") == "postgresql"
    assert canonical_service("nginx.service") == "nginx"
    assert canonical_service("httpd") == "apache"
    assert canonical_service("PostgreSQL 14") == "postgresql"


def test_related_symptoms() -> None:
    assert related("memory", "oom")
    assert related("oom", "service_down:nginx")
    assert related("host_down", "service_down:sshd")
    assert related("db_connections", "db_slow")
    assert related("service_down:nginx", "service_down:php-fpm")
    assert not related("disk", "certificate")
    assert not related("certificate", "host_down")
    assert not related("backup", "disk")
    assert not related("disk", "cpu")
    assert not related("other", "other")
    assert related("disk", "disk")


def test_false_friends_swap_is_memory_refused_connections_are_a_service_inodes_are_disk() -> None:
    from alertwhisperer.correlation.symptoms import classify as cls
    assert cls("High swap space usage (less than 50% free)").name == "memory"
    assert cls("Lack of free swap space").name == "memory"
    assert cls("Page file usage high").name == "memory"
    assert cls("Free memory is low").name == "memory"
    assert cls("Free disk space is less than 5% on volume /").name == "disk"
    assert cls("Free inodes is less than 20% on volume /").name == "disk"
    assert cls("connect to 10.0.0.1 failed: connection refused").name.startswith("service_down:")
    assert cls("could not connect to server: Connection refused").name == "db_connections"
    assert cls("Nginx active connections high").name != "db_connections"


def test_service_names_are_not_filler_words_and_http_service_is_http() -> None:
    from alertwhisperer.correlation.symptoms import classify as cls
    from alertwhisperer.correlation.symptoms import normalise
    assert cls("HTTP service is down on web-02", host="web-02").name == "service_down:http"
    assert normalise("HTTP service is down") == "http service is down"
    assert cls("service_check_failed").name == "service_down:unknown"
    assert cls("process foo crashed").name == "service_down:foo"
