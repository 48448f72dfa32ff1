"""What ``correlate()`` decided about one alert notification, and why."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal

from alertwhisperer.correlation.assets import ResolvedAsset, format_path
from alertwhisperer.correlation.priority import PriorityScore

DecisionKind = Literal["new_incident", "correlated", "duplicate", "resolved", "suppressed", "flapping"]
# The rule behind a decision.
Rule = Literal[
    "new",  # nothing matched: a new incident
    "identity",  # a repeat/acknowledgement/resolve of a known alert
    "key",  # an open incident has the same grouping key
    "reopen",  # the same key's incident resolved within the reopen window
    "refire",  # a resolved alert fired again while its incident was still open or resolving
    "related_symptom",  # a related symptom on the same asset
    "topology",  # an incident on an asset linked by depends_on
    "storm",  # many assets failing with the same network/host-down class
    "flapping",  # the alert flaps: it keeps its incident
    "maintenance",  # inside a maintenance window
    "orphan_resolve",  # a resolve for an alert never seen firing
]


@dataclass(frozen=True, slots=True)
class Explanation:
    """Why an alert went where it went; stored with the alert and shown on the incident."""

    rule: Rule
    identity: str
    key: str  # the alert's grouping key
    asset: str  # display name
    asset_key: str
    asset_matched_by: str
    symptom: str
    symptom_rule: str
    incident_key: str | None = None  # the key of the incident it joined (may differ from ``key``)
    time_gap_seconds: float | None = None  # from the incident's nearest activity to this alert
    window_seconds: float | None = None
    topology_path: tuple[str, ...] = ()  # ("app-01", "depends_on", "db-01")
    root_cause: str | None = None  # display name of the incident's probable root cause
    storm_assets: int | None = None
    merged: tuple[str, ...] = ()  # incidents folded into this one by this alert
    maintenance_window: str | None = None
    notes: tuple[str, ...] = ()

    @property
    def path_text(self) -> str:
        return format_path(self.topology_path) if self.topology_path else ""

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["topology_path"] = list(self.topology_path)
        data["merged"] = list(self.merged)
        data["notes"] = list(self.notes)
        if self.topology_path:
            data["topology_path_text"] = self.path_text
        return data


@dataclass(frozen=True, slots=True)
class Decision:
    kind: DecisionKind
    incident_id: str | None  # None only when suppressed
    alert_id: str  # this notification's id (as passed in)
    identity: str
    at: datetime  # the event time the decision used
    asset: ResolvedAsset
    symptom: str
    reason: str  # one human sentence
    explanation: Explanation
    priority: PriorityScore | None = None  # of the incident after this alert, at ``now``
    status: str = "firing"  # the alert's status after this notification
    reopened: bool = False  # the incident had resolved and is open again
    flapping: bool = False
    merged: tuple[str, ...] = ()  # incidents folded into ``incident_id`` (callers re-point their alerts)
    resolves_at: datetime | None = None  # the incident resolves then unless something fires (hold)
    incident_resolved: bool = False  # resolves_at is already due (hold 0)
    time_to_resolve_seconds: float | None = None  # opened -> resolves_at
    notify_after: datetime | None = None  # auto-pause: notify only if the incident is still open then
    transient: bool = False  # resolved within the auto-pause: nobody is notified about this incident
    suppressed_by: str | None = None  # "maintenance:<id>", "orphan_resolve"
    touched: tuple[str, ...] = field(default=())  # incident ids whose state changed

    @property
    def outcome(self) -> str:
        """The replay vocabulary: new_incident | correlated | duplicate | resolved | suppressed."""
        if self.kind == "flapping":
            return "resolved" if self.status == "resolved" else "duplicate"
        return self.kind

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind, "outcome": self.outcome, "incident_id": self.incident_id, "alert_id": self.alert_id,
            "identity": self.identity, "at": self.at.isoformat(), "asset": self.asset.name,
            "asset_key": self.asset.key, "discovered_asset": self.asset.discovered, "symptom": self.symptom,
            "reason": self.reason, "explanation": self.explanation.as_dict(),
            "priority": None if self.priority is None else {
                "total": self.priority.total, "breakdown": self.priority.as_list()},
            "status": self.status, "reopened": self.reopened, "flapping": self.flapping, "merged": list(self.merged),
            "resolves_at": self.resolves_at.isoformat() if self.resolves_at else None,
            "incident_resolved": self.incident_resolved, "time_to_resolve_seconds": self.time_to_resolve_seconds,
            "notify_after": self.notify_after.isoformat() if self.notify_after else None,
            "transient": self.transient, "suppressed_by": self.suppressed_by, "touched": list(self.touched),
        }
