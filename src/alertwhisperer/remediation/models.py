"""Remediation: runbooks (versioned), how to reach an asset (access + encrypted credentials), decisions,
executions with their approvals and output, and patch compliance per asset.

Execution statuses form one normalised state machine (``remediation.states``) whatever executor runs them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from alertwhisperer.db import Base, IdType, JSONType, UTCDateTime, new_id, utcnow

GLOBAL_SCOPE = ""  # Runbook.scope of the MSP-wide library (built-ins and MSP-made runbooks)


class Runbook(Base):
    """A runbook of the MSP-wide library (``scope`` "") or of one company (``scope`` = its id).

    A company runbook with the same ``slug`` as a library one *overrides* it for that company. The spec lives in
    ``RunbookVersion`` rows: every edit adds one and moves ``current_version``; old versions stay (executions
    and approvals are bound to the exact version they ran)."""

    __tablename__ = "runbooks"
    __table_args__ = (UniqueConstraint("scope", "slug", name="uq_runbooks_scope_slug"),)

    id: Mapped[str] = mapped_column(IdType, primary_key=True, default=new_id)
    scope: Mapped[str] = mapped_column(String(36), default=GLOBAL_SCOPE)
    company_id: Mapped[str | None] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"), index=True,
                                                   default=None)
    slug: Mapped[str] = mapped_column(String(80))
    title: Mapped[str] = mapped_column(String(200))
    risk: Mapped[str] = mapped_column(String(10))  # low | medium | high (copied from the current version)
    category: Mapped[str] = mapped_column(String(60), default="")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    builtin: Mapped[bool] = mapped_column(Boolean, default=False)  # shipped with the product
    current_version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RunbookVersion(Base):
    """One immutable version of a runbook: the YAML as written, the validated spec and its hash."""

    __tablename__ = "runbook_versions"
    __table_args__ = (UniqueConstraint("runbook_id", "version", name="uq_runbook_versions_runbook_version"),)

    id: Mapped[str] = mapped_column(IdType, primary_key=True, default=new_id)
    runbook_id: Mapped[str] = mapped_column(ForeignKey("runbooks.id", ondelete="CASCADE"), index=True)
    company_id: Mapped[str | None] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"), default=None)
    version: Mapped[int] = mapped_column(Integer)
    yaml: Mapped[str] = mapped_column(Text)
    spec: Mapped[dict[str, Any]] = mapped_column(JSONType)  # RunbookSpec.model_dump(mode="json")
    spec_hash: Mapped[str] = mapped_column(String(64))  # sha256 of the canonical JSON of ``spec``
    author_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), default=None)
    author_name: Mapped[str] = mapped_column(String(200), default="")
    note: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# Credential kinds. The secret fields are one Fernet-encrypted JSON object (``crypto.encrypt``).
SSH_KEY = "ssh_key"  # secret: {"private_key": ..., "passphrase": ...}
SSH_PASSWORD = "ssh_password"  # noqa: S105  secret: {"password": ...}
AWS_KEYS = "aws_keys"  # secret: {"secret_access_key": ...}; public: access_key_id, region
AWS_ROLE = "aws_role"  # secret: {} or base keys; public: role_arn, external_id, region
CREDENTIAL_KINDS = (SSH_KEY, SSH_PASSWORD, AWS_KEYS, AWS_ROLE)


class Credential(Base):
    """A company's credential for reaching its machines. Secrets are encrypted at rest, never shown again."""

    __tablename__ = "remediation_credentials"
    __table_args__ = (UniqueConstraint("company_id", "name", name="uq_remediation_credentials_company_name"),)

    id: Mapped[str] = mapped_column(IdType, primary_key=True, default=new_id)
    company_id: Mapped[str] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    kind: Mapped[str] = mapped_column(String(20))
    username: Mapped[str] = mapped_column(String(120), default="")
    secret_encrypted: Mapped[str] = mapped_column(Text, default="")
    public_data: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)  # role_arn, external_id, region…
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# Executor kinds
LOCAL = "local"
SSH = "ssh"
SSM = "ssm"
EXECUTOR_KINDS = (LOCAL, SSH, SSM)


