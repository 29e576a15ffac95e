"""Alembic environment for the read model: the target is `SQLModel.metadata` from `readmodel.tables`.

The database URL comes from, in order: `config.attributes["database_url"]` (set by
`readmodel.migrate`), `sqlalchemy.url` in the ini file, then the service settings. A caller may also
hand over an open connection in `config.attributes["connection"]`. SQLite runs in batch mode so that
later ALTERs work there too."""

from typing import Any

from alembic import context
from sqlmodel import SQLModel
from sqlmodel.sql.sqltypes import AutoString, UTCDateTime

import readmodel.tables  # noqa: F401 - registers every table on SQLModel.metadata
from readmodel.database import is_unavailable, make_engine, unavailable_from

config = context.config
target_metadata = SQLModel.metadata


def _database_url() -> str:
    url = config.attributes.get("database_url") or config.get_main_option("sqlalchemy.url")
    if url:
        return str(url)
    from infra.settings import load_settings

    return load_settings().database_url


def _render_item(type_: str, obj: Any, autogen_context: Any) -> str | bool:
    """Render SQLModel's own types as plain SQLAlchemy ones so revisions do not import sqlmodel."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    if type_ == "type" and isinstance(obj, AutoString):
        return f"sa.String(length={obj.length})" if obj.length else "sa.String()"
    return False


def _configure(**kwargs: Any) -> None:
    context.configure(
        target_metadata=target_metadata,
        compare_type=True,
        render_item=_render_item,
        **kwargs,
    )


def run_migrations_offline() -> None:
    url = _database_url()
    _configure(
        url=url,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        render_as_batch=url.startswith("sqlite"),
    )
    with context.begin_transaction():
        context.run_migrations()


def _run_with(connection: Any) -> None:
    _configure(connection=connection, render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run_with(connection)
        return
    url = _database_url()
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            _run_with(conn)
            conn.commit()
    except Exception as exc:
        if is_unavailable(exc):
            raise unavailable_from(exc, engine) from exc
        raise
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
