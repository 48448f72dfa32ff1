"""Canonical alerts: what every adapter produces from a tool's native payload."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Severity = Literal["critical", "high", "medium", "low", "info"]
AlertStatus = Literal["firing", "resolved", "acknowledged"]


class AlertIn(BaseModel):
    """One alert as a monitoring tool reported it, normalised.

    ``asset_ref`` is the reference exactly as the tool gives it (host, ``instance`` with port, source,
    dimension value, resource id); correlation resolves it against the company's assets later.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str = Field(description="adapter key, e.g. 'alertmanager'")
    status: AlertStatus = "firing"
    severity: Severity = "medium"
    original_severity: str | None = Field(None, description="the tool's own severity/priority, verbatim")
    asset_ref: str | None = None
    signature: str = Field(min_length=1, max_length=500, description="what is wrong: alert/check/rule name")
    message: str = Field("", max_length=20_000)
    labels: dict[str, str] = Field(default_factory=dict)
    external_id: str | None = Field(None, description="the tool's own alert id: fingerprint, dedup_key, ...")
    delivery_id: str | None = Field(None, description="the tool's stable id of this notification, if any")
    occurred_at: datetime | None = Field(None, description="event time from the tool (timezone-aware)")
    url: str | None = Field(None, description="link back to the alert in the tool")
    value: str | None = Field(None, description="the observed value, when the tool sends one")


class ControlMessage(BaseModel):
    """A delivery that is not an alert but asks us to do something (e.g. confirm an SNS subscription)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["sns_subscription_confirmation", "sns_unsubscribe_confirmation", "test"]
    details: dict[str, Any] = Field(default_factory=dict)


class ParseResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    alerts: list[AlertIn] = Field(default_factory=list)
    control: ControlMessage | None = None
