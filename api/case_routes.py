"""Cases: open one from a school's notification, list them, read one, read its timeline, and give
it every command the workflow knows (`POST /cases/{ref}/<action>`).

Commands go to the case's Temporal workflow as updates (a new case: update-with-start) and answer
with the case's new state. Caseworkers and supervisors get the whole `CaseView` (and the read is
recorded); a school gets `SchoolCaseView`: status, stage, provision, officer, review dates and
pending tasks, but no health summary, notes, evidence or professionals.

This module deliberately does not use `from __future__ import annotations`: the command routes are
built in a loop and FastAPI must see each route's real body model.
"""

import asyncio
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from fastapi import APIRouter, Body, Depends, Header, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session
from temporalio.client import Client, WithStartWorkflowOperation, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.service import RPCError, RPCStatusCode

from api.auth import (
    STAFF,
    Principal,
    case_not_found,
    check_case_ref,
    require_roles,
    require_school_or_staff,
    require_staff,
    run_db,
    services,
    visible_case_row,
)
from api.problems import (
    EngineTimeout,
    ProblemError,
    TemporalUnavailable,
    field_errors,
    problem_responses,
)
from domain.case_commands import (
    AbsenceNotification,
    AddNote,
    AgreeReintegrationPlan,
    AssignOfficer,
    ChangeSchool,
    CloseCase,
    CloseOutcome,
    CommissionProvision,
    ConfirmFullTimeReturn,
    Decide,
    ExtendReintegration,
    OpenCase,
    ReadModelWriteFailed,
    RecordAbsenceDays,
    RecordConsent,
    RecordEvidence,
    RecordHospitalAdmission,
    RecordHospitalDischarge,
    RecordReviewOutcome,
    RequestConsent,
    RequestEvidence,
    ScheduleReview,
)
from domain.case_state import CaseView, TaskKind
from domain.case_transitions import DATE_HORIZON
from domain.people import Role
from domain.provision import ProvisionKind
from domain.stages import Action, Stage, is_allowed
from infra.logging import get_logger
from readmodel import case_queries
from readmodel.case_projection import child_key, write_case_view
from readmodel.database import ReadModelUnavailable, session_scope
from readmodel.tables import AccessRecord, CaseRow, IdempotencyRecord

log = get_logger(__name__)

WORKFLOW_TYPE = "CaseWorkflow"
VIEW_QUERY = "view"
READ_MODEL_WRITE_FAILED_SIGNAL = "read_model_write_failed"
#: How long a command or query may wait for the workflow (a worker must pick it up) before 503.
ENGINE_TIMEOUT_SECONDS = 30.0
_REF_ALPHABET = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"
_IDEMPOTENCY_KEY_RE = re.compile(r"^[\x21-\x7e]{1,200}$")

router = APIRouter(tags=["cases"])


# ------------------------------------------------------------------------------------------------
# Response models
# ------------------------------------------------------------------------------------------------


class SchoolChild(BaseModel):
    given_name: str
    family_name: str
    upn: str | None = None


class SchoolProvision(BaseModel):
    kind: ProvisionKind
    hours_per_week: Decimal
    start_date: date
    end_date: date | None = None


class SchoolReview(BaseModel):
    due_on: date
    scheduled_on: date | None = None
    held_on: date | None = None


class SchoolReintegration(BaseModel):
    start_date: date
    end_date: date
    hours_per_week: float


class SchoolTask(BaseModel):
    kind: TaskKind
    description: str
    assignee_role: str
    due_on: date
    overdue: bool


class SchoolCaseView(BaseModel):
    """What a school sees of its pupil's case: no health detail, notes, evidence or professionals."""

    case_ref: str = Field(examples=["MN-26-7K3Q9P"])
    status: Literal["open", "closed"]
    stage: Stage
    school_urn: str
    child: SchoolChild
    first_day_of_absence: date
    expected_return: date | None
    absence_days_recorded: int
    threshold_date: date | None
    officer: str | None
    provisions: list[SchoolProvision]
    provision_started_on: date | None
    reviews: list[SchoolReview]
    reintegration: SchoolReintegration | None
    returned_full_time_on: date | None
    closed_on: date | None
    close_outcome: CloseOutcome | None
    pending_tasks: list[SchoolTask]
    allowed_actions: list[str] = Field(description="What this school key may do now")
    next_deadline: date | None
    overdue: bool


