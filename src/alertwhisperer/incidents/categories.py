"""Incident categories: the skill an incident needs, from correlation's symptom class.

Mapping (symptom classes from ``correlation.symptoms``):

- ``host_down``, ``network``, ``service_down:{dns,named,dhcp,openvpn,wireguard,...}`` -> Network
- ``db_connections``, ``db_slow``, ``replication``, ``service_down:{postgresql,mysql,mssql,oracle,mongodb,redis,
  ...}`` -> Database
- ``security``, ``certificate`` -> Security
- ``disk``, ``backup`` -> **Storage** (chosen over Server: full volumes, RAID, SAN and backup jobs are usually a
  storage/backup specialist's work in an MSP; a team without one simply gives its server technicians the Storage
  skill too)
- ``cpu``, ``memory``, ``oom``, any other ``service_down:<service>`` -> Server
- ``http_errors``, ``latency``, ``service_down:http`` (a URL or health check failing) -> Application
- anything else (``other``, unknown classes) -> General (no particular skill: any technician of the company)

Cloud-tool alerts are classified by what they say (a CloudWatch CPU alarm is ``cpu``), so they land in the
categories above; "Cloud" stays available for schedules and technicians' skills.
"""

from __future__ import annotations

GENERAL = "General"
CATEGORIES: tuple[str, ...] = ("Network", "Database", "Security", "Server", "Storage", "Application", "Cloud",
                               GENERAL)

_BY_SYMPTOM: dict[str, str] = {
    "host_down": "Network", "network": "Network",
    "db_connections": "Database", "db_slow": "Database", "replication": "Database",
    "security": "Security", "certificate": "Security",
    "disk": "Storage", "backup": "Storage",
    "cpu": "Server", "memory": "Server", "oom": "Server",
    "http_errors": "Application", "latency": "Application",
}
DATABASE_SERVICES = frozenset({
    "postgresql", "postgres", "mysql", "mariadb", "mssql", "oracle", "mongodb", "redis", "memcached", "cassandra",
    "clickhouse", "elasticsearch", "opensearch", "influxdb", "couchdb", "db2", "sybase",
})
NETWORK_SERVICES = frozenset({"dns", "named", "dhcp", "dhcpd", "openvpn", "wireguard", "bgp", "keepalived"})
APPLICATION_SERVICES = frozenset({"http"})


def category_for(symptom: str) -> str:
    """The category (= required skill) of an incident with this symptom class."""
    symptom = (symptom or "").strip().lower()
    if symptom.startswith("service_down"):
        service = symptom.partition(":")[2]
        if service in DATABASE_SERVICES:
            return "Database"
        if service in NETWORK_SERVICES:
            return "Network"
        if service in APPLICATION_SERVICES:
            return "Application"
        return "Server"
    return _BY_SYMPTOM.get(symptom, GENERAL)


def canonical(category: str | None) -> str | None:
    """A category as spelled in ``CATEGORIES`` (case-insensitive); other names are kept as given, trimmed."""
    if category is None:
        return None
    text = category.strip()
    if not text:
        return None
    for known in CATEGORIES:
        if known.lower() == text.lower():
            return known
    return text


def has_skill(category: str | None, skills: list[str] | None, needed: str) -> bool:
    """Whether a technician (primary ``category`` plus ``skills``) has the skill ``needed``. Every technician
    qualifies for General incidents."""
    if needed == GENERAL:
        return True
    wanted = needed.lower()
    return any(s and s.strip().lower() == wanted for s in [category or "", *(skills or [])])
