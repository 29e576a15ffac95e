"""Initial read model: every table in readmodel/tables.py.

Kept in step with the metadata by tests/read_model/test_read_model_migrations.py (upgrade head, then compare_metadata: no diff).

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-28 15:19:58.713794
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "access_records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_role", sa.String(length=20), nullable=False),
        sa.Column("actor_name", sa.String(length=100), nullable=False),
        sa.Column("case_ref", sa.String(length=20), nullable=False),
        sa.Column("what", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("access_records", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_access_records_at"), ["at"], unique=False)
        batch_op.create_index(batch_op.f("ix_access_records_case_ref"), ["case_ref"], unique=False)

    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("school_urns", sa.String(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_keys_name"), ["name"], unique=True)
        batch_op.create_index(batch_op.f("ix_api_keys_token_hash"), ["token_hash"], unique=True)

    op.create_table(
        "cases",
        sa.Column("case_ref", sa.String(length=20), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("school_urn", sa.String(length=6), nullable=False),
        sa.Column("stage", sa.String(length=32), nullable=False),
        sa.Column("officer", sa.String(length=64), nullable=True),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("first_day_of_absence", sa.Date(), nullable=False),
        sa.Column("threshold_date", sa.Date(), nullable=True),
        sa.Column("provision_started_on", sa.Date(), nullable=True),
        sa.Column("next_deadline", sa.Date(), nullable=True),
        sa.Column("overdue", sa.Boolean(), nullable=False),
        sa.Column("stalled", sa.Boolean(), nullable=False),
        sa.Column("last_progress_on", sa.Date(), nullable=False),
        sa.Column("provision_kinds", sa.String(), nullable=False),
        sa.Column("close_outcome", sa.String(), nullable=True),
        sa.Column("closed_on", sa.Date(), nullable=True),
        sa.Column("child_key", sa.String(length=64), nullable=False),
        sa.Column("personal", sa.LargeBinary(), nullable=False),
        sa.Column("retain_until", sa.Date(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("case_ref"),
    )
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cases_child_key"), ["child_key"], unique=False)
        batch_op.create_index(batch_op.f("ix_cases_next_deadline"), ["next_deadline"], unique=False)
        batch_op.create_index(batch_op.f("ix_cases_officer"), ["officer"], unique=False)
        batch_op.create_index(batch_op.f("ix_cases_overdue"), ["overdue"], unique=False)
        batch_op.create_index(batch_op.f("ix_cases_school_urn"), ["school_urn"], unique=False)
        batch_op.create_index(batch_op.f("ix_cases_stage"), ["stage"], unique=False)
        batch_op.create_index(batch_op.f("ix_cases_stalled"), ["stalled"], unique=False)

    op.create_table(
        "documents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("doc_ref", sa.String(length=80), nullable=False),
        sa.Column("case_ref", sa.String(length=20), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("stored_by", sa.String(length=100), nullable=False),
        sa.Column("stored_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("case_ref", "doc_ref"),
    )
    with op.batch_alter_table("documents", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_documents_case_ref"), ["case_ref"], unique=False)
        batch_op.create_index(batch_op.f("ix_documents_doc_ref"), ["doc_ref"], unique=False)

    op.create_table(
        "erasure_tombstones",
        sa.Column("case_ref", sa.String(length=20), nullable=False),
        sa.Column("school_urn", sa.String(length=6), nullable=False),
        sa.Column("opened_on", sa.Date(), nullable=False),
        sa.Column("closed_on", sa.Date(), nullable=True),
        sa.Column("close_outcome", sa.String(), nullable=True),
        sa.Column("provision_kinds", sa.String(), nullable=False),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("case_ref"),
    )
    op.create_table(
        "idempotency_keys",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("api_key_name", sa.String(length=100), nullable=False),
        sa.Column("case_ref", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", "api_key_name"),
    )
    op.create_table(
        "ledger_entries",
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column("case_ref", sa.String(length=20), nullable=False),
        sa.Column("school_urn", sa.String(length=6), nullable=False),
        sa.Column("period", sa.String(length=40), nullable=False),
        sa.Column("from_date", sa.Date(), nullable=False),
        sa.Column("to_date", sa.Date(), nullable=False),
        sa.Column("school_days", sa.Integer(), nullable=False),
        sa.Column("key_stage", sa.String(length=10), nullable=False),
        sa.Column("amount", sa.Numeric(precision=12, scale=2), nullable=False),
        sa.Column("posted_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("idempotency_key"),
    )
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ledger_entries_case_ref"), ["case_ref"], unique=False)
        batch_op.create_index(batch_op.f("ix_ledger_entries_period"), ["period"], unique=False)
        batch_op.create_index(batch_op.f("ix_ledger_entries_school_urn"), ["school_urn"], unique=False)

    op.create_table(
        "sent_emails",
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column("case_ref", sa.String(length=20), nullable=False),
        sa.Column("template", sa.String(length=40), nullable=False),
        sa.Column("message_id", sa.String(length=200), nullable=False),
        sa.Column("via", sa.String(length=10), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("idempotency_key"),
    )
    with op.batch_alter_table("sent_emails", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sent_emails_case_ref"), ["case_ref"], unique=False)

    op.create_table(
        "tasks",
        sa.Column("case_ref", sa.String(length=20), nullable=False),
        sa.Column("task_id", sa.String(length=100), nullable=False),
        sa.Column("school_urn", sa.String(length=6), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("assignee_role", sa.String(length=20), nullable=False),
        sa.Column("assignee", sa.String(length=64), nullable=True),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("overdue", sa.Boolean(), nullable=False),
        sa.Column("escalated", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("case_ref", "task_id"),
    )
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tasks_assignee"), ["assignee"], unique=False)
        batch_op.create_index(batch_op.f("ix_tasks_assignee_role"), ["assignee_role"], unique=False)
        batch_op.create_index(batch_op.f("ix_tasks_due_on"), ["due_on"], unique=False)
        batch_op.create_index(batch_op.f("ix_tasks_overdue"), ["overdue"], unique=False)
        batch_op.create_index(batch_op.f("ix_tasks_school_urn"), ["school_urn"], unique=False)

    op.create_table(
        "timeline_events",
        sa.Column("case_ref", sa.String(length=20), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_role", sa.String(length=20), nullable=False),
        sa.Column("actor_name", sa.String(length=100), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("summary", sa.String(length=500), nullable=False),
        sa.PrimaryKeyConstraint("case_ref", "seq"),
    )
    with op.batch_alter_table("timeline_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_timeline_events_at"), ["at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("timeline_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_timeline_events_at"))

    op.drop_table("timeline_events")
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tasks_school_urn"))
        batch_op.drop_index(batch_op.f("ix_tasks_overdue"))
        batch_op.drop_index(batch_op.f("ix_tasks_due_on"))
        batch_op.drop_index(batch_op.f("ix_tasks_assignee_role"))
        batch_op.drop_index(batch_op.f("ix_tasks_assignee"))

    op.drop_table("tasks")
    with op.batch_alter_table("sent_emails", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sent_emails_case_ref"))

    op.drop_table("sent_emails")
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ledger_entries_school_urn"))
        batch_op.drop_index(batch_op.f("ix_ledger_entries_period"))
        batch_op.drop_index(batch_op.f("ix_ledger_entries_case_ref"))

    op.drop_table("ledger_entries")
    op.drop_table("idempotency_keys")
    op.drop_table("erasure_tombstones")
    with op.batch_alter_table("documents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_documents_doc_ref"))
        batch_op.drop_index(batch_op.f("ix_documents_case_ref"))

    op.drop_table("documents")
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cases_stalled"))
        batch_op.drop_index(batch_op.f("ix_cases_stage"))
        batch_op.drop_index(batch_op.f("ix_cases_school_urn"))
        batch_op.drop_index(batch_op.f("ix_cases_overdue"))
        batch_op.drop_index(batch_op.f("ix_cases_officer"))
        batch_op.drop_index(batch_op.f("ix_cases_next_deadline"))
        batch_op.drop_index(batch_op.f("ix_cases_child_key"))

    op.drop_table("cases")
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_keys_token_hash"))
        batch_op.drop_index(batch_op.f("ix_api_keys_name"))

    op.drop_table("api_keys")
    with op.batch_alter_table("access_records", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_access_records_case_ref"))
        batch_op.drop_index(batch_op.f("ix_access_records_at"))

    op.drop_table("access_records")