class CaseSummary(BaseModel):
    """A case as lists show it: no personal or health data."""

    case_ref: str
    school_urn: str
    stage: str
    officer: str | None
    opened_at: datetime
    first_day_of_absence: date
    threshold_date: date | None
    provision_started_on: date | None
    next_deadline: date | None
    overdue: bool
    stalled: bool
    last_progress_on: date
    provision_kinds: list[str]
    close_outcome: str | None
    closed_on: date | None


class CaseList(BaseModel):
    items: list[CaseSummary]
    total: int = Field(description="How many cases match the filters, over all pages")
    limit: int
    offset: int


class TimelineActor(BaseModel):
    role: str
    name: str


class TimelineEntry(BaseModel):
    seq: int
    at: datetime
    actor: TimelineActor
    action: str
    summary: str


class Timeline(BaseModel):
    case_ref: str
    events: list[TimelineEntry]


# ------------------------------------------------------------------------------------------------
# Helpers
# ------------------------------------------------------------------------------------------------


def json_response(
    model: BaseModel, status_code: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(
        content=model.model_dump_json(),
        status_code=status_code,
        media_type="application/json",
        headers=headers,
    )


#: Command fields the API fills in itself: never part of a request body.
_SET_BY_THE_API = frozenset({"actor", "caller_writes_read_model"})


def body_model(command: type[BaseModel]) -> type[BaseModel] | None:
    """The request body of a command: its fields without `actor` (set from the token). Unknown
    fields are refused, so a misspelt field is named in a 422 rather than silently ignored."""
    fields: dict[str, Any] = {
        name: (info.annotation, info)
        for name, info in command.model_fields.items()
        if name not in _SET_BY_THE_API
    }
    if not fields:
        return None
    return create_model(
        command.__name__ + "Body",
        __config__=ConfigDict(extra="forbid", title=command.__name__),
        __doc__=command.__doc__,
        **fields,
    )


def build_command(command: type[BaseModel], data: dict[str, Any], principal: Principal) -> Any:
    """The command with the caller as actor; the command's own cross-field checks give a 422."""
    try:
        return command.model_validate({**data, "actor": principal.actor})
    except ValidationError as exc:
        errors = field_errors([{**e, "loc": ("body", *e["loc"])} for e in exc.errors()])
        raise ProblemError(
            422,
            "The request is not valid: " + "; ".join(f"{e.field}: {e.message}" for e in errors[:5]),
            slug="validation-error",
            title="Invalid request",
            errors=[e.model_dump() for e in errors],
        ) from None


def check_idempotency_key(key: str | None) -> str | None:
    if key is None:
        return None
    if not _IDEMPOTENCY_KEY_RE.match(key):
        raise ProblemError(
            422,
            "header.Idempotency-Key: 1-200 visible ASCII characters (e.g. a UUID)",
            slug="validation-error",
            title="Invalid request",
            errors=[
                {
                    "field": "header.Idempotency-Key",
                    "message": "1-200 visible ASCII characters",
                    "type": "string_pattern_mismatch",
                }
            ],
        )
    return key


IdempotencyKeyHeader = Header(
    None,
    alias="Idempotency-Key",
    description="Optional. The same key from the same access key gives the same result once: "
    "a retried command is applied once.",
    examples=["3f0c2a1e-8f4b-4d59-9a53-7b1f5d0c9e21"],
)


async def temporal_client(request: Request) -> Client:
    svc = services(request)
    if svc is None:
        raise TemporalUnavailable("starting")
    return await svc.temporal.client()


def new_case_ref(today: date | None = None) -> str:
    today = today or datetime.now(UTC).date()
    suffix = "".join(secrets.choice(_REF_ALPHABET) for _ in range(6))
    return f"MN-{today.year % 100:02d}-{suffix}"


def school_actions(stage: Stage) -> list[str]:
    return sorted(a.value for a in SCHOOL_ACTIONS if is_allowed(stage, a))


def school_view(view: CaseView) -> SchoolCaseView:
    s = view.state
    return SchoolCaseView(
        case_ref=s.case_ref,
        status="closed" if s.stage is Stage.CLOSED else "open",
        stage=s.stage,
        school_urn=s.school_urn,
        child=SchoolChild(given_name=s.child.given_name, family_name=s.child.family_name, upn=s.child.upn),
        first_day_of_absence=s.first_day_of_absence,
        expected_return=s.expected_return,
        absence_days_recorded=len(s.absence_days),
        threshold_date=s.threshold_date,
        officer=s.officer,
        provisions=[
            SchoolProvision(
                kind=p.kind, hours_per_week=p.hours_per_week, start_date=p.start_date, end_date=p.end_date
            )
            for p in s.provisions
        ],
        provision_started_on=s.provision_started_on,
        reviews=[
            SchoolReview(due_on=r.due_on, scheduled_on=r.scheduled_on, held_on=r.held_on) for r in s.reviews
        ],
        reintegration=(
            SchoolReintegration(
                start_date=s.reintegration.start_date,
                end_date=s.reintegration.end_date,
                hours_per_week=s.reintegration.hours_per_week,
            )
            if s.reintegration is not None
            else None
        ),
        returned_full_time_on=s.returned_full_time_on,
        closed_on=s.closed_on,
        close_outcome=s.close_outcome,
        pending_tasks=[
            SchoolTask(
                kind=t.kind,
                description=t.description,
                assignee_role=t.assignee_role.value
                if isinstance(t.assignee_role, Role)
                else str(t.assignee_role),
                due_on=t.due_on,
                overdue=t.overdue,
            )
            for t in view.pending_tasks
        ],
        allowed_actions=school_actions(s.stage),
        next_deadline=view.next_deadline,
        overdue=view.overdue,
    )


_INSERT_ACCESS_RECORD = AccessRecord.__table__.insert()


def record_access(session: Session, principal: Principal, case_ref: str, what: str) -> None:
    """Record, in the session's transaction, that the caller read this case's personal data."""
    session.connection().execute(
        _INSERT_ACCESS_RECORD,
        {
            "at": datetime.now(UTC),
            "actor_role": principal.role.value,
            "actor_name": principal.name,
            "case_ref": case_ref,
            "what": what[:200],
        },
    )


async def answer_view(
    request: Request,
    principal: Principal,
    view: CaseView,
    what: str,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    """The view for this caller: redacted for a school; whole (and the read recorded) for staff."""
    if principal.is_school:
        return json_response(school_view(view), status_code, headers)
    ref = view.state.case_ref
    await run_db(request, lambda s: record_access(s, principal, ref, what))
    return json_response(view, status_code, headers)


async def answer_command(request: Request, principal: Principal, view: CaseView, what: str) -> Response:
    """The answer to a command the API sent with `caller_writes_read_model`: the view is written to
    the read model in the same transaction as the staff read's access record, so lists show the
    command the moment it answers. If that write fails the case is told and writes it itself; a
    staff caller then gets 503 (their read could not be recorded), a school its answer."""
    keyring = services(request).keyring
    ref = view.state.case_ref

    def _write(session: Session) -> None:
        if not principal.is_school:
            record_access(session, principal, ref, what)
        write_case_view(session, view, keyring, datetime.now(UTC))

    try:
        await run_db(request, _write)
    except ReadModelUnavailable:
        await _tell_case_read_model_write_failed(request, view)
        if not principal.is_school:
            raise
        return json_response(school_view(view), 200)
    except Exception as exc:  # noqa: BLE001 - the database refused the rows: the case's own write reports it
        log.warning("read_model_write_refused", case_ref=ref, error_type=type(exc).__name__)
        await _tell_case_read_model_write_failed(request, view)
        if not principal.is_school:
            await run_db(request, lambda s: record_access(s, principal, ref, what))
    return json_response(school_view(view) if principal.is_school else view, 200)


async def _tell_case_read_model_write_failed(request: Request, view: CaseView) -> None:
    """Best effort: if even this signal is lost, the case checks its read model within minutes."""
    try:
        client = await temporal_client(request)
        handle = client.get_workflow_handle(view.state.case_ref)
        async with asyncio.timeout(5):
            await handle.signal(READ_MODEL_WRITE_FAILED_SIGNAL,
                                ReadModelWriteFailed(version=view.state.version))
    except Exception:  # noqa: BLE001 - the answer must not fail for this
        log.warning("read_model_write_failed_signal_lost", case_ref=view.state.case_ref)


async def _engine(awaitable: Any) -> Any:
    try:
        async with asyncio.timeout(ENGINE_TIMEOUT_SECONDS):
            return await awaitable
    except TimeoutError:
        raise EngineTimeout() from None


async def query_view(request: Request, handle: WorkflowHandle[Any, Any]) -> CaseView:
    return await _engine(handle.query(VIEW_QUERY, result_type=CaseView))


async def _closed_or_missing(request: Request, case_ref: str, action: Action) -> ProblemError:
    """An update found no running workflow: a closed case answers 409, an unknown one 404."""
    row = await run_db(request, lambda s: s.get(CaseRow, case_ref))
    if row is None:
        return case_not_found(case_ref)
    return ProblemError(
        409,
        f"Case {case_ref} is closed: '{action.value}' is not allowed.",
        slug="action-not-allowed",
        title="Action not allowed in this stage",
        stage=Stage.CLOSED.value,
        allowed_actions=[],
    )


async def send_update(
    request: Request,
    principal: Principal,
    case_ref: str,
    action: Action,
    command: BaseModel,
    update_id: str | None,
) -> CaseView:
    """Send a command; the same update id (from an `Idempotency-Key`) is applied once."""
    client = await temporal_client(request)
    handle = client.get_workflow_handle(case_ref)
    try:
        return await _engine(handle.execute_update(action.value, command, id=update_id, result_type=CaseView))
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise await _closed_or_missing(request, case_ref, action) from None
        raise


# ------------------------------------------------------------------------------------------------
# POST /cases
# ------------------------------------------------------------------------------------------------


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


def _lock_for(request: Request, key: str) -> asyncio.Lock:
    locks = services(request).notify_locks
    lock = locks.get(key)
    if lock is None:
        if len(locks) > 10_000:
            for k in [k for k, v in locks.items() if not v.locked()]:
                del locks[k]
        lock = locks[key] = asyncio.Lock()
    return lock


def _reserve_key(session: Session, key: str, principal: Principal, ref: str) -> str:
    """Store key -> ref, or answer the ref stored before under the same key."""
    existing = session.get(IdempotencyRecord, (key, principal.name))
    if existing is not None:
        return existing.case_ref
    try:
        with session.begin_nested():
            session.add(
                IdempotencyRecord(
                    key=key,
                    api_key_name=principal.name,
                    case_ref=ref,
                    created_at=datetime.now(UTC),
                )
            )
    except IntegrityError:
        existing = session.get(IdempotencyRecord, (key, principal.name))
        if existing is not None:
            return existing.case_ref
        raise
    return ref


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
    )
    record = RecordAbsenceDays(
        days=body.absence_days, expected_return=body.expected_return, actor=principal.actor
    )
    return await _engine(
        client.execute_update_with_start_workflow(
            Action.RECORD_ABSENCE_DAYS.value,
            record,
            start_workflow_operation=start,
            id=update_id,
            result_type=CaseView,
        )
    )


@router.post(
    "/cases",
    summary="Notify an absence and open a case",
    description="A school (or a caseworker for it) notifies that a pupil is or will be absent through "
    "illness. Answers 201 with the new case and its `Location`. Sending the same notification again "
    "(the same `Idempotency-Key`, or the same child at the same school while a case is open) answers "
    "200 with the existing case instead of opening another; any absence days sent are added to it.",
    status_code=201,
    response_model=CaseView | SchoolCaseView,
    responses={
        200: {
            "description": "The case already open for this notification",
            "model": CaseView | SchoolCaseView,
        },
        201: {"description": "The new case (a school key gets `SchoolCaseView`)"},
        **problem_responses(401, 403, 409, 422, 503),
    },
)
async def notify_absence(
    request: Request,
    body: NotifyAbsence,
    principal: Principal = Depends(require_school_or_staff),
    idempotency_key: str | None = IdempotencyKeyHeader,
) -> Response:
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
    svc = services(request)
    ckey = child_key(svc.keyring, body.child, body.school_urn)
    update_id = f"{principal.name}:open:{key}" if key else None

    async with _lock_for(request, ckey):
        # 1. The same Idempotency-Key as before: the same case (started now if the first try failed).
        if key is not None:
            known = await run_db(request, lambda s: s.get(IdempotencyRecord, (key, principal.name)))
            if known is not None:
                view = await _replay(request, principal, known.case_ref, body, update_id)
                return await _answer_opened(request, principal, view, created=False)

        # 2. This child already has an open case at this school: that case.
        existing = await run_db(request, lambda s: case_queries.find_open_case_by_child_key(s, ckey))
        if existing is not None:
            if key is not None:
                await run_db(request, lambda s: _reserve_key(s, key, principal, existing.case_ref))
            view = await _add_to_existing(request, principal, existing, body, update_id)
            return await _answer_opened(request, principal, view, created=False)

        # 3. A new case, under a reference no case has had.
        ref = await run_db(request, _unused_ref)
        if key is not None:
            ref = await run_db(request, lambda s: _reserve_key(s, key, principal, ref))
        view = await _open_or_update(request, principal, ref, body, update_id)
        return await _answer_opened(request, principal, view, created=True)


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
        (body.absence_days or body.expected_return)
        and stage
        and is_allowed(stage, Action.RECORD_ABSENCE_DAYS)
    ):
        command = RecordAbsenceDays(
            days=body.absence_days, expected_return=body.expected_return, actor=principal.actor
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


async def _answer_opened(
    request: Request, principal: Principal, view: CaseView, *, created: bool
) -> Response:
    ref = view.state.case_ref
    headers = {"Location": f"/cases/{ref}"}
    return await answer_view(
        request,
        principal,
        view,
        "case view (notification)",
        status_code=201 if created else 200,
        headers=headers,
    )


# ------------------------------------------------------------------------------------------------
# GET /cases, /cases/{ref}, /cases/{ref}/timeline
# ------------------------------------------------------------------------------------------------


def summary_of(row: CaseRow) -> CaseSummary:
    return CaseSummary(
        case_ref=row.case_ref,
        school_urn=row.school_urn,
        stage=row.stage,
        officer=row.officer,
        opened_at=row.opened_at,
        first_day_of_absence=row.first_day_of_absence,
        threshold_date=row.threshold_date,
        provision_started_on=row.provision_started_on,
        next_deadline=row.next_deadline,
        overdue=row.overdue,
        stalled=row.stalled,
        last_progress_on=row.last_progress_on,
        provision_kinds=[k for k in (row.provision_kinds or "").split(",") if k],
        close_outcome=row.close_outcome,
        closed_on=row.closed_on,
    )


@router.get(
    "/cases",
    summary="List cases",
    description="Cases matching every filter given, the nearest deadline first. A school key sees its "
    "own schools' cases only. No personal or health data.",
    response_model=CaseList,
    responses=problem_responses(401, 403, 422, 503),
)
def list_cases(
    request: Request,
    stage: Stage | None = Query(None, description="Only cases in this stage"),
    school_urn: str | None = Query(None, pattern=r"^\d{6}$", description="Only this school's cases"),
    officer: str | None = Query(None, max_length=64, description="Only this named officer's cases"),
    overdue: bool | None = Query(None, description="Only overdue (true) or not overdue (false) cases"),
    stalled: bool | None = Query(None, description="Only stalled (true) or moving (false) cases"),
    due_before: date | None = Query(None, description="Only cases with a deadline before this date"),
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0, le=10_000_000),
    principal: Principal = Depends(require_school_or_staff),
) -> Response:
    scope = sorted(principal.school_urns) if principal.is_school else None
    with session_scope(services(request).engine) as session:
        rows, total = case_queries.list_cases(
            session,
            school_urns=scope,
            stage=stage.value if stage else None,
            school_urn=school_urn,
            officer=officer,
            overdue=overdue,
            stalled=stalled,
            due_before=due_before,
            limit=limit,
            offset=offset,
        )
        items = [summary_of(r) for r in rows]
    return json_response(CaseList(items=items, total=total, limit=limit, offset=offset))


