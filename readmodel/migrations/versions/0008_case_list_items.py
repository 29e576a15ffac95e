"""A case's lists item by item (`case_list_items`), encrypted, so a command's answer need carry only
what it changed; the notes leave the `personal` blob (format 2), which holds only fixed-size fields.
A case open before this revision has its lists written the next time the case or the API writes it
whole (the API does so when it finds them missing).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 18:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "case_list_items",
        sa.Column("case_ref", sa.String(length=20), nullable=False),
        sa.Column("list_name", sa.String(length=32), nullable=False),
        sa.Column("idx", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("case_ref", "list_name", "idx"),
    )


def downgrade() -> None:
    op.drop_table("case_list_items")
