"""Bring the read-model schema up to date.

`upgrade(database_url)` runs every Alembic revision up to head; `python -m readmodel.migrate`
does it for the configured database (`CASEWORK_DATABASE_URL`) and prints one line."""

import sys
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from readmodel.database import ReadModelUnavailable, make_engine, safe_url

HERE = Path(__file__).resolve().parent
ALEMBIC_INI = HERE / "alembic.ini"
MIGRATIONS_DIR = HERE / "migrations"


def alembic_config(database_url: str) -> Config:
    """An Alembic config for the read model pointed at `database_url` (no ini file needed)."""
    config = Config(str(ALEMBIC_INI)) if ALEMBIC_INI.is_file() else Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["database_url"] = database_url
    return config


def head_revision() -> str:
    """The newest revision the code ships."""
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    if head is None:
        raise RuntimeError(f"no migrations found in {MIGRATIONS_DIR}")
    return head


def current_revision(database_url: str) -> str | None:
    """The revision the database is at, or None if it has never been migrated."""
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def upgrade(database_url: str, revision: str = "head") -> str:
    """Apply the migrations up to `revision`; returns the revision the database is now at.

    Raises `ReadModelUnavailable` when the database cannot be reached."""
    command.upgrade(alembic_config(database_url), revision)
    return current_revision(database_url) or "base"


def main() -> int:
    from infra.settings import load_settings

    url = load_settings().database_url
    try:
        now_at = upgrade(url)
    except ReadModelUnavailable as exc:
        print(f"read model migration failed: {exc}", file=sys.stderr)
        return 1
    print(f"read model {safe_url(url)} is at revision {now_at} (head)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
