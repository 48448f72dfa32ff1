"""The per-company grouping policy (editable in settings). Defaults are what most MSP clients want."""

from __future__ import annotations

from datetime import timedelta
from functools import cached_property
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from alertwhisperer.correlation.maintenance import MaintenanceWindow
from alertwhisperer.correlation.symptoms import SymptomRule, base_class

GroupingKey = Literal["asset+symptom", "asset", "asset+signature", "labels"]


class CorrelationPolicy(BaseModel):
    """How one company's alerts are grouped into incidents.

    * ``window_minutes`` (5-15, default 15): how far apart, in event time, alerts may be and still join.
    * ``key``: what makes two alerts "the same problem" — ``asset+symptom`` (default), ``asset``,
      ``asset+signature`` (the seeds' rule) or ``labels`` (the values of ``key_labels``).
    * ``related_symptoms``: symptoms on one asset join when one causes the other or both are faces of one
      failure (``causality.same_asset``): the cause must come first and still be active - within
      ``cause_window_minutes`` for most causes, any time for memory pressure before an OOM kill - and two
      faces of one failure must start within the cause window of each other.
    * ``topology``: alerts on assets linked by depends_on (up to ``topology_depth`` hops, either direction)
      join when an upstream member can cause the downstream one (``causality.EXPLAINS``), is still active,
      and the effect started after it within the window (or was noticed at most a detection delay before it);
      the upstream asset is the probable root cause. Resource and degradation causes (disk, memory, oom, cpu,
      errors, latency) explain only direct dependents, within ``cause_window_minutes`` of their start. An
      alert explained by several incidents joins the best explanation only (explaining away), and a cause
      noticed late joins only the effects nothing else explains. Siblings (assets sharing an upstream) end up
      in one incident only through that upstream's cause; ``topology_siblings`` false stops a late upstream
      cause from merging incidents of several dependents.
    * storm: ``storm_min_assets`` or more assets failing with a ``storm_classes`` symptom within
      ``storm_window_seconds`` of each other are one incident (a host whose failure began long before - an
      old problem back - does not pull its incident into a new storm).
    * ``resolve_hold_minutes``: an incident whose alerts are all resolved resolves this long after the last
      resolve unless something fires again; ``reopen_minutes``: a firing alert this soon after the incident
      resolved reopens it (measured from when the incident would have resolved for that problem alone: the
      clear of the alerts with its key plus the hold, not a later resolution kept back by other alerts).
    * flapping: more than ``flap_changes`` firing/resolved changes of one alert within ``flap_minutes``.
    * ``transient_pause_minutes`` (off by default): a new incident notifies nobody for this long, and not at
      all if it resolves meanwhile (PagerDuty's auto-pause).
    * ``open_incident_horizon_minutes``: an incident with a still-firing alert keeps absorbing alerts with
      its key this long after its last activity, even beyond the window.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    window_minutes: int = Field(15, ge=5, le=15)
    key: GroupingKey = "asset+symptom"
    key_labels: tuple[str, ...] = ()
    related_symptoms: bool = True
    topology: bool = True
    topology_depth: int = Field(3, ge=1, le=6)
    topology_siblings: bool = True
    cause_window_minutes: int = Field(5, ge=1, le=15)
    storm: bool = True
    storm_window_seconds: int = Field(120, ge=5, le=900)
    storm_min_assets: int = Field(3, ge=2, le=10_000)
    storm_classes: tuple[str, ...] = ("host_down", "network")
    resolve_hold_minutes: int = Field(5, ge=0, le=24 * 60)
    reopen_minutes: int = Field(30, ge=0, le=24 * 60)
    flap_changes: int = Field(4, ge=2, le=1000)
    flap_minutes: int = Field(30, ge=1, le=24 * 60)
    transient_pause_minutes: int | None = Field(None, ge=1, le=60)
    open_incident_horizon_minutes: int = Field(240, ge=0, le=7 * 24 * 60)
    maintenance_windows: tuple[MaintenanceWindow, ...] = ()
    symptom_rules: tuple[SymptomRule, ...] = ()

    @model_validator(mode="after")
    def _check(self) -> CorrelationPolicy:
        if self.key == "labels" and not self.key_labels:
            raise ValueError("key 'labels' needs at least one label in key_labels")
        unknown = [c for c in self.storm_classes if base_class(c) not in {"host_down", "network", "service_down"}]
        if unknown:
            raise ValueError(f"storm_classes may only hold host_down, network, service_down; got {unknown}")
        return self

    @cached_property
    def window(self) -> timedelta:
        return timedelta(minutes=self.window_minutes)

    @cached_property
    def cause_window(self) -> timedelta:
        return timedelta(minutes=min(self.cause_window_minutes, self.window_minutes))

    @cached_property
    def storm_window(self) -> timedelta:
        return timedelta(seconds=self.storm_window_seconds)

    @cached_property
    def hold(self) -> timedelta:
        return timedelta(minutes=self.resolve_hold_minutes)

    @cached_property
    def reopen(self) -> timedelta:
        return timedelta(minutes=self.reopen_minutes)

    @cached_property
    def flap_window(self) -> timedelta:
        return timedelta(minutes=self.flap_minutes)

    @cached_property
    def horizon(self) -> timedelta:
        return timedelta(minutes=self.open_incident_horizon_minutes)

    @cached_property
    def transient_pause(self) -> timedelta | None:
        return timedelta(minutes=self.transient_pause_minutes) if self.transient_pause_minutes else None


DEFAULT_POLICY = CorrelationPolicy()
