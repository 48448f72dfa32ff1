"""correlation

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 15:13:39.572742
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "correlation_states",
        sa.Column("company_id", sa.String(length=32), nullable=False),
        sa.Column("calls", sa.Integer(), nullable=False),
        sa.Column("data", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"],
            ["companies.id"],
            name=op.f("fk_correlation_states_company_id_companies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("company_id", name=op.f("pk_correlation_states")),
    )
    op.create_table(
        "incidents",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("company_id", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("merged_into", sa.String(length=32), nullable=True),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("symptom", sa.String(length=100), nullable=False),
        sa.Column("symptoms", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
        sa.Column("severity", sa.String(length=10), nullable=False),
        sa.Column("key", sa.String(length=600), nullable=False),
        sa.Column("root_asset_key", sa.String(length=300), nullable=False),
        sa.Column("root_asset_name", sa.String(length=300), nullable=False),
        sa.Column("asset_keys", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
        sa.Column("tools", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolves_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("time_to_resolve_seconds", sa.Float(), nullable=True),
        sa.Column("alert_count", sa.Integer(), nullable=False),
        sa.Column("duplicate_count", sa.Integer(), nullable=False),
        sa.Column("reopen_count", sa.Integer(), nullable=False),
        sa.Column("flapping", sa.Boolean(), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("priority_breakdown", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
        sa.Column("explanation", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_incidents_company_id_companies"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incidents")),
    )
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.create_index("ix_incidents_company_priority", ["company_id", "priority"], unique=False)
        batch_op.create_index("ix_incidents_company_status", ["company_id", "status"], unique=False)

    op.create_table(
        "incident_alerts",
        sa.Column("incident_id", sa.String(length=32), nullable=False),
        sa.Column("alert_id", sa.String(length=32), nullable=False),
        sa.Column("company_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("explanation", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
        sa.Column("joined_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["alert_id"], ["alerts.id"], name=op.f("fk_incident_alerts_alert_id_alerts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_incident_alerts_company_id_companies"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incidents.id"], name=op.f("fk_incident_alerts_incident_id_incidents"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("incident_id", "alert_id", name=op.f("pk_incident_alerts")),
    )
    with op.batch_alter_table("incident_alerts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_incident_alerts_alert_id"), ["alert_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_incident_alerts_company_id"), ["company_id"], unique=False)
        batch_op.create_index("ix_incident_alerts_incident_joined", ["incident_id", "joined_at"], unique=False)

    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("outcome", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("incident_id", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("decision_reason", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("correlation_seq", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("opened_incident_id", sa.String(length=32), nullable=True))
        batch_op.create_index("ix_alerts_company_correlation_seq", ["company_id", "correlation_seq"], unique=False)
        batch_op.create_index(batch_op.f("ix_alerts_incident_id"), ["incident_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_alerts_incident_id"))
        batch_op.drop_index("ix_alerts_company_correlation_seq")
        batch_op.drop_column("opened_incident_id")
        batch_op.drop_column("correlation_seq")
        batch_op.drop_column("decision_reason")
        batch_op.drop_column("incident_id")
        batch_op.drop_column("outcome")

    with op.batch_alter_table("incident_alerts", schema=None) as batch_op:
        batch_op.drop_index("ix_incident_alerts_incident_joined")
        batch_op.drop_index(batch_op.f("ix_incident_alerts_company_id"))
        batch_op.drop_index(batch_op.f("ix_incident_alerts_alert_id"))

    op.drop_table("incident_alerts")
    with op.batch_alter_table("incidents", schema=None) as batch_op:
        batch_op.drop_index("ix_incidents_company_status")
        batch_op.drop_index("ix_incidents_company_priority")

    op.drop_table("incidents")
    op.drop_table("correlation_states")