@router.get(
    "/cases/{case_ref}",
    summary="Read a case",
    description="Caseworkers and supervisors get the whole case (`CaseView`; the read is recorded). A "
    "school gets `SchoolCaseView`: status, stage, provision, officer, review dates and pending tasks.",
    response_model=CaseView | SchoolCaseView,
    responses=problem_responses(401, 403, 404, 503),
)
async def get_case(
    request: Request,
    case_ref: str = Path(..., examples=["MN-26-7K3Q9P"]),
    principal: Principal = Depends(require_school_or_staff),
) -> Response:
    check_case_ref(case_ref)
    if principal.is_school:
        await visible_case_row(request, principal, case_ref)
    client = await temporal_client(request)
    try:
        view = await query_view(request, client.get_workflow_handle(case_ref))
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise case_not_found(case_ref) from None
        raise
    if principal.is_school and view.state.school_urn not in principal.school_urns:
        raise case_not_found(case_ref)
    return await answer_view(request, principal, view, "case view")


@router.get(
    "/cases/{case_ref}/timeline",
    summary="A case's timeline",
    description="Every event of the case, oldest first, with who did it and when.",
    response_model=Timeline,
    responses=problem_responses(401, 403, 404, 503),
)
async def get_timeline(
    request: Request,
    case_ref: str = Path(..., examples=["MN-26-7K3Q9P"]),
    principal: Principal = Depends(require_staff),
) -> Response:
    check_case_ref(case_ref)

    def _read(session: Session) -> Timeline | None:
        if session.get(CaseRow, case_ref) is None:
            return None
        record_access(session, principal, case_ref, "timeline")
        events = [
            TimelineEntry(
                seq=e.seq,
                at=e.at,
                actor=TimelineActor(role=e.actor_role, name=e.actor_name),
                action=e.action,
                summary=e.summary,
            )
            for e in case_queries.get_timeline(session, case_ref)
        ]
        return Timeline(case_ref=case_ref, events=events)

    timeline = await run_db(request, _read)
    if timeline is None:
        raise case_not_found(case_ref)
    return json_response(timeline)


