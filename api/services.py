"""What the API holds for its lifetime and every route shares: settings, the read-model engine, the
keyring, the document store, the Temporal connection (made on first need, again after a failure),
the metrics and the school calendar."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import Engine
from temporalio.client import Client

from api.auth_throttle import FailedAuthThrottle, SignInLockout
from api.metrics import Metrics
from api.problems import TemporalUnavailable
from domain.school_calendar import SchoolCalendar, load_calendar_data
from infra.document_store import DocumentStore
from infra.encryption import Keyring
from infra.logging import get_logger
from infra.settings import Settings
from infra.temporal_client import connect_client
from readmodel.database import make_engine

log = get_logger(__name__)


class TemporalConnector:
    """Connects to Temporal on first need and again after a failure (at most every `retry_interval`)."""

    def __init__(
        self,
        settings: Settings,
        connect: Callable[[Settings], Awaitable[Client]] | None = None,
        *,
        timeout: float = 5.0,
        retry_interval: float = 1.0,
    ) -> None:
        self.settings = settings
        self._connect = connect or connect_client
        self.timeout = timeout
        self.retry_interval = retry_interval
        self._client: Client | None = None
        self._lock = asyncio.Lock()
        self._last_failure: float | None = None
        self.last_error: str | None = None

    @property
    def connected(self) -> bool:
        return self._client is not None

    async def client(self) -> Client:
        if self._client is not None:
            return self._client
        if self._last_failure is not None and time.monotonic() - self._last_failure < self.retry_interval:
            raise TemporalUnavailable(self.last_error or "not connected")
        async with self._lock:
            if self._client is not None:
                return self._client
            if self._last_failure is not None and time.monotonic() - self._last_failure < self.retry_interval:
                raise TemporalUnavailable(self.last_error or "not connected")
            try:
                self._client = await asyncio.wait_for(self._connect(self.settings), self.timeout)
            except Exception as exc:
                self._last_failure = time.monotonic()
                self.last_error = type(exc).__name__
                log.warning(
                    "temporal_connect_failed",
                    temporal_address=self.settings.temporal_address,
                    error=str(exc)[:300],
                )
                raise TemporalUnavailable(self.last_error) from exc
            self._last_failure = None
            self.last_error = None
            log.info("temporal_connected", temporal_address=self.settings.temporal_address)
            return self._client

    def set_client(self, client: Client) -> None:
        """Use an already connected client (tests)."""
        self._client = client


@dataclass
class Services:
    settings: Settings
    engine: Engine
    keyring: Keyring
    documents: DocumentStore
    temporal: TemporalConnector
    metrics: Metrics
    auth_failures: FailedAuthThrottle
    sign_in_lockout: SignInLockout
    _calendars: dict[str | None, SchoolCalendar] = field(default_factory=dict, repr=False)
    #: One lock per child key, so two identical notifications at once still open one case.
    notify_locks: dict[str, asyncio.Lock] = field(default_factory=dict, repr=False)

    def calendar(self, school_urn: str | None = None) -> SchoolCalendar:
        """The school calendar (term dates) around today, loaded once: the school's own when it sets
        its own dates (`school_calendars_dir`), else the council's (also with no school given)."""
        own = self.settings.own_calendar_file(school_urn) if school_urn else None
        key = school_urn if own is not None else None
        calendar = self._calendars.get(key)
        if calendar is None:
            this_year = date.today().year
            data = load_calendar_data(self.settings.school_calendar_file, this_year - 6, this_year + 1,
                                      school_file=own)
            calendar = self._calendars[key] = SchoolCalendar(data)
        return calendar


def build_services(
    settings: Settings, metrics: Metrics, temporal: TemporalConnector | None = None
) -> Services:
    keyring = Keyring.from_settings(settings)
    return Services(
        settings=settings,
        engine=make_engine(settings.database_url),
        keyring=keyring,
        documents=DocumentStore(settings.document_dir, keyring),
        temporal=temporal or TemporalConnector(settings),
        metrics=metrics,
        auth_failures=FailedAuthThrottle(settings.failed_auth_limit_per_minute),
        sign_in_lockout=SignInLockout(settings.sign_in_failures_before_lockout, settings.sign_in_lockout_minutes),
    )
