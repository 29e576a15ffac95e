"""Engines and sessions for the SQL read model (SQLite by default, PostgreSQL in production).

- `make_engine(url)` builds a configured engine: SQLite gets its folder created, WAL, foreign keys,
  a busy timeout and `check_same_thread=False` (the API and the worker's thread pool share it);
  PostgreSQL goes through psycopg 3 with `pool_pre_ping`, a connect timeout and sessions in UTC.
- `get_engine(url)` returns one cached engine per URL for the life of the process.
- `session_scope(engine)` is a unit of work: commit on success, roll back on error, and any
  "database unreachable" failure comes out as `ReadModelUnavailable` (the API answers 503, an
  activity lets it raise so Temporal retries).

SQL parameters are hidden from error messages and logs (`hide_parameters=True`): a failed statement
must never echo a row's contents. Datetimes in the read model are timezone-aware UTC (SQLModel's
`UTCDateTime`: timestamptz on PostgreSQL, whose sessions run in UTC); a naive datetime is refused.
"""

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import (
    DBAPIError,
    DisconnectionError,
    InterfaceError,
    OperationalError,
)
from sqlalchemy.exc import (
    TimeoutError as PoolTimeoutError,
)
from sqlmodel import Session

SQLITE_BUSY_TIMEOUT_MS = 15_000
POSTGRES_CONNECT_TIMEOUT_S = 5


class ReadModelUnavailable(Exception):
    """The read-model database cannot be reached (down, refusing connections, locked, timed out).

    The message names the database without its password and carries no row data."""


def safe_url(database_url: str | URL) -> str:
    """The URL as it may be shown in logs and messages: password hidden."""
    try:
        return make_url(database_url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - a malformed URL must still be printable
        return "<unparseable database url>"


def _normalise_url(database_url: str | URL) -> URL:
    url = make_url(database_url)
    if url.get_backend_name() == "postgresql" and url.get_driver_name() != "psycopg":
        # `postgresql://` and `postgresql+psycopg2://` both mean "PostgreSQL": we ship psycopg 3.
        url = url.set(drivername="postgresql+psycopg")
    return url


def _sqlite_file(url: URL) -> Path | None:
    db = url.database
    if not db or db == ":memory:" or db.startswith("file:"):
        return None
    return Path(db)


def make_engine(database_url: str | URL, **engine_kwargs: Any) -> Engine:
    """A new engine configured for the read model. Connecting is lazy: nothing is opened here."""
    url = _normalise_url(database_url)
    backend = url.get_backend_name()
    if backend == "sqlite":
        path = _sqlite_file(url)
        if path is not None:
            path.expanduser().parent.mkdir(parents=True, exist_ok=True)
        connect_args = {"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
        engine = create_engine(url, connect_args=connect_args, hide_parameters=True, **engine_kwargs)
        in_memory = path is None

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            try:
                if not in_memory:
                    cursor.execute("PRAGMA journal_mode=WAL")
                    cursor.execute("PRAGMA synchronous=NORMAL")
                cursor.execute("PRAGMA foreign_keys=ON")
                cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            finally:
                cursor.close()

        return engine

    if backend == "postgresql":
        connect_args = {"connect_timeout": POSTGRES_CONNECT_TIMEOUT_S}
        engine = create_engine(
            url,
            pool_pre_ping=True,
            connect_args=connect_args,
            hide_parameters=True,
            **engine_kwargs,
        )

        @event.listens_for(engine, "connect")
        def _postgres_utc(dbapi_connection: Any, _record: Any) -> None:
            with dbapi_connection.cursor() as cursor:
                cursor.execute("SET TIME ZONE 'UTC'")
            dbapi_connection.commit()

        return engine

    # Any other database SQLAlchemy knows: no special set-up, but still hide parameters.
    return create_engine(url, pool_pre_ping=True, hide_parameters=True, **engine_kwargs)


_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()


def get_engine(database_url: str | URL) -> Engine:
    """The process's engine for this URL, created on first use."""
    key = _normalise_url(database_url).render_as_string(hide_password=False)
    with _engines_lock:
        engine = _engines.get(key)
        if engine is None:
            engine = _engines[key] = make_engine(key)
        return engine


def dispose_engines() -> None:
    """Close every cached engine's connections (tests, shutdown)."""
    with _engines_lock:
        engines = list(_engines.values())
        _engines.clear()
    for engine in engines:
        engine.dispose()


def is_unavailable(exc: BaseException) -> bool:
    """Whether an error means "the database cannot be reached now" rather than "this data is wrong".

    Operational errors (refused connection, lost connection, locked SQLite file, serialization
    failures), interface errors on a dead connection, invalidated connections and pool timeouts
    are all transient: worth retrying, answered with 503."""
    if isinstance(exc, ReadModelUnavailable | DisconnectionError | PoolTimeoutError):
        return True
    if isinstance(exc, DBAPIError):
        return exc.connection_invalidated or isinstance(exc, OperationalError | InterfaceError)
    return False


def unavailable_from(exc: BaseException, engine: Engine) -> ReadModelUnavailable:
    """A `ReadModelUnavailable` describing `exc` without parameters or row data."""
    if isinstance(exc, ReadModelUnavailable):
        return exc
    orig = getattr(exc, "orig", None)
    kind = type(orig).__name__ if orig is not None else type(exc).__name__
    return ReadModelUnavailable(f"read model database {safe_url(engine.url)} is unavailable ({kind})")


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """One transaction: commit when the block ends, roll back if it raises.

    Errors meaning the database is unreachable are raised as `ReadModelUnavailable`; every other
    error (integrity, programming, your own) passes through unchanged."""
    session = Session(engine, expire_on_commit=False)
    try:
        yield session
        session.commit()
    except BaseException as exc:
        try:
            session.rollback()
        except Exception:  # noqa: BLE001, S110 - the connection may be gone; the first error matters
            pass
        if is_unavailable(exc) and not isinstance(exc, ReadModelUnavailable):
            raise unavailable_from(exc, engine) from exc
        raise
    finally:
        try:
            session.close()
        except Exception:  # noqa: BLE001, S110 - closing a dead connection must not mask the error
            pass


def ping(engine: Engine) -> None:
    """Run `SELECT 1`; raise `ReadModelUnavailable` when the database does not answer (for /readyz)."""
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        if is_unavailable(exc):
            raise unavailable_from(exc, engine) from exc
        raise
