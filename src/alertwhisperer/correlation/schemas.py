"""Pydantic I/O models of the incidents read API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


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
