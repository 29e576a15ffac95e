"""The worker's record of a case's activity that keeps failing, for the supervisor's "Technically
stuck" list (pages/stuck_cases.py).

Temporal knows each pending activity's attempt and last failure, but its visibility store cannot be
searched by them: the only way to find every retrying activity from Temporal alone is to describe
every running case. So the worker, which sees each failure as it happens, writes one small row per
failing activity (`readmodel.tables.FailingActivity`) once it has failed `RECORD_FROM_ATTEMPT`
times, and deletes it when the activity succeeds. The rows are only candidates: the page describes
those cases (a bounded set) and shows what Temporal still reports as pending, with Temporal's own
attempt count, so a row left behind (the case ended, the activity was cancelled) is never shown.

What is recorded is in the users' words and from codes, never from an error's message or the
activity's data beyond its kind (which email template, to whom by role): no personal data.

When the read model's database is the thing that is down, this row cannot be written (the write is
given up quietly, the activity's own failure goes on to Temporal unchanged). The page cannot be
shown then either (signing in needs the database): `/readyz` says "database down", and the cases
hold their work in Temporal and carry on when it is back (tests/test_fault_database_outage.py)."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, delete
from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.worker import (
    ActivityInboundInterceptor,
    ExecuteActivityInput,
    Interceptor,
)

from domain.case_commands import CASE_REF_PATTERN
from domain.email_models import EmailRequest
from infra.logging import get_logger
from readmodel.database import get_engine, session_scope
from readmodel.tables import FailingActivity

log = get_logger(__name__)

#: A failure of this attempt or a later one is recorded (the first two are ordinary blips).
RECORD_FROM_ATTEMPT = 3

#: What each activity does, in the words of the case's people.
ACTIVITY_WORDS = {
    "load_case_rules": "Load the council's case rules",
    "send_email": "Send an email",
    "store_generated_document": "Store a letter the case generated",
    "post_recoupment": "Post the school's recoupment to finance",
    "project_case": "Update the case's lists and pages (read model)",
    "project_case_by_reference": "Update the case's lists and pages (read model)",
}

#: Why it fails, by the error's type (the message may hold anything, so it is never used).
REASON_WORDS = {
    "SmtpUnavailable": "the mail server refused the connection or could not be reached",
    "EmailDeliveryUnconfirmed": "the mail server stopped answering while receiving the email",
    "SmtpError": "the mail server refused the email",
    "ReadModelUnavailable": "the database could not be reached",
    "OperationalError": "the database could not be reached",
    "TimeoutError": "it timed out",
}

_CASE_REF = re.compile(CASE_REF_PATTERN)


def activity_words(activity_type: str, args: Any) -> str:
    """'Email the consent request to the parent', 'Post the school's recoupment to finance'."""
    request = next((a for a in args if isinstance(a, EmailRequest)), None)
    if activity_type == "send_email" and request is not None:
        to = sorted({r.role.value for r in request.recipients})
        return f"Email the {request.template.value.replace('_', ' ')} to the {' and the '.join(to)}"[:200]
    return ACTIVITY_WORDS.get(activity_type, activity_type.replace("_", " ").capitalize())[:200]


def reason_words(error: BaseException) -> str:
    kind = error.type if isinstance(error, ApplicationError) and error.type else type(error).__name__
    return REASON_WORDS.get(kind or "", f"an unexpected error ({kind})")[:200]


class FailingAttemptsInterceptor(Interceptor):
    """Registered on the worker (worker.py): records and clears failing case activities."""

    def __init__(self, database_url: str, engine: Engine | None = None) -> None:
        self._engine = engine
        self._database_url = database_url

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = get_engine(self._database_url)
        return self._engine

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _Inbound(next, self)


class _Inbound(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, recorder: FailingAttemptsInterceptor) -> None:
        super().__init__(next)
        self.recorder = recorder

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        info = activity.info()
        case_ref = info.workflow_id if info.workflow_id and _CASE_REF.match(info.workflow_id) else None
        try:
            result = await self.next.execute_activity(input)
        except BaseException as error:
            if case_ref and info.attempt >= RECORD_FROM_ATTEMPT and isinstance(error, Exception):
                row = FailingActivity(
                    case_ref=case_ref, activity_id=info.activity_id[:100],
                    activity=activity_words(info.activity_type, input.args), reason=reason_words(error),
                    attempt=info.attempt, since=info.scheduled_time.astimezone(UTC),
                    last_failed_at=datetime.now(UTC),
                )
                await asyncio.to_thread(self._write, lambda s: s.merge(row))
            raise
        if case_ref and info.attempt >= RECORD_FROM_ATTEMPT:
            await asyncio.to_thread(self._write, lambda s: s.execute(delete(FailingActivity).where(
                FailingActivity.case_ref == case_ref,  # type: ignore[arg-type]
                FailingActivity.activity_id == info.activity_id[:100],  # type: ignore[arg-type]
            )))
        return result

    def _write(self, change: Any) -> None:
        try:
            with session_scope(self.recorder.engine) as session:
                change(session)
        except Exception as exc:  # noqa: BLE001 - the database may be what is down: the activity's own outcome stands
            log.warning("failing_activity_not_recorded", error_type=type(exc).__name__)
