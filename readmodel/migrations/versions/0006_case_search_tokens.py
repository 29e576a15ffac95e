"""The blind index that finds a child by name, UPN or date of birth (`case_search_tokens`): keyed
hashes only, never the values. A case open before this revision is indexed the next time it changes.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 15:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "case_search_tokens",
        sa.Column("case_ref", sa.String(length=20), nullable=False),
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("school_urn", sa.String(length=6), nullable=False),
        sa.PrimaryKeyConstraint("case_ref", "token"),
    )
    with op.batch_alter_table("case_search_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_case_search_tokens_school_urn"), ["school_urn"], unique=False)
        batch_op.create_index(batch_op.f("ix_case_search_tokens_token"), ["token"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("case_search_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_case_search_tokens_token"))
        batch_op.drop_index(batch_op.f("ix_case_search_tokens_school_urn"))
    op.drop_table("case_search_tokens")