class AssetAccess(Base):
    """How the platform reaches one asset: which executor, where, as whom, and the host keys it must present."""

    __tablename__ = "asset_access"

    asset_id: Mapped[str] = mapped_column(ForeignKey("assets.id", ondelete="CASCADE"), primary_key=True)
    company_id: Mapped[str] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"), index=True)
    executor: Mapped[str] = mapped_column(String(10))  # local | ssh | ssm
    os: Mapped[str] = mapped_column(String(10), default="linux")  # linux | windows
    host: Mapped[str] = mapped_column(String(255), default="")
    port: Mapped[int] = mapped_column(Integer, default=22)
    credential_id: Mapped[str | None] = mapped_column(ForeignKey("remediation_credentials.id", ondelete="SET NULL"),
                                                      default=None)
    known_hosts: Mapped[str] = mapped_column(Text, default="")  # OpenSSH known_hosts lines for ``host``
    sudo: Mapped[bool] = mapped_column(Boolean, default=False)
    region: Mapped[str] = mapped_column(String(40), default="")  # AWS region (SSM)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# Decision actions
EXECUTE = "execute"
REQUEST_APPROVAL = "request_approval"
ESCALATE = "escalate"
DECISION_ACTIONS = (EXECUTE, REQUEST_APPROVAL, ESCALATE)


class Decision(Base):
    """What the decision engine chose for an incident, and why (also written on the incident's timeline)."""

    __tablename__ = "remediation_decisions"
    __table_args__ = (Index("ix_remediation_decisions_incident", "incident_id", "created_at"),)

    id: Mapped[str] = mapped_column(IdType, primary_key=True, default=new_id)
    company_id: Mapped[str] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"), index=True)
    incident_id: Mapped[str] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    action: Mapped[str] = mapped_column(String(20))
    runbook_id: Mapped[str | None] = mapped_column(ForeignKey("runbooks.id", ondelete="SET NULL"), default=None)
    runbook_version: Mapped[int | None] = mapped_column(Integer, default=None)
    reasons: Mapped[list[str]] = mapped_column(JSONType, default=list)
    candidates: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)  # [{slug, score, why}]
    advisor: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)  # {provider, status, suggestion...}
    execution_id: Mapped[str | None] = mapped_column(IdType, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Execution(Base):
    """One run of one runbook version on one target, from request to health check.

    ``binding_hash`` binds the request (runbook version + spec hash, parameters, target) — an approval is valid
    only for the same hash, and only until ``expires_at`` (checked when the run starts). ``status`` follows
    ``remediation.states``; ``outcome`` says what the run did to the incident (self_healed | escalated | "")."""

    __tablename__ = "executions"
    __table_args__ = (
        Index("ix_executions_company_created", "company_id", "created_at"),
        Index("ix_executions_guard", "runbook_slug", "asset_id", "created_at"),
        Index("ix_executions_status", "status"),
    )

    id: Mapped[str] = mapped_column(IdType, primary_key=True, default=new_id)
    company_id: Mapped[str] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"), index=True)
    incident_id: Mapped[str | None] = mapped_column(ForeignKey("incidents.id", ondelete="SET NULL"), index=True,
                                                    default=None)
    decision_id: Mapped[str | None] = mapped_column(IdType, default=None)
    runbook_id: Mapped[str] = mapped_column(ForeignKey("runbooks.id", ondelete="CASCADE"))
    runbook_version_id: Mapped[str] = mapped_column(ForeignKey("runbook_versions.id", ondelete="CASCADE"))
    runbook_slug: Mapped[str] = mapped_column(String(80))
    runbook_version: Mapped[int] = mapped_column(Integer)
    runbook_title: Mapped[str] = mapped_column(String(200), default="")
    risk: Mapped[str] = mapped_column(String(10))
    params: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    asset_id: Mapped[str | None] = mapped_column(ForeignKey("assets.id", ondelete="SET NULL"), default=None)
    asset_name: Mapped[str] = mapped_column(String(255), default="")
    target: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)  # {asset_id, executor, host, port, ...}
    binding_hash: Mapped[str] = mapped_column(String(64))
    trigger: Mapped[str] = mapped_column(String(10), default="auto")  # auto | manual
    requested_by_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), default=None)
    requested_by_name: Mapped[str] = mapped_column(String(200), default="system")
    approval_required: Mapped[bool] = mapped_column(Boolean, default=False)
    approver_role: Mapped[str] = mapped_column(String(20), default="")  # "" | company_admin | msp_admin
    status: Mapped[str] = mapped_column(String(20))
    status_reason: Mapped[str] = mapped_column(Text, default="")
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)  # the approval's deadline
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    exit_code: Mapped[int | None] = mapped_column(Integer, default=None)
    stdout: Mapped[str] = mapped_column(Text, default="")
    stderr: Mapped[str] = mapped_column(Text, default="")
    truncated: Mapped[bool] = mapped_column(Boolean, default=False)
    duration_ms: Mapped[int | None] = mapped_column(Integer, default=None)
    external_id: Mapped[str] = mapped_column(String(128), default="")  # e.g. the SSM command id
    health: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)  # {status, kind, detail, checked_at}
    rollback: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)  # {status, exit_code, stdout, ...}
    outcome: Mapped[str] = mapped_column(String(20), default="")


