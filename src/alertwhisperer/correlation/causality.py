"""Which symptom can explain which: the causal relations the grouping rules are built on.

Two symptoms are one problem only when one plausibly *causes* the other, or when they are two faces of the
same failure (``peer``), and only with the right timing: an effect starts after its cause (give or take how
late a tool may notice the cause), while the cause is still active.

* Same asset (``same_asset``): a full disk stops or slows the services on it; memory pressure ends in an OOM
  kill or a killed service, an OOM kill restarts or crashes a service; CPU saturation makes the services on
  the host slow (errors and outages need more than a busy CPU, and that has alerts of its own); a host or its
  network going down takes its services and connections with it. Usage symptoms (cpu, memory,
  disk) are common and mostly harmless: they explain an effect only when they came first and shortly before
  it; two usage symptoms do not explain each other. Peers: a service that is down, erroring and slow; a
  database with too many connections, slow queries and replication lag.
* Topology (``explains``): an upstream cause explains only the downstream effects it can produce; an
  unreachable host or network cuts off everything that talks to it however far downstream, a failing
  database or service shows up in its callers, a resource problem affects only direct dependents, briefly
  (and a busy upstream - cpu, memory, disk - makes its callers slow or fail requests, it does not take them
  down).
* Timing (``lead_allowed``): availability effects (host down, network, service checks) are detected by
  active checks whose schedules differ, so they may be noticed a little *before* their cause; rate and
  latency alerts build up after their cause, so one seen more than a few seconds before it is an older,
  independent problem; usage alerts are measured, never noticed late: they must come first.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import lru_cache

from alertwhisperer.correlation.symptoms import base_class

INDEPENDENT: frozenset[str] = frozenset({"certificate", "backup", "security", "other"})
RESOURCES: frozenset[str] = frozenset({"cpu", "memory", "disk"})
AVAILABILITY: frozenset[str] = frozenset({"host_down", "network", "service_down"})
# how much earlier than its cause an effect may be noticed (a detection delay of the cause's own check)
AVAILABILITY_LEAD = timedelta(seconds=90)
METRIC_LEAD = timedelta(seconds=60)
# a cause whose alerts cleared this shortly before an effect started still explains it (recovery detection)
CLEAR_GRACE = timedelta(seconds=30)

_PEERS: tuple[frozenset[str], ...] = (
    frozenset({"service_down", "http_errors", "latency"}),  # a service that is down, failing or slow
    frozenset({"db_connections", "db_slow", "replication"}),  # a database in trouble
)
# cause -> {effect on the same asset: sustained}; a sustained cause explains the effect whenever it happens
# while the cause is still active (memory pressure ends in an OOM kill however long it took); the others only
# within the cause window of the cause's start.
_SERVICE = ("service_down", "http_errors", "latency")
_SAME_ASSET: dict[str, dict[str, bool]] = {
    "memory": {"oom": True, "service_down": False, "latency": False},
    "oom": {"host_down": False, **dict.fromkeys(_SERVICE, False)},
    "cpu": {"db_slow": False, "latency": False},
    "disk": {"db_slow": False, "replication": False, **dict.fromkeys(_SERVICE, False)},
    "network": dict.fromkeys(("host_down", "db_connections", "replication", *_SERVICE), False),
    "host_down": dict.fromkeys(("network", "db_connections", "replication", *_SERVICE), False),
    "db_connections": dict.fromkeys(("latency", "http_errors"), False),
    "db_slow": dict.fromkeys(("latency", "http_errors"), False),
}

# Topology: per upstream cause class, (effect classes it explains downstream, only on direct dependents and
# only shortly after it started).
_UNREACHABLE: frozenset[str] = frozenset({
    "host_down", "network", "service_down", "http_errors", "latency", "db_connections", "db_slow", "replication",
})
_DEGRADED: frozenset[str] = frozenset({"service_down", "http_errors", "latency"})
_SLOW: frozenset[str] = frozenset({"http_errors", "latency"})  # a busy upstream slows its callers, never downs them
EXPLAINS: dict[str, tuple[frozenset[str], bool]] = {
    "host_down": (_UNREACHABLE, False),
    "network": (_UNREACHABLE, False),
    "service_down": (_DEGRADED | {"db_connections"}, False),
    "db_slow": (_DEGRADED | {"db_connections"}, False),
    "db_connections": (_DEGRADED | {"db_connections"}, False),
    "replication": (_DEGRADED | {"db_connections"}, False),
    "disk": (_SLOW, True),
    "memory": (_SLOW, True),
    "oom": (_DEGRADED, True),
    "cpu": (_SLOW, True),
    "http_errors": (_DEGRADED, True),
    "latency": (_DEGRADED, True),
}
EFFECTS: frozenset[str] = frozenset().union(*(effects for effects, _ in EXPLAINS.values()))

_ZERO = timedelta(0)
PEER, CAUSES, CAUSED_BY = "peer", "causes", "caused_by"


@lru_cache(maxsize=4096)
def same_asset(a: str, b: str) -> tuple[str, bool] | None:
    """How symptom ``a`` relates to symptom ``b`` on one asset: (``peer``, False), (``causes``, sustained) when
    ``a`` can cause ``b``, (``caused_by``, sustained) when ``b`` can cause ``a``, or None (unrelated)."""
    x, y = base_class(a), base_class(b)
    if x in INDEPENDENT or y in INDEPENDENT:
        return None
    if x == y:  # service_down:nginx and service_down:php-fpm, or the same class from another rule
        return PEER, False
    if any(x in group and y in group for group in _PEERS):
        return PEER, False
    if y in _SAME_ASSET.get(x, {}):
        return CAUSES, _SAME_ASSET[x][y]
    if x in _SAME_ASSET.get(y, {}):
        return CAUSED_BY, _SAME_ASSET[y][x]
    return None


@lru_cache(maxsize=4096)
def is_usage(symptom: str) -> bool:
    return base_class(symptom) in RESOURCES


@lru_cache(maxsize=4096)
def is_effect(symptom: str) -> bool:
    return base_class(symptom) in EFFECTS


@lru_cache(maxsize=4096)
def is_cause(symptom: str) -> bool:
    return base_class(symptom) in EXPLAINS


@lru_cache(maxsize=4096)
def explains(cause: str, effect: str, hops: int) -> bool:
    """Whether ``cause`` on an upstream asset ``hops`` depends_on links away can explain ``effect`` downstream."""
    rule = EXPLAINS.get(base_class(cause))
    if rule is None:
        return False
    effects, direct_only = rule
    return base_class(effect) in effects and (hops <= 1 or not direct_only)


@lru_cache(maxsize=256)
def is_short_lived_cause(cause: str) -> bool:
    """Causes that explain effects downstream only shortly after they start (see ``EXPLAINS``)."""
    rule = EXPLAINS.get(base_class(cause))
    return rule is not None and rule[1]


@lru_cache(maxsize=1024)
def lead_allowed(cause: str, effect: str) -> timedelta:
    """How much earlier than ``cause`` the ``effect`` may have been noticed and still be explained by it."""
    if base_class(cause) in RESOURCES:
        return timedelta(0)
    return AVAILABILITY_LEAD if base_class(effect) in AVAILABILITY else METRIC_LEAD


def causal_gap(cause: str, effect: str, cause_start: datetime, effect_start: datetime, limit: timedelta | None
               ) -> timedelta | None:
    """How far apart the starts are when ``effect`` can be caused by ``cause``: the effect started after the
    cause within ``limit`` (None: no limit, a sustained cause), or before it by at most the detection lead;
    None otherwise."""
    after = effect_start - cause_start
    if after >= _ZERO:
        return after if limit is None or after <= limit else None
    return -after if -after <= lead_allowed(cause, effect) else None
