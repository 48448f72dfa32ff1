from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


class AuditEntryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    seq: int
    at: datetime
    actor_id: str | None
    actor_email: str | None
    actor_role: str | None
    company_id: str | None
    action: str
    target_type: str | None
    target_id: str | None
    details: dict[str, Any]
    ip: str | None
    user_agent: str | None
    hash: str


class AuditPage(BaseModel):
    items: list[AuditEntryOut]
    total: int
    limit: int
    offset: int


class ChainReport(BaseModel):
    ok: bool
    checked: int
    first_broken_seq: int | None = None
    problem: str | None = None