class Approval(Base):
    """The one approve/reject answer to an execution request (unique per execution: at most one run each)."""

    __tablename__ = "execution_approvals"

    id: Mapped[str] = mapped_column(IdType, primary_key=True, default=new_id)
    execution_id: Mapped[str] = mapped_column(ForeignKey("executions.id", ondelete="CASCADE"), unique=True)
    company_id: Mapped[str] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"), index=True)
    decision: Mapped[str] = mapped_column(String(10))  # approved | rejected
    user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), default=None)
    user_name: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[str] = mapped_column(String(20), default="")
    note: Mapped[str] = mapped_column(Text, default="")
    binding_hash: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ExecutionChunk(Base):
    """A piece of an execution's output as it arrived (the live view loads these, then follows live events)."""

    __tablename__ = "execution_output"
    __table_args__ = (Index("ix_execution_output_execution_seq", "execution_id", "seq"),)

    id: Mapped[str] = mapped_column(IdType, primary_key=True, default=new_id)
    execution_id: Mapped[str] = mapped_column(ForeignKey("executions.id", ondelete="CASCADE"))
    company_id: Mapped[str] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    stream: Mapped[str] = mapped_column(String(8))  # stdout | stderr | system
    text: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PatchState(Base):
    """An asset's patch compliance from its last scan (AWS Patch Manager, or apt/dnf over SSH)."""

    __tablename__ = "patch_states"

    asset_id: Mapped[str] = mapped_column(ForeignKey("assets.id", ondelete="CASCADE"), primary_key=True)
    company_id: Mapped[str] = mapped_column(ForeignKey("companies.id", ondelete="CASCADE"), index=True)
    source: Mapped[str] = mapped_column(String(10))  # ssm | apt | dnf
    installed: Mapped[int] = mapped_column(Integer, default=0)
    missing: Mapped[int] = mapped_column(Integer, default=0)
    critical: Mapped[int] = mapped_column(Integer, default=0)  # missing patches classified critical
    security: Mapped[int] = mapped_column(Integer, default=0)  # missing security patches
    failed: Mapped[int] = mapped_column(Integer, default=0)
    details: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)  # packages, baseline, operation...
    scanned_at: Mapped[datetime] = mapped_column(UTCDateTime)
    error: Mapped[str] = mapped_column(Text, default="")  # the last scan's failure (counts kept from before)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
