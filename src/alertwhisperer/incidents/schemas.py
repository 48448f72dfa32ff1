"""Pydantic I/O models of the incident lifecycle API (actions, bulk, merge/split, timeline, assignees)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class ResolveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str | None = Field(None, max_length=10_000, description="optional: what fixed it")


class ReopenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str | None = Field(None, max_length=10_000, description="optional: why it is not fixed")


class NoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    body: str = Field(..., description="1 to 10,000 characters")


class AssignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: str | None = Field(..., description="the new assignee, or null to unassign")


class MergeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    into: str = Field(..., min_length=1, max_length=64, description="the incident that absorbs this one")


class SplitIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    alert_ids: list[str] = Field(..., min_length=1, max_length=500)
    title: str | None = Field(None, max_length=500, description="default: from the first chosen alert")


class BulkIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Literal["acknowledge", "resolve", "assign"]
    incident_ids: list[str] = Field(..., min_length=1, max_length=200)
    user_id: str | None = Field(None, description="assign: the assignee (null unassigns)")
    note: str | None = Field(None, max_length=10_000, description="resolve: an optional note for each")


class BulkItemOut(BaseModel):
    incident_id: str
    ok: bool
    status: str = ""
    error: str = ""


class BulkOut(BaseModel):
    action: str
    succeeded: int
    failed: int
    results: list[BulkItemOut]


class AutoAssignOut(BaseModel):
    assigned: bool
    user_id: str | None
    reason: str


class AssigneeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    email: str
    role: str
    category: str | None
    skills: list[str]
    on_leave: bool
    load: int
    max_load: int
    warnings: list[str]


class TimelineItemOut(BaseModel):
    """One line of an incident's history: an alert notification that joined (``type`` "alert") or a change
    people or the platform made (``type`` "event": status, assignment, note, escalation, notification, chat,
    merge, split, ...)."""

    type: Literal["alert", "event"]
    at: datetime
    kind: str
    actor_id: str | None = None
    actor_name: str = ""
    body: str = ""
    data: dict[str, Any] = {}
    alert_id: str | None = None
    source: str | None = None
    severity: str | None = None
    status: str | None = None
    signature: str | None = None
    asset_ref: str | None = None
    reason: str | None = None
