"""Giving a case a command through its workflow, shared by the notification and the command routes:
the request body of a command, the command built with the caller as actor, the `Idempotency-Key`,
the update itself, and the answer (the view for this caller, written to the read model in the same
transaction as the access record).

This module deliberately does not use `from __future__ import annotations`: `body_model` builds
request models that FastAPI must be able to resolve.
"""

import asyncio
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from fastapi import Header, Request, Response
from pydantic import BaseModel, ConfigDict, ValidationError, create_model
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session
from temporalio.client import WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from api.auth import case_not_found, check_case_ref, visible_case_row
from api.case_views import school_view
from api.deps import (
    json_response,
    query_view,
    record_access,
    run_db,
    services,
    temporal_client,
    within_engine_timeout,
)
from api.principal import Principal
from api.problems import ProblemError, field_errors
from domain.case_change import CaseChange
from domain.case_commands import ReadModelWriteFailed
from domain.case_state import CaseView
from domain.stages import Action, Stage
from infra.logging import get_logger
from readmodel.case_projection import write_case_change, write_case_view
from readmodel.database import ReadModelUnavailable
from readmodel.tables import CaseRow, IdempotencyRecord

log = get_logger(__name__)

READ_MODEL_WRITE_FAILED_SIGNAL = "read_model_write_failed"
#: What a command answers with: what it changed, or (a command sent without `caller_writes_read_model`,
#: or to a case on older code) the whole view.
_ANSWER = CaseView | CaseChange
_IDEMPOTENCY_KEY_RE = re.compile(r"^[\x21-\x7e]{1,200}$")


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


def key_used_for_another_request() -> ProblemError:
    """The same `Idempotency-Key` with a different request: refused (IETF Idempotency-Key draft),
    never answered with the first request's result."""
    message = "this key was already used for a different request; send a new key with a new request"
    return ProblemError(
        422,
        f"header.Idempotency-Key: {message}",
        slug="idempotency-key-reused",
        title="Idempotency-Key reused for a different request",
        errors=[{"field": "header.Idempotency-Key", "message": message, "type": "idempotency_key_reused"}],
    )


def _command_key_row(request: Request, principal: Principal, case_ref: str, action: Action, key: str,
                     data: dict[str, Any]) -> IdempotencyRecord:
    """The record of a command's key: the key itself is stored only as a keyed hash with the case and
    action it was used for, the body as a keyed hash (it may hold personal data)."""
    keyring = services(request).keyring
    body = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return IdempotencyRecord(
        key="command:" + keyring.keyed_hash(f"{case_ref}|{action.value}|{key}"),
        api_key_name=principal.name,
        case_ref=case_ref,
        created_at=datetime.now(UTC),
        request_hash=keyring.keyed_hash(f"command|{action.value}|{body}"),
    )


async def send_keyed_update(
    request: Request,
    principal: Principal,
    case_ref: str,
    action: Action,
    command: BaseModel,
    key: str | None,
    data: dict[str, Any],
) -> CaseView | CaseChange:
    """`send_update` under an `Idempotency-Key`: the same key and body is applied once (the same
    update id); the same key with a different body is refused with 422. A command the case refuses
    does not spend its key, so the corrected command may be sent under it."""
    if key is None:
        return await send_update(request, principal, case_ref, action, command, None)
    row = _command_key_row(request, principal, case_ref, action, key, data)

    def _claim(session: Session) -> bool:
        existing = session.get(IdempotencyRecord, (row.key, principal.name))
        if existing is None:
            try:
                with session.begin_nested():
                    session.add(IdempotencyRecord.model_validate(row.model_dump()))
                return True
            except IntegrityError:  # the same key at the same moment
                existing = session.get(IdempotencyRecord, (row.key, principal.name))
        if existing is not None and existing.request_hash not in (None, row.request_hash):
            raise key_used_for_another_request()
        return False

    def _release(session: Session) -> None:
        existing = session.get(IdempotencyRecord, (row.key, principal.name))
        if existing is not None and existing.request_hash == row.request_hash:
            session.delete(existing)

    claimed = await run_db(request, _claim)
    try:
        return await send_update(request, principal, case_ref, action, command,
                                 f"{principal.name}:{action.value}:{key}")
    except (WorkflowUpdateFailedError, ProblemError):
        if claimed:
            await run_db(request, _release)
        raise


