"""Pydantic I/O models of the incidents read API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


class AssigneeRef(BaseModel):
    id: str
    name: str
    email: str


class IncidentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    company_id: str
    status: str
    title: str
    symptom: str
    symptoms: list[str]
    severity: str
    priority: int
    root_asset_key: str
    root_asset_name: str
    tools: list[str]
    alert_count: int
    duplicate_count: int
    reopen_count: int
    flapping: bool
    first_seen: datetime
    last_seen: datetime
    resolves_at: datetime | None
    resolved_at: datetime | None
    time_to_resolve_seconds: float | None
    # lifecycle (incidents domain)
    category: str = ""
    assignee_id: str | None = None
    assignee: AssigneeRef | None = None  # filled by the API from assignee_id
    assigned_at: datetime | None = None
    acknowledged_at: datetime | None = None
    started_at: datetime | None = None
    closed_at: datetime | None = None
    resolution_kind: str = ""
    escalation_level: int = 0
    escalated_at: datetime | None = None
    sla_started_at: datetime | None = None
    response_due_at: datetime | None = None
    resolution_due_at: datetime | None = None
    response_breached_at: datetime | None = None
    resolution_breached_at: datetime | None = None
    merged_into: str | None = None
    split_from: str | None = None


class TimelineEntry(BaseModel):
    """One alert notification in the incident, with why it joined."""

    alert_id: str
    kind: str
    reason: str
    explanation: dict[str, Any]
    joined_at: datetime
    source: str
    status: str
    severity: str
    signature: str
    asset_ref: str | None
    message: str


class IncidentDetail(IncidentOut):
    key: str
    asset_keys: list[str]
    priority_breakdown: list[dict[str, Any]]
    explanation: dict[str, Any]
    alerts: list[TimelineEntry] = []
