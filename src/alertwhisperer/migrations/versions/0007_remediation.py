"""remediation

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 23:36:12.582579
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "remediation_credentials",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("company_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("username", sa.String(length=120), nullable=False),
        sa.Column("secret_encrypted", sa.Text(), nullable=False),
        sa.Column("public_data", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["companies.id"],
            name=op.f("fk_remediation_credentials_company_id_companies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_remediation_credentials")),
        sa.UniqueConstraint("company_id", "name", name="uq_remediation_credentials_company_name"),
    )
    with op.batch_alter_table("remediation_credentials", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_remediation_credentials_company_id"), ["company_id"], unique=False)

    op.create_table(
        "runbooks",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("scope", sa.String(length=36), nullable=False),
        sa.Column("company_id", sa.String(length=32), nullable=True),
        sa.Column("slug", sa.String(length=80), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("risk", sa.String(length=10), nullable=False),
        sa.Column("category", sa.String(length=60), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("builtin", sa.Boolean(), nullable=False),
        sa.Column("current_version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_runbooks_company_id_companies"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_runbooks")),
        sa.UniqueConstraint("scope", "slug", name="uq_runbooks_scope_slug"),
    )
    with op.batch_alter_table("runbooks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_runbooks_company_id"), ["company_id"], unique=False)

    op.create_table(
        "asset_access",
        sa.Column("asset_id", sa.String(length=32), nullable=False),
        sa.Column("company_id", sa.String(length=32), nullable=False),
        sa.Column("executor", sa.String(length=10), nullable=False),
        sa.Column("os", sa.String(length=10), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column("credential_id", sa.String(length=32), nullable=True),
        sa.Column("known_hosts", sa.Text(), nullable=False),
        sa.Column("sudo", sa.Boolean(), nullable=False),
        sa.Column("region", sa.String(length=40), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["asset_id"], ["assets.id"], name=op.f("fk_asset_access_asset_id_assets"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_asset_access_company_id_companies"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["credential_id"],
            ["remediation_credentials.id"],
            name=op.f("fk_asset_access_credential_id_remediation_credentials"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("asset_id", name=op.f("pk_asset_access")),
    )
    with op.batch_alter_table("asset_access", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_asset_access_company_id"), ["company_id"], unique=False)

    op.create_table(
        "patch_states",
        sa.Column("asset_id", sa.String(length=32), nullable=False),
        sa.Column("company_id", sa.String(length=32), nullable=False),
        sa.Column("source", sa.String(length=10), nullable=False),
        sa.Column("installed", sa.Integer(), nullable=False),
        sa.Column("missing", sa.Integer(), nullable=False),
        sa.Column("critical", sa.Integer(), nullable=False),
        sa.Column("security", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("details", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
        sa.Column("scanned_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["asset_id"], ["assets.id"], name=op.f("fk_patch_states_asset_id_assets"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_patch_states_company_id_companies"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("asset_id", name=op.f("pk_patch_states")),
    )
    with op.batch_alter_table("patch_states", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_patch_states_company_id"), ["company_id"], unique=False)

    op.create_table(
        "remediation_decisions",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("company_id", sa.String(length=32), nullable=False),
        sa.Column("incident_id", sa.String(length=32), nullable=False),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("runbook_id", sa.String(length=32), nullable=True),
        sa.Column("runbook_version", sa.Integer(), nullable=True),
        sa.Column("reasons", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
        sa.Column("candidates", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
        sa.Column("advisor", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
        sa.Column("execution_id", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["companies.id"],
            name=op.f("fk_remediation_decisions_company_id_companies"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incidents.id"],
            name=op.f("fk_remediation_decisions_incident_id_incidents"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["runbook_id"],
            ["runbooks.id"],
            name=op.f("fk_remediation_decisions_runbook_id_runbooks"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_remediation_decisions")),
    )
    with op.batch_alter_table("remediation_decisions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_remediation_decisions_company_id"), ["company_id"], unique=False)
        batch_op.create_index("ix_remediation_decisions_incident", ["incident_id", "created_at"], unique=False)

    op.create_table(
        "runbook_versions",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("runbook_id", sa.String(length=32), nullable=False),
        sa.Column("company_id", sa.String(length=32), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("yaml", sa.Text(), nullable=False),
        sa.Column("spec", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
        sa.Column("spec_hash", sa.String(length=64), nullable=False),
        sa.Column("author_id", sa.String(length=32), nullable=True),
        sa.Column("author_name", sa.String(length=200), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["author_id"], ["users.id"], name=op.f("fk_runbook_versions_author_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_runbook_versions_company_id_companies"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["runbook_id"], ["runbooks.id"], name=op.f("fk_runbook_versions_runbook_id_runbooks"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_runbook_versions")),
        sa.UniqueConstraint("runbook_id", "version", name="uq_runbook_versions_runbook_version"),
    )
    with op.batch_alter_table("runbook_versions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_runbook_versions_runbook_id"), ["runbook_id"], unique=False)

    op.create_table(
        "executions",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("company_id", sa.String(length=32), nullable=False),
        sa.Column("incident_id", sa.String(length=32), nullable=True),
        sa.Column("decision_id", sa.String(length=32), nullable=True),
        sa.Column("runbook_id", sa.String(length=32), nullable=False),
        sa.Column("runbook_version_id", sa.String(length=32), nullable=False),
        sa.Column("runbook_slug", sa.String(length=80), nullable=False),
        sa.Column("runbook_version", sa.Integer(), nullable=False),
        sa.Column("runbook_title", sa.String(length=200), nullable=False),
        sa.Column("risk", sa.String(length=10), nullable=False),
        sa.Column("params", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
        sa.Column("asset_id", sa.String(length=32), nullable=True),
        sa.Column("asset_name", sa.String(length=255), nullable=False),
        sa.Column("target", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
        sa.Column("binding_hash", sa.String(length=64), nullable=False),
        sa.Column("trigger", sa.String(length=10), nullable=False),
        sa.Column("requested_by_id", sa.String(length=32), nullable=True),
        sa.Column("requested_by_name", sa.String(length=200), nullable=False),
        sa.Column("approval_required", sa.Boolean(), nullable=False),
        sa.Column("approver_role", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("status_reason", sa.Text(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("dispatched_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("exit_code", sa.Integer(), nullable=True),
        sa.Column("stdout", sa.Text(), nullable=False),
        sa.Column("stderr", sa.Text(), nullable=False),
        sa.Column("truncated", sa.Boolean(), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=True),
        sa.Column("external_id", sa.String(length=128), nullable=False),
        sa.Column("health", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
        sa.Column("rollback", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.ForeignKeyConstraint(
            ["asset_id"], ["assets.id"], name=op.f("fk_executions_asset_id_assets"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_executions_company_id_companies"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incidents.id"], name=op.f("fk_executions_incident_id_incidents"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["requested_by_id"], ["users.id"], name=op.f("fk_executions_requested_by_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["runbook_id"], ["runbooks.id"], name=op.f("fk_executions_runbook_id_runbooks"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["runbook_version_id"],
            ["runbook_versions.id"],
            name=op.f("fk_executions_runbook_version_id_runbook_versions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_executions")),
    )
    with op.batch_alter_table("executions", schema=None) as batch_op:
        batch_op.create_index("ix_executions_company_created", ["company_id", "created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_executions_company_id"), ["company_id"], unique=False)
        batch_op.create_index("ix_executions_guard", ["runbook_slug", "asset_id", "created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_executions_incident_id"), ["incident_id"], unique=False)
        batch_op.create_index("ix_executions_status", ["status"], unique=False)

    op.create_table(
        "execution_approvals",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("execution_id", sa.String(length=32), nullable=False),
        sa.Column("company_id", sa.String(length=32), nullable=False),
        sa.Column("decision", sa.String(length=10), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=True),
        sa.Column("user_name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("binding_hash", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["companies.id"],
            name=op.f("fk_execution_approvals_company_id_companies"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["execution_id"],
            ["executions.id"],
            name=op.f("fk_execution_approvals_execution_id_executions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_execution_approvals_user_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_execution_approvals")),
        sa.UniqueConstraint("execution_id", name=op.f("uq_execution_approvals_execution_id")),
    )
    with op.batch_alter_table("execution_approvals", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_execution_approvals_company_id"), ["company_id"], unique=False)

    op.create_table(
        "execution_output",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("execution_id", sa.String(length=32), nullable=False),
        sa.Column("company_id", sa.String(length=32), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("stream", sa.String(length=8), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_execution_output_company_id_companies"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["execution_id"],
            ["executions.id"],
            name=op.f("fk_execution_output_execution_id_executions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_execution_output")),
    )
    with op.batch_alter_table("execution_output", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_execution_output_company_id"), ["company_id"], unique=False)
        batch_op.create_index("ix_execution_output_execution_seq", ["execution_id", "seq"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("execution_output", schema=None) as batch_op:
        batch_op.drop_index("ix_execution_output_execution_seq")
        batch_op.drop_index(batch_op.f("ix_execution_output_company_id"))

    op.drop_table("execution_output")
    with op.batch_alter_table("execution_approvals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_execution_approvals_company_id"))

    op.drop_table("execution_approvals")
    with op.batch_alter_table("executions", schema=None) as batch_op:
        batch_op.drop_index("ix_executions_status")
        batch_op.drop_index(batch_op.f("ix_executions_incident_id"))
        batch_op.drop_index("ix_executions_guard")
        batch_op.drop_index(batch_op.f("ix_executions_company_id"))
        batch_op.drop_index("ix_executions_company_created")

    op.drop_table("executions")
    with op.batch_alter_table("runbook_versions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_runbook_versions_runbook_id"))

    op.drop_table("runbook_versions")
    with op.batch_alter_table("remediation_decisions", schema=None) as batch_op:
        batch_op.drop_index("ix_remediation_decisions_incident")
        batch_op.drop_index(batch_op.f("ix_remediation_decisions_company_id"))

    op.drop_table("remediation_decisions")
    with op.batch_alter_table("patch_states", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_patch_states_company_id"))

    op.drop_table("patch_states")
    with op.batch_alter_table("asset_access", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_asset_access_company_id"))

    op.drop_table("asset_access")
    with op.batch_alter_table("runbooks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_runbooks_company_id"))

    op.drop_table("runbooks")
    with op.batch_alter_table("remediation_credentials", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_remediation_credentials_company_id"))

    op.drop_table("remediation_credentials")