IdempotencyKeyHeader = Header(
    None,
    alias="Idempotency-Key",
    description="Optional. The same key from the same access key gives the same result once: "
    "a retried command is applied once. The same key with a different body answers 422.",
    examples=["3f0c2a1e-8f4b-4d59-9a53-7b1f5d0c9e21"],
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


async def write_command_answer(request: Request, principal: Principal, answer: CaseView | CaseChange,
                               what: str) -> CaseView:
    """Write the answer to a command the API sent with `caller_writes_read_model` to the read model,
    in the same transaction as the staff read's access record, so lists show the command the moment
    it answers; and return the whole case as the command left it.

    The case answers with only what the command changed (`CaseChange`); the whole case is that
    applied to the lists the read model holds (`write_case_change`). If those are not the lists the
    command began from (an earlier write failed or has not landed, or the case predates them), the
    whole case is read from the workflow (the `view` query adds nothing to history) and written whole.
    A case still on code from before bounded answers answers with the whole view (a deploy's first
    minutes): that is written as it is.

    If the write fails the case is told and writes it itself; a staff caller then gets 503 (their read
    could not be recorded), a school its answer."""
    keyring = services(request).keyring
    ref = answer.state.case_ref if isinstance(answer, CaseView) else answer.case_ref
    version = answer.state.version if isinstance(answer, CaseView) else answer.version

    def _write(session: Session) -> CaseView | None:
        if not principal.is_school:
            record_access(session, principal, ref, what)
        if isinstance(answer, CaseView):
            write_case_view(session, answer, keyring, datetime.now(UTC))
            return answer
        return write_case_change(session, answer, keyring, datetime.now(UTC))

    def _write_whole(view: CaseView) -> Callable[[Session], CaseView]:
        def _whole(session: Session) -> CaseView:
            write_case_view(session, view, keyring, datetime.now(UTC))
            return view
        return _whole

    try:
        view = await run_db(request, _write)
        if view is None:  # a gap in what the read model holds: the whole case from the workflow
            view = await _whole_case(request, ref)
            await run_db(request, _write_whole(view))
        return view
    except ReadModelUnavailable:
        await _tell_case_read_model_write_failed(request, ref, version)
        if not principal.is_school:
            raise
    except Exception as exc:  # noqa: BLE001 - the database refused the rows: the case's own write reports it
        log.warning("read_model_write_refused", case_ref=ref, error_type=type(exc).__name__)
        await _tell_case_read_model_write_failed(request, ref, version)
        if not principal.is_school:
            await run_db(request, lambda s: record_access(s, principal, ref, what))
    return answer if isinstance(answer, CaseView) else await _whole_case(request, ref)


async def answer_command(request: Request, principal: Principal, answer: CaseView | CaseChange,
                         what: str) -> Response:
    """The HTTP answer to a command: the whole case as it left it (`write_command_answer`), redacted
    for a school."""
    view = await write_command_answer(request, principal, answer, what)
    return json_response(school_view(view) if principal.is_school else view, 200)


async def _whole_case(request: Request, case_ref: str) -> CaseView:
    client = await temporal_client(request)
    return await query_view(request, client.get_workflow_handle(case_ref))


async def _tell_case_read_model_write_failed(request: Request, case_ref: str, version: int) -> None:
    """Best effort: if even this signal is lost, the case checks its read model within minutes."""
    try:
        client = await temporal_client(request)
        handle = client.get_workflow_handle(case_ref)
        async with asyncio.timeout(5):
            await handle.signal(READ_MODEL_WRITE_FAILED_SIGNAL, ReadModelWriteFailed(version=version))
    except Exception:  # noqa: BLE001 - the answer must not fail for this
        log.warning("read_model_write_failed_signal_lost", case_ref=case_ref)


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
) -> CaseView | CaseChange:
    """Send a command; the same update id (from an `Idempotency-Key`) is applied once. A command sent
    with `caller_writes_read_model` answers with what it changed (`CaseChange`, see
    `write_command_answer`); others, and every command to a case on older code, with the whole view."""
    client = await temporal_client(request)
    handle = client.get_workflow_handle(case_ref)
    try:
        return await within_engine_timeout(handle.execute_update(action.value, command, id=update_id, result_type=_ANSWER))
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            raise await _closed_or_missing(request, case_ref, action) from None
        raise


async def read_visible_case(request: Request, principal: Principal, case_ref: str) -> CaseView:
    """The case's view from its workflow, for a caller who may see it: a school sees only its own
    pupils' cases (another's, or one that does not exist, is a 404). The read is not recorded here:
    the caller records it (`answer_view`, or with its own reads)."""
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
    return view
