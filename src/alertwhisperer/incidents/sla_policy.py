"""A company's SLA policy: response and resolution targets per severity, the warning lead time and the
escalation chain. Pure (no database): stored in ``company.settings["sla"]`` by ``incidents.sla_service``.

Defaults (the seeds' numbers): critical 30 min / 4 h, high 2 h / 8 h, medium 8 h / 24 h, low 24 h / 48 h.
``info`` has no targets by default: informational incidents are not a promise to the client (a company may set
targets for them too). Response = first acknowledgement; resolution = resolved.

Escalation after a breach, each level at its own wait counted from the breach (defaults 0 / 15 / 30 / 60 min):
level 1 the assignee (auto-assigned first if nobody has it), level 2 the on-call technician for the incident's
category (or the named secondary user), level 3 the company's admins, level 4 the MSP admins. The chain stops as
soon as the condition is gone (response chain: acknowledged; resolution chain: resolved or closed) and never
goes past ``max_level``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

SEVERITIES: tuple[str, ...] = ("critical", "high", "medium", "low", "info")
MAX_TARGET_MINUTES = 60 * 24 * 365  # a year
LEVELS: tuple[int, ...] = (1, 2, 3, 4)
LEVEL_NAMES = {1: "the assignee", 2: "the on-call technician for the category (or the secondary)",
               3: "the company's admins", 4: "the MSP admins"}
Chain = Literal["response", "resolution"]


class SeverityTarget(BaseModel):
    """Minutes from the SLA start (incident opened or reopened) to the first acknowledgement and to resolved.
    None: no target (no timer, not counted in compliance)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    response_minutes: int | None = Field(None, ge=1, le=MAX_TARGET_MINUTES)
    resolution_minutes: int | None = Field(None, ge=1, le=MAX_TARGET_MINUTES)

    @model_validator(mode="after")
    def _order(self) -> SeverityTarget:
        if (self.response_minutes is not None and self.resolution_minutes is not None
                and self.resolution_minutes < self.response_minutes):
            raise ValueError("resolution_minutes: the resolution target cannot be shorter than the response target")
        return self


class EscalationPolicy(BaseModel):
    """When each level is notified, in minutes after the breach (non-decreasing), and where the chain stops."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    level1_wait_minutes: int = Field(0, ge=0, le=10_080)
    level2_wait_minutes: int = Field(15, ge=0, le=10_080)
    level3_wait_minutes: int = Field(30, ge=0, le=10_080)
    level4_wait_minutes: int = Field(60, ge=0, le=10_080)
    max_level: int = Field(4, ge=1, le=4, description="the last level notified (1 = only the assignee)")
    secondary_user_id: str | None = Field(None, max_length=64,
                                          description="level 2: this user instead of the on-call technician")

    @model_validator(mode="after")
    def _non_decreasing(self) -> EscalationPolicy:
        for level in LEVELS[1:]:
            if self.wait(level) < self.wait(level - 1):
                raise ValueError(f"level{level}_wait_minutes: level {level} cannot come before level {level - 1} "
                                 f"(its wait must be at least {self.wait(level - 1)} minutes)")
        return self

    def wait(self, level: int) -> int:
        value: int = getattr(self, f"level{level}_wait_minutes")
        return value


def _target(response: int | None, resolution: int | None) -> Any:
    return Field(default_factory=lambda: SeverityTarget(response_minutes=response, resolution_minutes=resolution))


class SlaPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    warning_minutes: int = Field(30, ge=0, le=1440, description="warn this long before a deadline (0: no "
                                 "warning); never earlier than half-way through the target")
    critical: SeverityTarget = _target(30, 240)
    high: SeverityTarget = _target(120, 480)
    medium: SeverityTarget = _target(480, 1440)
    low: SeverityTarget = _target(1440, 2880)
    info: SeverityTarget = _target(None, None)
    escalation: EscalationPolicy = Field(default_factory=EscalationPolicy)

    @model_validator(mode="before")
    @classmethod
    def _allow_null_sections(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if not (k in (*SEVERITIES, "escalation") and v is None)}
        return data

    def target(self, severity: str) -> SeverityTarget:
        """The targets for a severity (an unknown severity is treated like ``low``)."""
        found: SeverityTarget = getattr(self, severity if severity in SEVERITIES else "low")
        return found


def dump(policy: SlaPolicy) -> dict[str, Any]:
    """The full policy, defaults included, as JSON values."""
    return policy.model_dump(mode="json")


def sparse(policy: SlaPolicy) -> dict[str, Any]:
    """Only what differs from the defaults (what is stored: a company that changed nothing follows new defaults)."""
    return policy.model_dump(mode="json", exclude_defaults=True)


def warning_lead(target_minutes: int, warning_minutes: int) -> timedelta | None:
    """How long before the deadline the warning fires: ``warning_minutes``, but at most half the target (a 30-minute
    target with a 30-minute warning warns after 15 minutes, not the moment the incident opens). None: no warning."""
    if warning_minutes <= 0:
        return None
    return timedelta(minutes=min(warning_minutes, target_minutes / 2))


def deadlines(policy: SlaPolicy, severity: str, start: datetime) -> tuple[datetime | None, datetime | None]:
    """(response due, resolution due) for an incident whose SLA starts at ``start``; None where no target."""
    if not policy.enabled:
        return None, None
    target = policy.target(severity)
    response = start + timedelta(minutes=target.response_minutes) if target.response_minutes else None
    resolution = start + timedelta(minutes=target.resolution_minutes) if target.resolution_minutes else None
    return response, resolution
