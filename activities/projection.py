"""Projection: every state change of a case is written to the SQL read model the API lists from.

A synchronous activity (the worker runs it in its thread pool). The database being unreachable is
raised as is, so Temporal retries it; data the database rejects (an integrity or data error that a
retry cannot fix) is a non-retryable `ApplicationError` whose message names the case reference and
the kind of error only, never the data.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from sqlalchemy.engine import Engine
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, StatementError
from temporalio import activity
from temporalio.exceptions import ApplicationError

from domain.case_change import ProjectionRequest
from domain.case_state import CaseView
from infra.encryption import Keyring
from infra.logging import activity_logger
from infra.settings import Settings
from readmodel.case_projection import write_case_view
from readmodel.database import get_engine, session_scope

PROJECTION_REJECTED = "ProjectionRejected"
VIEW_QUERY = "view"
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
    async def project_case_by_reference(self, request: ProjectionRequest) -> None:
        """Read the case through its workflow's `view` query (which adds nothing to history: the
        input stays a reference and a version however old the case is) and write it. The query may
        see a later version than asked for: the write is version-guarded either way."""
        handle = activity.client().get_workflow_handle(request.case_ref)
        view = await handle.query(VIEW_QUERY, result_type=CaseView)
        await asyncio.to_thread(self._write, view)

    @activity.defn
    def project_case(self, view: CaseView) -> None:
        """The case's write as earlier runs sent it: the whole view as the activity's input."""
        self._write(view)

    def _write(self, view: CaseView) -> None:
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
