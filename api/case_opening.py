"""Opening a case from a school's notification, shared by the API's `POST /cases` and the school's
notify page: the same checks, the same de-duplication and the same workflow call. Everything is
checked before anything starts (a refused notification leaves no trace), and the same notification
sent again (the same `Idempotency-Key` with the same body, or the same child at the same school
while a case is open) never opens a second case; a key used again for a different notification is
refused.

This module deliberately does not use `from __future__ import annotations`: `NotifyAbsence` is a
request body FastAPI must resolve.
"""

import asyncio
import json
import secrets
from datetime import UTC, date, datetime, timedelta

from fastapi import Request
from pydantic import ConfigDict, Field
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session
from temporalio.client import WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.service import RPCError, RPCStatusCode

from api.auth import case_not_found
from api.case_updates import build_command, check_idempotency_key, key_used_for_another_request, send_update
from api.deps import query_view, run_db, services, temporal_client, within_engine_timeout
from api.principal import Principal
from api.problems import ProblemError
from domain.case_commands import AbsenceNotification, OpenCase, RecordAbsenceDays
from domain.case_context import CaseContext
from domain.case_state import CaseView
from domain.case_transitions import DATE_HORIZON
from domain.command_dates import check_notification
from domain.command_rejection import CommandRejected
from domain.stages import Action, Stage, is_allowed
from infra.settings import Settings
from readmodel import case_queries
from readmodel.case_projection import child_key
from readmodel.tables import CaseRow, IdempotencyRecord

WORKFLOW_TYPE = "CaseWorkflow"
_REF_ALPHABET = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"



def new_case_ref(today: date | None = None) -> str:
    today = today or datetime.now(UTC).date()
    suffix = "".join(secrets.choice(_REF_ALPHABET) for _ in range(6))
    return f"MN-{today.year % 100:02d}-{suffix}"


class NotifyAbsence(AbsenceNotification):
    """A school's notification that a pupil is, or will be, absent through illness."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "school_urn": "120001",
                    "child": {"given_name": "Ada", "family_name": "Lovelace", "date_of_birth": "2013-05-04"},
                    "parent": {"name": "Anne Lovelace", "email": "anne@example.org"},
                    "first_day_of_absence": "2026-01-12",
                    "expected_return": "2026-03-02",
                    "reason": "physical_illness",
                    "health_summary": "Post-operative recovery; consultant letter to follow.",
                    "absence_days": ["2026-01-12", "2026-01-13", "2026-01-14"],
                }
            ]
        },
    )

    absence_days: list[date] = Field(
        default_factory=list, max_length=400, description="School days already missed this school year"
    )


#: How long ago an absence may have begun for a school to notify it now.
NOTIFY_PAST_LIMIT = timedelta(days=730)


def check_first_day_of_absence(first_day: date) -> None:
    """An absence that began over two years ago, or begins over a year ahead (DATE_HORIZON), is not one
    a school notifies now; and the case's school calendar could not count today's days from it."""
    today = datetime.now(UTC).date()
    earliest, latest = today - NOTIFY_PAST_LIMIT, today + DATE_HORIZON
    if not earliest <= first_day <= latest:
        message = f"must be between {earliest.isoformat()} and {latest.isoformat()}"
        raise ProblemError(
            422,
            f"The request is not valid: body.first_day_of_absence: {message}",
            slug="validation-error",
            title="Invalid request",
            errors=[{"field": "body.first_day_of_absence", "message": message, "type": "date_range"}],
        )


def check_notification_dates(request: Request, body: NotifyAbsence) -> None:
    """What the case would refuse of the notification (a day that is not a school day, an absence
    day in the future), refused before anything starts: a refused notification leaves no case."""
    svc = services(request)
    ctx = CaseContext(svc.calendar(body.school_urn), svc.settings.clocks, svc.settings.recoupment, datetime.now(UTC))
    try:
        check_notification(body, ctx)
    except CommandRejected as rejected:
        field = f"body.{rejected.field}" if rejected.field else "body"
        raise ProblemError(
            422,
            f"The request is not valid: {field}: {rejected}",
            slug="validation-error",
            title="Invalid request",
            errors=[{"field": field, "message": str(rejected), "type": "invalid_date"}],
        ) from None


def _request_hash(request: Request, body: NotifyAbsence) -> str:
    """A keyed hash of the notification (it holds personal data): what an `Idempotency-Key` was used for."""
    canonical = json.dumps(body.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return services(request).keyring.keyed_hash("notification|" + canonical)


def _key_reused(key_used_for: str | None, request_hash: str) -> None:
    """The same key with a different request: refused, never answered with the first request's case."""
    if key_used_for is not None and key_used_for != request_hash:
        raise key_used_for_another_request()


def _lock_for(request: Request, key: str) -> asyncio.Lock:
    locks = services(request).notify_locks
    lock = locks.get(key)
    if lock is None:
        if len(locks) > 10_000:
            for k in [k for k, v in locks.items() if not v.locked()]:
                del locks[k]
        lock = locks[key] = asyncio.Lock()
    return lock


def _reserve_key(session: Session, key: str, principal: Principal, ref: str, request_hash: str) -> str:
    """Store key -> ref, or answer the ref stored before under the same key (for the same request)."""
    existing = session.get(IdempotencyRecord, (key, principal.name))
    if existing is not None:
        _key_reused(existing.request_hash, request_hash)
        return existing.case_ref
    try:
        with session.begin_nested():
            session.add(
                IdempotencyRecord(
                    key=key,
                    api_key_name=principal.name,
                    case_ref=ref,
                    created_at=datetime.now(UTC),
                    request_hash=request_hash,
                )
            )
    except IntegrityError:
        existing = session.get(IdempotencyRecord, (key, principal.name))
        if existing is not None:
            _key_reused(existing.request_hash, request_hash)
            return existing.case_ref
        raise
    return ref


