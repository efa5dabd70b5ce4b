"""Add the scheduling tables and columns.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04

Columns added to existing tables that are NOT NULL get a server default, so
that rows written before this revision stay valid on SQLite and PostgreSQL.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "notices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("study_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("platform", sa.String(), nullable=False),
        sa.Column("recipient_kind", sa.String(), nullable=False),
        sa.Column("recipient_id", sa.String(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("dedupe_key", sa.String(), nullable=True),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(), nullable=True),
        sa.Column("claimed_by", sa.String(), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sending_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["study_id"], ["studies.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("notices", schema=None) as batch_op:
        batch_op.create_index("ix_notices_dedupe_key", ["dedupe_key"], unique=True)
        batch_op.create_index(
            "ix_notices_status_due", ["status", "due_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_notices_study_id"), ["study_id"], unique=False
        )

    op.create_table(
        "recurring_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("study_id", sa.Integer(), nullable=False),
        sa.Column("scheduled_for", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("invited", sa.Integer(), nullable=False),
        sa.Column("skipped_fire_times", sa.Integer(), nullable=False),
        sa.Column("worker", sa.String(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["study_id"], ["studies.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("study_id", "scheduled_for", name="uq_recurring_run"),
    )
    with op.batch_alter_table("recurring_runs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_recurring_runs_study_id"), ["study_id"], unique=False
        )

    op.create_table(
        "recurring_schedules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("study_id", sa.Integer(), nullable=False),
        sa.Column("cron", sa.String(), nullable=False),
        sa.Column("audience", sa.String(), nullable=False),
        sa.Column("resolved_within_days", sa.Integer(), nullable=True),
        sa.Column("segment", sa.String(), nullable=True),
        sa.Column("template", sa.Text(), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["study_id"], ["studies.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("study_id", name="uq_recurring_schedule_study"),
    )

    with op.batch_alter_table("invitations", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "reminder_number", sa.Integer(), nullable=False, server_default="0"
            )
        )
        batch_op.add_column(
            sa.Column("template_data", sa.JSON(), nullable=False, server_default="{}")
        )
        batch_op.add_column(sa.Column("dedupe_key", sa.String(), nullable=True))
        batch_op.add_column(sa.Column("status_reason", sa.String(), nullable=True))
        batch_op.add_column(
            sa.Column("sending_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.create_index("ix_invitations_dedupe_key", ["dedupe_key"], unique=True)

    with op.batch_alter_table("studies", schema=None) as batch_op:
        batch_op.add_column(sa.Column("time_zone", sa.String(), nullable=True))
        batch_op.add_column(sa.Column("team_platform", sa.String(), nullable=True))
        batch_op.add_column(
            sa.Column("digest_mode", sa.String(), nullable=False, server_default="off")
        )
        batch_op.add_column(sa.Column("digest_cron", sa.String(), nullable=True))
        batch_op.add_column(
            sa.Column("digest_since", sa.DateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    # Plain DROP COLUMN instead of batch mode: a batch recreates the studies
    # table, which SQLite refuses while participants reference it and
    # foreign keys are on. SQLite supports DROP COLUMN from 3.35, the same
    # version that the dispatcher's UPDATE ... RETURNING needs.
    for column in (
        "digest_since",
        "digest_cron",
        "digest_mode",
        "team_platform",
        "time_zone",
    ):
        op.drop_column("studies", column)

    op.drop_index("ix_invitations_dedupe_key", table_name="invitations")
    for column in (
        "sending_at",
        "status_reason",
        "dedupe_key",
        "template_data",
        "reminder_number",
    ):
        op.drop_column("invitations", column)

    op.drop_table("recurring_schedules")
    op.drop_index(op.f("ix_recurring_runs_study_id"), table_name="recurring_runs")
    op.drop_table("recurring_runs")
    op.drop_index(op.f("ix_notices_study_id"), table_name="notices")
    op.drop_index("ix_notices_status_due", table_name="notices")
    op.drop_index("ix_notices_dedupe_key", table_name="notices")
    op.drop_table("notices")
