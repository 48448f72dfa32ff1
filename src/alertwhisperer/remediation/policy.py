"""A company's remediation policy, stored in ``company.settings["remediation"]`` (only values that differ).

Pure (no database). ``remediation.gates`` and the decision engine read it through ``policy_of(company)``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, ValidationError

if TYPE_CHECKING:
    from alertwhisperer.tenants.models import Company

APPROVAL_TTL = timedelta(hours=1)  # an approval request expires this long after it was made (checked at run time)


class RemediationPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(True, description="the decision engine looks at this company's incidents")
    auto_run: bool = Field(True, description="low-risk runbooks marked auto_approve may run without approval; "
                                             "off: every run needs an approval")
    max_runs_per_hour: int = Field(3, ge=1, le=100, description="loop guard: the same runbook on the same asset "
                                                                "at most this many times per hour")


def policy_of(company: Company) -> RemediationPolicy:
    """The stored policy; an unreadable one falls back to the safe side: nothing runs without an approval."""
    data = (company.settings or {}).get("remediation") or {}
    try:
        return RemediationPolicy.model_validate(data)
    except ValidationError:
        return RemediationPolicy(auto_run=False)
