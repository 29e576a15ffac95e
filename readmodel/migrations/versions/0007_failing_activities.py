"""Activities of a case that keep failing (`failing_activities`), as the worker records them for the
supervisor's "Technically stuck" list: what and why in the users' words, no personal data.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 18:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "failing_activities",
        sa.Column("case_ref", sa.String(length=20), nullable=False),
        sa.Column("activity_id", sa.String(length=100), nullable=False),
        sa.Column("activity", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_failed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("case_ref", "activity_id"),
    )
    with op.batch_alter_table("failing_activities", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_failing_activities_last_failed_at"), ["last_failed_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("failing_activities", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_failing_activities_last_failed_at"))
    op.drop_table("failing_activities")
