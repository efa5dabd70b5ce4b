"""Allow at most one open interview per participant.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04

Two processes starting an interview for the same participant at the same
moment could both insert one; a partial unique index over the open
statuses makes the database refuse the second.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN = "status IN ('active', 'paused')"


def upgrade() -> None:
    op.create_index(
        "uq_interviews_open_participant",
        "interviews",
        ["participant_id"],
        unique=True,
        sqlite_where=sa.text(OPEN),
        postgresql_where=sa.text(OPEN),
    )


def downgrade() -> None:
    op.drop_index("uq_interviews_open_participant", table_name="interviews")
