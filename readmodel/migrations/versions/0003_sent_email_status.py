"""An outgoing email records how far it got: claimed, being handed to the mail server, or sent.

Before this revision a `sent_emails` row was written only once the mail server had accepted the
message (inside a transaction held open while the message was transmitted). Now each step commits on
its own (activities/email.py): a retry that finds a message left half-handed-over by a dead worker
no longer sends it again, and no database lock is held while a slow mail server reads the message.
Existing rows were all accepted messages: they become `sent`.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 07:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sent_emails", schema=None) as batch_op:
        batch_op.add_column(sa.Column("status", sa.String(length=16), server_default="sent", nullable=False))
        batch_op.add_column(sa.Column("attempt_token", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("status_changed_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.alter_column("sent_at", existing_type=sa.DateTime(timezone=True), nullable=True)


def downgrade() -> None:
    # Messages never confirmed as sent cannot be described by the old table (a row meant "sent").
    op.execute(sa.text("DELETE FROM sent_emails WHERE status <> 'sent'"))
    with op.batch_alter_table("sent_emails", schema=None) as batch_op:
        batch_op.alter_column("sent_at", existing_type=sa.DateTime(timezone=True), nullable=False)
        batch_op.drop_column("status_changed_at")
        batch_op.drop_column("attempt_token")
        batch_op.drop_column("status")
