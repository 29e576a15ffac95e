"""Erasure tombstones keep dates only to the month, plus the stage reached and the recoupment total.

The retention sweep (workflows/retention_sweep.py) erases a closed case past its retention date and
leaves one non-identifying row in `erasure_tombstones`. Exact opening and closing dates narrow down
who a case was about, so they become `opened_month` / `closed_month` (`YYYY-MM`). Rows written
before this revision (none are expected: nothing wrote tombstones before the sweep existed) are
converted, not lost. `cases.retain_until` already exists since 0001.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 04:02:35.524386
"""

from collections.abc import Sequence
from datetime import date

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _month(value: object) -> str | None:
    """`YYYY-MM` of a date as the driver returns it (a date on PostgreSQL, a string on SQLite)."""
    return None if value is None else str(value)[:7]


def _first_of(month: str | None) -> date | None:
    return None if month is None else date.fromisoformat(f"{month}-01")


def upgrade() -> None:
    with op.batch_alter_table("erasure_tombstones", schema=None) as batch_op:
        batch_op.add_column(sa.Column("stage_reached", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("opened_month", sa.String(length=7), nullable=True))
        batch_op.add_column(sa.Column("closed_month", sa.String(length=7), nullable=True))
        batch_op.add_column(sa.Column("recoupment_total", sa.Numeric(precision=12, scale=2), nullable=True))

    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT case_ref, opened_on, closed_on FROM erasure_tombstones")).all()
    for case_ref, opened_on, closed_on in rows:
        bind.execute(
            sa.text(
                "UPDATE erasure_tombstones SET stage_reached = 'closed', recoupment_total = 0, "
                "opened_month = :opened, closed_month = :closed WHERE case_ref = :ref"
            ),
            {"opened": _month(opened_on), "closed": _month(closed_on), "ref": case_ref},
        )

    with op.batch_alter_table("erasure_tombstones", schema=None) as batch_op:
        batch_op.alter_column("stage_reached", existing_type=sa.String(length=32), nullable=False)
        batch_op.alter_column("opened_month", existing_type=sa.String(length=7), nullable=False)
        batch_op.alter_column(
            "recoupment_total", existing_type=sa.Numeric(precision=12, scale=2), nullable=False
        )
        batch_op.drop_column("closed_on")
        batch_op.drop_column("opened_on")


def downgrade() -> None:
    with op.batch_alter_table("erasure_tombstones", schema=None) as batch_op:
        batch_op.add_column(sa.Column("opened_on", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("closed_on", sa.Date(), nullable=True))

    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT case_ref, opened_month, closed_month FROM erasure_tombstones")).all()
    for case_ref, opened_month, closed_month in rows:
        bind.execute(
            sa.text("UPDATE erasure_tombstones SET opened_on = :opened, closed_on = :closed WHERE case_ref = :ref"),
            {
                "opened": _first_of(opened_month),
                "closed": _first_of(closed_month),
                "ref": case_ref,
            },
        )

    with op.batch_alter_table("erasure_tombstones", schema=None) as batch_op:
        batch_op.alter_column("opened_on", existing_type=sa.Date(), nullable=False)
        batch_op.drop_column("recoupment_total")
        batch_op.drop_column("closed_month")
        batch_op.drop_column("opened_month")
        batch_op.drop_column("stage_reached")
