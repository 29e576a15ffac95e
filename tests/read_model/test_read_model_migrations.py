"""The read model's migrations: they create exactly the tables' metadata, keep what an older
schema recorded, and `python -m readmodel.migrate` prints one line."""

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlmodel import SQLModel

from readmodel.database import make_engine, session_scope
from readmodel.migrate import alembic_config, current_revision, head_revision, upgrade
from readmodel.tables import SentEmail

PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent


def test_migrations_create_exactly_the_metadata(database_url):
    assert current_revision(database_url) is None
    assert upgrade(database_url) == head_revision()
    assert upgrade(database_url) == head_revision()  # a second run is a no-op
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
            tables = set(inspect(conn).get_table_names())
    finally:
        engine.dispose()
    assert diff == []
    assert tables == set(SQLModel.metadata.tables) | {"alembic_version"}


def test_emails_recorded_before_0003_stay_sent_and_downgrade_keeps_only_sent(database_url):
    """A council upgrading keeps its record of what was sent: retries must still find it."""
    assert upgrade(database_url, "0002") == "0002"
    at = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)
    engine = make_engine(database_url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO sent_emails (idempotency_key, case_ref, template, message_id, via, sent_at) "
                    "VALUES ('k-old', 'MN-26-000001', 'review_invitation', '<old@casework>', 'smtp', :at)"
                ),
                {"at": at},
            )
        assert upgrade(database_url) == head_revision()
        with session_scope(engine) as session:
            row = session.get(SentEmail, "k-old")
            assert (row.status, row.via, row.message_id) == ("sent", "smtp", "<old@casework>")
            assert row.sent_at is not None and row.sent_at.replace(tzinfo=UTC) == at
            session.add(SentEmail(idempotency_key="k-new", case_ref="MN-26-000001", template="t",
                                  message_id="<new@casework>", via="smtp", status="handing_over"))
        command.downgrade(alembic_config(database_url), "0002")
        with engine.connect() as conn:
            keys = conn.execute(text("SELECT idempotency_key FROM sent_emails")).scalars().all()
        assert keys == ["k-old"]  # a message never confirmed sent is not passed off as sent
    finally:
        engine.dispose()


def test_migrate_command_prints_one_line(tmp_path):
    db = tmp_path / "nested" / "dir" / "casework.db"
    env = {**os.environ, "CASEWORK_DATABASE_URL": f"sqlite:///{db}", "CASEWORK_ENVIRONMENT": "test"}
    done = subprocess.run(
        [sys.executable, "-m", "readmodel.migrate"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1 and head_revision() in lines[0] and str(db) in lines[0]
    assert db.is_file()
