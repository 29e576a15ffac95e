"""Giving a case a command from a page, through exactly the API's path (`api.case_updates`): the same
command model and validation, the same workflow update, the same read-model write and access record.
A refusal comes back as the API's own problem (its detail and field errors), for the page to show
beside the fields in an error summary."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from pydantic import BaseModel, ValidationError
from temporalio.client import WorkflowUpdateFailedError

from api.auth import check_case_ref, visible_case_row
from api.case_updates import (
    build_command,
    check_idempotency_key,
    read_visible_case,
    send_update,
    write_command_answer,
)
from api.case_views import SCHOOL_ACTIONS
from api.deps import record_access, run_db
from api.problems import ProblemError, field_errors, update_failed_problem
from domain.case_state import CaseView
from domain.case_transitions import COMMAND_TYPES
from domain.stages import Action
from pages.action_forms import ActionForm, field_id, left_empty
from pages.web import SignedIn

#: Statuses that are the person's to fix on the form (the rest are error pages).
FORM_STATUSES = frozenset({409, 413, 415, 422})


@dataclass
class Refusal:
    """Why the API refused: its detail, and its messages per form field. `kinds` holds the type of a
    field's validation error (pydantic's: `missing`, `date_from_datetime_parsing`, ...; none for a
    rule's refusal); `worded` the fields whose message is a whole sentence in the users' words
    (`pages.form_errors`), shown as it is in the summary, where any other is put after its label."""

    detail: str
    fields: dict[str, str] = field(default_factory=dict)
    kinds: dict[str, str] = field(default_factory=dict)
    worded: frozenset[str] = frozenset()

    def summary(
        self, first_field: str | None = None, prefix: str = "", labels: dict[str, str] | None = None
    ) -> list[dict[str, str]]:
        """The error summary's list: one line per field (its message, after its label unless the
        message names the field itself, linking to it), or the detail. `prefix` is the form's, on a
        page with several forms."""
        if self.fields:
            names = labels or {}
            return [
                {"text": text if fid in self.worded else f"{names.get(fid, fid.replace('-', ' ').capitalize())}: {text}",
                 "href": f"#{prefix}{fid}"}
                for fid, text in self.fields.items()
            ]
        target = f"#{prefix}{first_field}" if first_field else f"#{prefix}form" if prefix else "#main-content"
        return [{"text": self.detail, "href": target}]


def _sentence(message: str) -> str:
    """A validator's own message (`Value error, end_date must be ...`) without pydantic's prefix."""
    for prefix in ("Value error, ", "Assertion failed, "):
        if message.startswith(prefix):
            message = message[len(prefix):]
    first = message.split(" ", 1)[0]
    return message[:1].upper() + message[1:] if first.isalpha() else message  # never `End_date`


def refusal_of(problem: dict[str, Any]) -> Refusal:
    fields: dict[str, str] = {}
    kinds: dict[str, str] = {}
    detail = _sentence(str(problem.get("detail") or "This could not be done."))
    for error in problem.get("errors") or []:
        name = str(error.get("field", ""))
        message = str(error.get("message", "is not valid"))
        if name == "body":  # the command's own cross-field check: its reason is the whole refusal
            detail = _sentence(message)
        elif name.startswith("body."):
            fid = field_id(name[len("body."):])
            if fid not in fields:
                fields[fid] = _sentence(message) if error.get("type") == "value_error" else message
                if error.get("type"):
                    kinds[fid] = str(error["type"])
    return Refusal(detail=detail, fields=fields, kinds=kinds)


def refusal_from(exc: Exception) -> Refusal | None:
    """The API's problem for this exception when it is one a form can show; else None."""
    if isinstance(exc, ProblemError) and exc.status in FORM_STATUSES:
        return refusal_of({"detail": exc.detail, **exc.extensions})
    if isinstance(exc, WorkflowUpdateFailedError):
        answer = update_failed_problem(None, exc)
        if answer.status_code in FORM_STATUSES:
            return refusal_of(json.loads(bytes(answer.body)))
    return None


def check_form(spec: ActionForm, values: dict[str, Any], data: dict[str, Any], principal: Any) -> Refusal | None:
    """The form's problems before anything is sent: the command's own validation (as the API would
    answer it) and any required field left empty, together, so that one answer names them all."""
    try:
        build_command(COMMAND_TYPES[spec.action], {**data, "caller_writes_read_model": True}, principal)
        refusal = None
    except ProblemError as exc:
        refusal = refusal_from(exc)
        if refusal is None:
            raise
    empty = left_empty(spec, values)
    if not empty:
        return refusal
    refusal = refusal or Refusal("The form is not complete.")
    for f in empty:
        refusal.fields.setdefault(f.id, "Field required")
        refusal.kinds.setdefault(f.id, "missing")
    return refusal


async def run_action(
    request: Request,
    who: SignedIn,
    case_ref: str,
    action: Action,
    data: dict[str, Any],
    idempotency_key: str | None,
) -> CaseView | Refusal:
    """Send the action as the signed-in person; the case's new view, or the API's refusal."""
    principal = who.principal
    check_case_ref(case_ref)
    if principal.is_school:
        if action not in SCHOOL_ACTIONS:
            raise ProblemError(403, "A school account may not do this.", slug="forbidden")
        await visible_case_row(request, principal, case_ref)
    try:
        key = check_idempotency_key(idempotency_key or None)
        command = build_command(COMMAND_TYPES[action], {**data, "caller_writes_read_model": True}, principal)
        update_id = f"{principal.name}:{action.value}:{key}" if key else None
        view = await send_update(request, principal, case_ref, action, command, update_id)
    except (ProblemError, WorkflowUpdateFailedError) as exc:
        refusal = refusal_from(exc)
        if refusal is None:
            raise
        return refusal
    return await write_command_answer(request, principal, view, f"case page (after {action.value})")


def refusal_of_validation(exc: ValidationError) -> Refusal:
    """A form that does not make a valid request body, named field by field as the API names them."""
    errors = field_errors([{**e, "loc": ("body", *e["loc"])} for e in exc.errors()])
    return refusal_of({"detail": "The form is not complete.", "errors": [e.model_dump() for e in errors]})


def validated(model: type[BaseModel], data: dict[str, Any]) -> BaseModel | Refusal:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        return refusal_of_validation(exc)


async def read_case(request: Request, who: SignedIn, case_ref: str, what: str, *, record: bool = True) -> CaseView:
    """The case's view through the API's path: a school sees only its own pupils' cases (another's is a
    404); a staff read of the whole case is recorded in the access records (`record=False`: the caller
    records it itself, in the same transaction as its other reads)."""
    principal = who.principal
    view = await read_visible_case(request, principal, case_ref)
    if record and not principal.is_school:
        await run_db(request, lambda s: record_access(s, principal, case_ref, what))
    return view