# ------------------------------------------------------------------------------------------------
# POST /cases/{ref}/<action>
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ActionRoute:
    action: Action
    slug: str
    command: type[BaseModel]
    summary: str
    roles: tuple[Role, ...] = STAFF
    example: dict[str, Any] | None = None


#: What a school key may do to its own pupils' cases (besides notifying): record absences, add notes.
SCHOOL_ACTIONS: frozenset[Action] = frozenset({Action.RECORD_ABSENCE_DAYS, Action.ADD_NOTE})
_SCHOOL_AND_STAFF = (Role.SCHOOL, *STAFF)

ACTION_ROUTES: tuple[ActionRoute, ...] = (
    ActionRoute(
        Action.RECORD_ABSENCE_DAYS,
        "absences",
        RecordAbsenceDays,
        "Record school days missed",
        _SCHOOL_AND_STAFF,
        {"days": ["2026-01-19", "2026-01-20"], "expected_return": "2026-03-02"},
    ),
    ActionRoute(Action.REQUEST_CONSENT, "consent-request", RequestConsent, "Ask the parent for consent"),
    ActionRoute(
        Action.RECORD_CONSENT,
        "consent",
        RecordConsent,
        "Record the parent's consent decision",
        example={
            "decision": "granted",
            "professionals": [{"id": "consultant-1", "name": "Dr A Consultant", "role": "consultant"}],
        },
    ),
    ActionRoute(
        Action.REQUEST_EVIDENCE,
        "evidence-requests",
        RequestEvidence,
        "Ask health professionals for evidence",
        example={"professional_ids": ["consultant-1"]},
    ),
    ActionRoute(
        Action.RECORD_EVIDENCE,
        "evidence",
        RecordEvidence,
        "Record evidence received (upload the document first)",
        example={"document_ref": "doc-" + "0" * 64, "kind": "gp_letter", "professional_id": None},
    ),
    ActionRoute(
        Action.DECIDE,
        "decision",
        Decide,
        "Decide the referral",
        example={"outcome": "la_provision", "reason": "GP letter confirms the child cannot attend."},
    ),
    ActionRoute(
        Action.COMMISSION_PROVISION,
        "provisions",
        CommissionProvision,
        "Commission provision",
        example={
            "provisions": [
                {
                    "kind": "home_tuition",
                    "provider": "County Home Tuition Service",
                    "hours_per_week": "25",
                    "start_date": "2026-02-02",
                    "weekly_cost": "450.00",
                }
            ],
            "officer": "officer-jb",
        },
    ),
    ActionRoute(
        Action.ASSIGN_OFFICER,
        "officer",
        AssignOfficer,
        "Name the education officer",
        example={"officer": "officer-jb"},
    ),
    ActionRoute(
        Action.SCHEDULE_REVIEW,
        "reviews",
        ScheduleReview,
        "Schedule a TAS review",
        example={"on": "2026-03-09"},
    ),
    ActionRoute(
        Action.RECORD_REVIEW_OUTCOME,
        "review-outcomes",
        RecordReviewOutcome,
        "Record a review's outcome",
        example={"outcome": "start_reintegration", "held_on": "2026-03-09"},
    ),
    ActionRoute(
        Action.RECORD_HOSPITAL_ADMISSION,
        "hospital-admissions",
        RecordHospitalAdmission,
        "Record a hospital admission",
        example={"admitted_on": "2026-02-10", "hospital": "Leicester Royal Infirmary"},
    ),
    ActionRoute(
        Action.RECORD_HOSPITAL_DISCHARGE,
        "hospital-discharges",
        RecordHospitalDischarge,
        "Record a hospital discharge",
        example={"discharged_on": "2026-02-20"},
    ),
    ActionRoute(
        Action.AGREE_REINTEGRATION_PLAN,
        "reintegration-plan",
        AgreeReintegrationPlan,
        "Agree a reintegration plan (part-time timetable with an end date)",
        example={"start_date": "2026-03-16", "end_date": "2026-04-24", "hours_per_week": 15},
    ),
    ActionRoute(
        Action.EXTEND_REINTEGRATION,
        "reintegration-extensions",
        ExtendReintegration,
        "Extend the reintegration plan, with a reason",
        example={"new_end_date": "2026-05-22", "reason": "Fatigue after surgery; agreed at review."},
    ),
    ActionRoute(
        Action.CONFIRM_FULL_TIME_RETURN,
        "full-time-return",
        ConfirmFullTimeReturn,
        "Confirm the child is back full time",
        example={"returned_on": "2026-04-27"},
    ),
    ActionRoute(
        Action.CHANGE_SCHOOL,
        "school-change",
        ChangeSchool,
        "Record a change of school",
        example={"new_school_urn": "120002", "effective_on": "2026-04-20"},
    ),
    ActionRoute(
        Action.ADD_NOTE,
        "notes",
        AddNote,
        "Add a note",
        _SCHOOL_AND_STAFF,
        {"text": "Spoke to parent; child attending hospital school mornings."},
    ),
    ActionRoute(
        Action.CLOSE,
        "close",
        CloseCase,
        "Close the case",
        example={"outcome": "returned_full_time", "closed_on": "2026-04-27"},
    ),
)

