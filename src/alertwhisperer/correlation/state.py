"""The open state of one tenant, as plain dataclasses with the indexes the engine looks things up by.

The service layer loads it (open and recently resolved incidents, their alerts) and keeps it per tenant; the
replay CLI keeps it in memory. ``correlate()`` changes it in place; every ``Decision`` names the incidents it
touched so a caller that persists state writes just those.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from alertwhisperer.correlation.priority import PriorityScore, max_severity, priority_score

IncidentStatus = str  # "open" | "resolving" | "resolved"
Span = tuple[datetime, datetime]  # event times of the first and the last alert of a member


def widen(span: Span | None, at: datetime) -> Span:
    return (at, at) if span is None else (min(span[0], at), max(span[1], at))


def distance(span: Span, at: datetime) -> timedelta:
    """How far ``at`` lies outside ``span`` (zero inside it)."""
    return max(at - span[1], span[0] - at, timedelta(0))


def join(a: Span, b: Span) -> Span:
    return min(a[0], b[0]), max(a[1], b[1])


@dataclass(slots=True)
class AlertState:
    """One alert (all notifications with one identity)."""

    identity: str
    alert_id: str  # the first notification's id (the service's alert row)
    source: str
    tool: str  # the reporting tool (source, or a generic sender's tool_source label)
    asset_key: str
    symptom: str
    signature: str
    severity: str
    status: str  # "firing" | "resolved"
    incident_id: str | None
    first_seen: datetime
    last_seen: datetime
    count: int = 1
    acknowledged: bool = False
    changes: deque[datetime] = field(default_factory=deque)  # firing<->resolved transitions, event time
    flapping: bool = False
    resolved_at: datetime | None = None
    suppressed: str | None = None  # why it is in no incident: "maintenance:<window id>", "orphan_resolve"
    message: str = ""
    value: str | None = None
    key: str = ""  # the grouping key it was correlated with


@dataclass(slots=True)
class IncidentState:
    """One incident: the alerts grouped into it and what the rules need to know about them."""

    id: str
    company_id: str
    key: str  # the grouping key that opened it
    opened_at: datetime  # event time of its first alert
    last_seen: datetime
    severity: str
    root: str  # asset key of the probable root cause
    keys: dict[str, Span] = field(default_factory=dict)  # grouping key -> when alerts with it joined
    asset_symptoms: dict[str, dict[str, Span]] = field(default_factory=dict)  # asset -> symptom -> when
    asset_first_seen: dict[str, datetime] = field(default_factory=dict)
    tops: set[str] = field(default_factory=set)  # assets with no upstream asset in the incident
    symptoms: set[str] = field(default_factory=set)
    tools: set[str] = field(default_factory=set)
    alerts: set[str] = field(default_factory=set)  # identities
    firing: set[str] = field(default_factory=set)  # identities currently firing
    notifications: int = 0  # firing/acknowledged notifications, repeats included
    critical: bool = False
    storm: bool = False
    storm_assets: set[str] = field(default_factory=set)
    cleared_at: datetime | None = None  # when its last alert resolved
    resolve_at: datetime | None = None  # when it resolves (cleared_at + hold) unless something fires
    reopen_count: int = 0
    notify_after: datetime | None = None  # transient auto-pause: notify only if still open then
    flapping: bool = False
    # per member (asset -> symptom) and per grouping key: alerts firing now, and when they last all cleared
    member_firing: dict[str, dict[str, int]] = field(default_factory=dict)
    member_cleared: dict[str, dict[str, datetime]] = field(default_factory=dict)
    key_firing: dict[str, int] = field(default_factory=dict)
    key_cleared: dict[str, datetime] = field(default_factory=dict)
    explained: dict[str, set[str]] = field(default_factory=dict)  # members that joined through a cause or peer

    def fire(self, identity: str, asset: str, symptom: str, key: str) -> None:
        """An alert of this incident fires (again)."""
        if identity in self.firing:
            return
        self.firing.add(identity)
        counts = self.member_firing.setdefault(asset, {})
        counts[symptom] = counts.get(symptom, 0) + 1
        self.key_firing[key] = self.key_firing.get(key, 0) + 1

    def clear(self, identity: str, asset: str, symptom: str, key: str, at: datetime) -> None:
        """A firing alert of this incident resolved at ``at``."""
        if identity not in self.firing:
            return
        self.firing.discard(identity)
        counts = self.member_firing.setdefault(asset, {})
        counts[symptom] = max(counts.get(symptom, 0) - 1, 0)
        if not counts[symptom]:
            cleared = self.member_cleared.setdefault(asset, {})
            cleared[symptom] = max(cleared.get(symptom, at), at)
        self.key_firing[key] = max(self.key_firing.get(key, 0) - 1, 0)
        if not self.key_firing[key]:
            self.key_cleared[key] = max(self.key_cleared.get(key, at), at)

    def member_active(self, asset: str, symptom: str, at: datetime, grace: timedelta) -> bool:
        """Whether the member still fires at ``at``, or cleared at most ``grace`` before it."""
        counts = self.member_firing.get(asset)
        if counts is None or symptom not in counts:  # a state saved before members were counted
            return bool(self.firing)
        if counts[symptom]:
            return True
        cleared = self.member_cleared.get(asset, {}).get(symptom)
        return cleared is None or cleared >= at - grace

    def key_active(self, key: str) -> bool | None:
        """Whether an alert with this grouping key still fires (None: not known, an old saved state)."""
        n = self.key_firing.get(key)
        return None if n is None else n > 0

    def status_at(self, at: datetime) -> IncidentStatus:
        if self.firing:
            return "open"
        if self.resolve_at is not None and at >= self.resolve_at:
            return "resolved"
        return "resolving"

    @property
    def duplicates(self) -> int:
        """Notifications beyond the first (see ``priority``)."""
        return max(self.notifications - 1, 0)

    def priority(self, now: datetime) -> PriorityScore:
        return priority_score(severity=self.severity, critical_asset=self.critical, duplicates=self.duplicates,
                              tools=self.tools, opened_at=self.opened_at, now=now)


def _sequential_ids() -> Callable[[], str]:
    counter = itertools.count(1)
    return lambda: f"inc-{next(counter):06d}"


@dataclass
class TenantState:
    """Everything correlation keeps for one company. Never shared between companies."""

    company_id: str
    id_factory: Callable[[], str] = field(default_factory=_sequential_ids)
    incidents: dict[str, IncidentState] = field(default_factory=dict)
    alerts: dict[str, AlertState] = field(default_factory=dict)
    by_key: dict[str, str] = field(default_factory=dict)  # grouping key -> latest incident with it
    by_asset: dict[str, set[str]] = field(default_factory=dict)  # asset key -> incidents involving it
    storm_events: deque[tuple[datetime, str, str]] = field(default_factory=deque)  # (at, asset, incident)
    merged_into: dict[str, str] = field(default_factory=dict)  # absorbed incident -> survivor
    calls: int = 0
    latest: datetime | None = None  # the latest arrival time seen
    settle: timedelta = timedelta(hours=1)  # set by correlate(): the policy's window (resolved incidents
    # leave the asset index this long after they resolved, measured against the latest arrival)

    def canonical(self, incident_id: str) -> str:
        """The incident an id ended up in after merges (the id itself when never merged)."""
        seen = 0
        while incident_id in self.merged_into and seen < 10_000:
            incident_id = self.merged_into[incident_id]
            seen += 1
        return incident_id

    def incident_of(self, alert: AlertState) -> IncidentState | None:
        if alert.incident_id is None:
            return None
        return self.incidents.get(self.canonical(alert.incident_id))

    def open_incidents(self, at: datetime) -> Iterator[IncidentState]:
        return (i for i in self.incidents.values() if i.status_at(at) != "resolved")

    # --- mutations used by the engine --------------------------------------------------------------------
    def new_incident(self, *, key: str, at: datetime, severity: str, asset_key: str) -> IncidentState:
        incident_id = self.id_factory()
        if incident_id in self.incidents or incident_id in self.merged_into:
            raise ValueError(f"id_factory returned a duplicate incident id {incident_id!r}")
        incident = IncidentState(id=incident_id, company_id=self.company_id, key=key, opened_at=at, last_seen=at,
                                 severity=severity, root=asset_key)
        self.incidents[incident_id] = incident
        return incident

    def index(self, incident: IncidentState, *, key: str, asset_key: str, at: datetime) -> None:
        incident.keys[key] = widen(incident.keys.get(key), at)
        self.by_key[key] = incident.id
        if asset_key:
            self.by_asset.setdefault(asset_key, set()).add(incident.id)

    def merge(self, survivor: IncidentState, absorbed: IncidentState) -> None:
        """Fold ``absorbed`` into ``survivor`` (both of this tenant)."""
        assert survivor.company_id == absorbed.company_id == self.company_id
        survivor.opened_at = min(survivor.opened_at, absorbed.opened_at)
        survivor.last_seen = max(survivor.last_seen, absorbed.last_seen)
        survivor.severity = max_severity(survivor.severity, absorbed.severity)
        for asset, symptoms in absorbed.asset_symptoms.items():
            mine = survivor.asset_symptoms.setdefault(asset, {})
            for symptom, span in symptoms.items():
                mine[symptom] = join(mine[symptom], span) if symptom in mine else span
            first = absorbed.asset_first_seen[asset]
            survivor.asset_first_seen[asset] = min(survivor.asset_first_seen.get(asset, first), first)
            self.by_asset.setdefault(asset, set()).discard(absorbed.id)
            self.by_asset[asset].add(survivor.id)
        for key, span in absorbed.keys.items():
            survivor.keys[key] = join(survivor.keys[key], span) if key in survivor.keys else span
            if self.by_key.get(key) == absorbed.id:
                self.by_key[key] = survivor.id
        for asset, counts in absorbed.member_firing.items():
            mine_counts = survivor.member_firing.setdefault(asset, {})
            for symptom, n in counts.items():
                mine_counts[symptom] = mine_counts.get(symptom, 0) + n
        for asset, times in absorbed.member_cleared.items():
            mine_times = survivor.member_cleared.setdefault(asset, {})
            for symptom, t in times.items():
                mine_times[symptom] = max(mine_times.get(symptom, t), t)
        for key, n in absorbed.key_firing.items():
            survivor.key_firing[key] = survivor.key_firing.get(key, 0) + n
        for key, t in absorbed.key_cleared.items():
            survivor.key_cleared[key] = max(survivor.key_cleared.get(key, t), t)
        for asset, names in absorbed.explained.items():
            survivor.explained.setdefault(asset, set()).update(names)
        survivor.symptoms |= absorbed.symptoms
        survivor.tools |= absorbed.tools
        survivor.alerts |= absorbed.alerts
        survivor.firing |= absorbed.firing
        survivor.notifications += absorbed.notifications
        survivor.critical = survivor.critical or absorbed.critical
        survivor.storm = survivor.storm or absorbed.storm
        survivor.storm_assets |= absorbed.storm_assets
        survivor.flapping = survivor.flapping or absorbed.flapping
        survivor.reopen_count += absorbed.reopen_count
        if survivor.firing:
            survivor.cleared_at = survivor.resolve_at = None
        elif absorbed.resolve_at is not None and survivor.resolve_at is not None:
            survivor.resolve_at = max(survivor.resolve_at, absorbed.resolve_at)
            survivor.cleared_at = max(survivor.cleared_at or absorbed.resolve_at, absorbed.cleared_at or
                                      absorbed.resolve_at)
        if survivor.notify_after is not None and absorbed.notify_after is None:
            survivor.notify_after = None
        self.merged_into[absorbed.id] = survivor.id
        del self.incidents[absorbed.id]
        self.storm_events = deque((t, a, survivor.id if i == absorbed.id else i) for t, a, i in self.storm_events)

    def close_incident(self, incident_id: str, at: datetime) -> None:
        """A technician resolved it by hand: its alerts count as resolved; later firing opens anew."""
        incident = self.incidents.get(self.canonical(incident_id))
        if incident is None:
            return
        for identity in sorted(incident.alerts):
            alert = self.alerts.get(identity)
            if alert is not None and alert.status == "firing":
                alert.status, alert.resolved_at = "resolved", at
                incident.clear(identity, alert.asset_key, alert.symptom, alert.key, at)
        incident.firing.clear()
        incident.cleared_at = incident.resolve_at = at

    def prune(self, now: datetime, *, keep: timedelta) -> int:
        """Forget incidents resolved before ``now - keep`` and their resolved alerts. Returns how many."""
        gone = [i.id for i in self.incidents.values()
                if not i.firing and i.resolve_at is not None and i.resolve_at + keep < now]
        for incident_id in gone:
            incident = self.incidents.pop(incident_id)
            for identity in incident.alerts:
                alert = self.alerts.get(identity)
                if alert is not None and alert.status == "resolved" and not (alert.changes and alert.changes[-1]
                                                                              + keep >= now):
                    del self.alerts[identity]
            for asset in incident.asset_symptoms:
                ids = self.by_asset.get(asset)
                if ids is not None:
                    ids.discard(incident_id)
                    if not ids:
                        del self.by_asset[asset]
            for key in incident.keys:
                if self.by_key.get(key) == incident_id:
                    del self.by_key[key]
        stale = [k for k, a in self.alerts.items() if a.incident_id is None and a.last_seen + keep < now]
        for k in stale:
            del self.alerts[k]
        return len(gone)