def case_details(settings: Settings, ref: str, school_urn: str, principal: Principal) -> str:
    """The case's details in the Temporal UI (Markdown): what it is and where to work on it."""
    base = settings.public_url.rstrip("/")
    return (
        f"Medical-absence case **{ref}** (Education Act 1996 s19) at school {school_urn}, "
        f"notified by {principal.name}.\n\n[Open the case]({base}/cases/{ref})"
    )


async def _open_or_update(
    request: Request,
    principal: Principal,
    ref: str,
    body: NotifyAbsence,
    update_id: str | None,
) -> CaseView:
    """Update-with-start: start the case workflow if it is not running, then record the absence."""
    svc = services(request)
    client = await temporal_client(request)
    open_case = build_command(OpenCase, {**body.model_dump(), "case_ref": ref}, principal)
    start = WithStartWorkflowOperation(
        WORKFLOW_TYPE,
        open_case,
        id=ref,
        task_queue=svc.settings.task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        # What the Temporal UI shows of the case (encrypted like every payload; no personal data).
        static_summary=f"Case {ref} · school {body.school_urn}",
        static_details=case_details(svc.settings, ref, body.school_urn, principal),
    )
    record = RecordAbsenceDays(
        days=body.absence_days, half_days=body.absence_half_days, expected_return=body.expected_return,
        actor=principal.actor,
    )
    return await within_engine_timeout(
        client.execute_update_with_start_workflow(
            Action.RECORD_ABSENCE_DAYS.value,
            record,
            start_workflow_operation=start,
            id=update_id,
            result_type=CaseView,
        )
    )


async def open_or_find_case(
    request: Request, principal: Principal, body: NotifyAbsence, idempotency_key: str | None
) -> tuple[CaseView, bool]:
    """The case this notification opens (True) or the one already open for it (False). 403 when a
    school notifies for a school not its own; 422 with the fields named when the notification is
    not valid, or its key was used for another one."""
    key = check_idempotency_key(idempotency_key)
    if principal.is_school and body.school_urn not in principal.school_urns:
        raise ProblemError(
            403,
            f"This key may not notify for school {body.school_urn}.",
            slug="forbidden",
            title="Forbidden for this school",
        )
    # The notification's own cross-field rules (e.g. expected_return after the first day), up front.
    build_command(OpenCase, {**body.model_dump(), "case_ref": "MN-00-000000"}, principal)
    check_first_day_of_absence(body.first_day_of_absence)
    check_notification_dates(request, body)
    svc = services(request)
    request_hash = _request_hash(request, body)
    ckey = child_key(svc.keyring, body.child, body.school_urn)
    update_id = f"{principal.name}:open:{key}" if key else None

    async with _lock_for(request, ckey):
        # 1. The same Idempotency-Key as before: the same case (started now if the first try failed).
        if key is not None:
            known = await run_db(request, lambda s: s.get(IdempotencyRecord, (key, principal.name)))
            if known is not None:
                _key_reused(known.request_hash, request_hash)
                return await _replay(request, principal, known.case_ref, body, update_id), False

        # 2. This child already has an open case at this school: that case.
        existing = await run_db(request, lambda s: case_queries.find_open_case_by_child_key(s, ckey))
        if existing is not None:
            if key is not None:
                await run_db(request, lambda s: _reserve_key(s, key, principal, existing.case_ref, request_hash))
            return await _add_to_existing(request, principal, existing, body, update_id), False

        # 3. A new case, under a reference no case has had.
        ref = await run_db(request, _unused_ref)
        if key is not None:
            ref = await run_db(request, lambda s: _reserve_key(s, key, principal, ref, request_hash))
        return await _open_or_update(request, principal, ref, body, update_id), True


async def _replay(
    request: Request, principal: Principal, ref: str, body: NotifyAbsence, update_id: str | None
) -> CaseView:
    """A notification sent again under the same key: the case it opened. If the first attempt never
    reached the workflow (Temporal was down), it is opened now, under the reference kept for it."""
    row = await run_db(request, lambda s: s.get(CaseRow, ref))
    if row is not None and row.stage == Stage.CLOSED.value:
        client = await temporal_client(request)
        try:
            return await query_view(request, client.get_workflow_handle(ref))
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                raise case_not_found(ref) from None
            raise
    # The same update id as the first attempt: Temporal applies it once and answers its result.
    return await _open_or_update(request, principal, ref, body, update_id)


def _unused_ref(session: Session) -> str:
    for _ in range(20):
        ref = new_case_ref()
        if session.get(CaseRow, ref) is None:
            return ref
    raise RuntimeError("could not find an unused case reference")  # pragma: no cover


async def _add_to_existing(
    request: Request, principal: Principal, row: CaseRow, body: NotifyAbsence, update_id: str | None
) -> CaseView:
    client = await temporal_client(request)
    handle = client.get_workflow_handle(row.case_ref)
    try:
        stage = Stage(row.stage)
    except ValueError:
        stage = None
    if (
        (body.absence_days or body.absence_half_days or body.expected_return)
        and stage
        and is_allowed(stage, Action.RECORD_ABSENCE_DAYS)
    ):
        command = RecordAbsenceDays(
            days=body.absence_days, half_days=body.absence_half_days, expected_return=body.expected_return,
            actor=principal.actor,
        )
        return await send_update(
            request, principal, row.case_ref, Action.RECORD_ABSENCE_DAYS, command, update_id
        )
    try:
        return await query_view(request, handle)
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise case_not_found(row.case_ref) from None
        raise
