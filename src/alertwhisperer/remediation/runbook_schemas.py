"""Pydantic I/O models of the runbooks API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from alertwhisperer.remediation.models import Runbook, RunbookVersion
from alertwhisperer.remediation.runbook_queries import EffectiveRunbook
from alertwhisperer.remediation.spec import RunbookSpec


class RunbookIn(BaseModel):
    yaml: str = Field(max_length=70_000, description="the runbook as YAML")
    company_id: str | None = Field(
        None,
        description="a company runbook (an override when the library has the same "
        "name); absent: the MSP library (msp_admin)",
    )
    note: str = Field("", max_length=500)


class RunbookEditIn(BaseModel):
    yaml: str = Field(max_length=70_000)
    note: str = Field("", max_length=500, description="what changed and why (kept with the version)")


class ValidateIn(BaseModel):
    yaml: str = Field(max_length=70_000)


class Problem(BaseModel):
    line: int | None
    field: str | None
    message: str


class ValidateOut(BaseModel):
    valid: bool
    problems: list[Problem]
    spec: dict[str, Any] | None = None
    spec_hash: str | None = None


class VersionSummary(BaseModel):
    id: str
    version: int
    spec_hash: str
    author_name: str
    note: str
    created_at: datetime


class VersionOut(VersionSummary):
    runbook_id: str
    yaml: str
    spec: dict[str, Any]


class RunbookOut(BaseModel):
    id: str
    slug: str
    title: str
    description: str
    category: str
    risk: str
    auto_approve: bool
    scope: str  # "library" | "company"
    company_id: str | None
    builtin: bool
    enabled: bool
    overridden: bool = Field(description="a company runbook replacing the library one with the same name")
    current_version: int
    version_id: str
    oses: list[str]
    symptoms: list[str]
    updated_at: datetime


class RunbookDetailOut(RunbookOut):
    yaml: str
    spec: dict[str, Any]
    spec_hash: str
    versions: list[VersionSummary]
    update_available: VersionSummary | None = Field(
        None, description="a newer shipped version of a built-in an MSP admin edited, not applied"
    )


def summary(version: RunbookVersion) -> VersionSummary:
    return VersionSummary(
        id=version.id,
        version=version.version,
        spec_hash=version.spec_hash,
        author_name=version.author_name,
        note=version.note,
        created_at=version.created_at,
    )


def version_out(version: RunbookVersion) -> VersionOut:
    return VersionOut(
        **summary(version).model_dump(), runbook_id=version.runbook_id, yaml=version.yaml, spec=version.spec
    )


def runbook_out(runbook: Runbook, version: RunbookVersion, spec: RunbookSpec, *, overridden: bool) -> RunbookOut:
    return RunbookOut(
        id=runbook.id,
        slug=runbook.slug,
        title=spec.title,
        description=spec.description,
        category=spec.category,
        risk=spec.risk,
        auto_approve=spec.auto_approve,
        scope="library" if runbook.company_id is None else "company",
        company_id=runbook.company_id,
        builtin=runbook.builtin,
        enabled=runbook.enabled,
        overridden=overridden,
        current_version=runbook.current_version,
        version_id=version.id,
        oses=spec.oses,
        symptoms=list(spec.trigger.symptoms),
        updated_at=runbook.updated_at,
    )


def entry_out(entry: EffectiveRunbook) -> RunbookOut:
    return runbook_out(entry.runbook, entry.version, entry.spec, overridden=entry.overridden)
