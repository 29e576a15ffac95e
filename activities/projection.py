"""Projection: every state change of a case is written to the SQL read model the API lists from.

A synchronous activity (the worker runs it in its thread pool). The database being unreachable is
raised as is, so Temporal retries it; data the database rejects (an integrity or data error that a
retry cannot fix) is a non-retryable `ApplicationError` whose message names the case reference and
the kind of error only, never the data.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.engine import Engine
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, StatementError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from domain.case_state import CaseView
from infra.encryption import Keyring
from infra.logging import activity_logger
from infra.settings import Settings
from readmodel.case_projection import write_case_view
from readmodel.database import get_engine, session_scope

PROJECTION_REJECTED = "ProjectionRejected"
# Before this, `current_attempt_scheduled_time` is a placeholder (e.g. the epoch in ActivityEnvironment).
_PLAUSIBLE_SINCE = datetime(2000, 1, 1, tzinfo=UTC)


def is_bad_data(exc: BaseException) -> bool:
    """Errors a retry cannot fix: the database refused these values (constraint, type, length) or they
    could not be bound at all. Unreachable databases, schema problems and bugs are not bad data."""
    if isinstance(exc, IntegrityError | DataError):
        return True
    if isinstance(exc, StatementError) and not isinstance(exc, DBAPIError):
        return True  # a value that could not be bound (e.g. a naive datetime)
    return isinstance(exc, ValueError)


def _as_of() -> datetime:
    """The moment the projection describes: when the server scheduled this attempt (the workflow's
    clock, also under a time-skipping test server), else the wall clock."""
    try:
        scheduled = activity.info().current_attempt_scheduled_time
    except RuntimeError:  # not inside an activity
        scheduled = None
    if scheduled is not None and scheduled.tzinfo is not None and scheduled >= _PLAUSIBLE_SINCE:
        return scheduled.astimezone(UTC)
    return datetime.now(UTC)


class ProjectionActivities:
    def __init__(
        self,
        settings: Settings,
        *,
        keyring: Keyring | None = None,
        engine: Engine | None = None,
    ) -> None:
        self.settings = settings
        self.keyring = keyring or Keyring.from_settings(settings)
        self.engine = engine if engine is not None else get_engine(settings.database_url)

    @activity.defn
    def project_case(self, view: CaseView) -> None:
        case_ref = view.state.case_ref
        log = activity_logger(case_ref=case_ref)
        try:
            with session_scope(self.engine) as session:
                written = write_case_view(session, view, self.keyring, _as_of())
        except Exception as exc:
            if not is_bad_data(exc):
                raise  # unreachable database (ReadModelUnavailable) and the like: Temporal retries
            kind = type(getattr(exc, "orig", None) or exc).__name__
            log.error("projection_rejected", version=view.state.version, error=kind)
            raise ApplicationError(
                f"read model rejected the projection of case {case_ref} "
                f"(version {view.state.version}): {kind}",
                type=PROJECTION_REJECTED,
                non_retryable=True,
            ) from None
        log.info("case_projected" if written else "projection_older_than_stored", version=view.state.version)