assert {r.action for r in ACTION_ROUTES} == set(Action), "every action needs a route"  # noqa: S101


def _make_action_endpoint(spec: ActionRoute) -> Callable[..., Any]:
    body_type = body_model(spec.command)
    roles_dependency = require_roles(*spec.roles)

    async def _run(
        request: Request,
        case_ref: str,
        data: dict[str, Any],
        principal: Principal,
        idempotency_key: str | None,
    ) -> Response:
        key = check_idempotency_key(idempotency_key)
        check_case_ref(case_ref)
        if principal.is_school:
            await visible_case_row(request, principal, case_ref)
        command = build_command(spec.command, {**data, "caller_writes_read_model": True}, principal)
        update_id = f"{principal.name}:{spec.action.value}:{key}" if key else None
        view = await send_update(request, principal, case_ref, spec.action, command, update_id)
        return await answer_command(request, principal, view, f"case view (after {spec.action.value})")

    if body_type is None:

        async def endpoint_without_body(
            request: Request,
            case_ref: str = Path(..., examples=["MN-26-7K3Q9P"]),
            principal: Principal = Depends(roles_dependency),
            idempotency_key: str | None = IdempotencyKeyHeader,
        ) -> Response:
            return await _run(request, case_ref, {}, principal, idempotency_key)

        return endpoint_without_body

    examples = {"example": {"summary": spec.summary, "value": spec.example}} if spec.example else None

    async def endpoint(
        request: Request,
        body: body_type = Body(..., openapi_examples=examples),  # type: ignore[valid-type]
        case_ref: str = Path(..., examples=["MN-26-7K3Q9P"]),
        principal: Principal = Depends(roles_dependency),
        idempotency_key: str | None = IdempotencyKeyHeader,
    ) -> Response:
        return await _run(request, case_ref, body.model_dump(exclude_unset=True), principal, idempotency_key)

    return endpoint


for _spec in ACTION_ROUTES:
    _endpoint = _make_action_endpoint(_spec)
    _endpoint.__name__ = _spec.action.value
    router.add_api_route(
        f"/cases/{{case_ref}}/{_spec.slug}",
        _endpoint,
        methods=["POST"],
        summary=_spec.summary,
        description=f"Workflow update `{_spec.action.value}`. Allowed for: "
        + ", ".join(r.value for r in _spec.roles)
        + ". Answers the case's new state (`SchoolCaseView` for a school key); 409 when the case's "
        "stage does not allow it, with the actions allowed now.",
        response_model=CaseView | SchoolCaseView,
        responses=problem_responses(401, 403, 404, 409, 422, 503),
        operation_id=_spec.action.value,
    )
