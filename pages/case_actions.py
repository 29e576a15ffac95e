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
from pages.action_forms import field_id
from pages.web import SignedIn

#: Statuses that are the person's to fix on the form (the rest are error pages).
FORM_STATUSES = frozenset({409, 413, 415, 422})


@dataclass
class Refusal:
    """Why the API refused: its detail, and its messages per form field."""

    detail: str
    fields: dict[str, str] = field(default_factory=dict)

    def summary(
        self, first_field: str | None = None, prefix: str = "", labels: dict[str, str] | None = None
    ) -> list[dict[str, str]]:
        """The error summary's list: one line per field (its label and the API's message, linking to
        it), or the detail. `prefix` is the form's, on a page with several forms."""
        if self.fields:
            names = labels or {}
            return [
                {"text": f"{names.get(fid, fid.replace('-', ' ').capitalize())}: {text}", "href": f"#{prefix}{fid}"}
                for fid, text in self.fields.items()
            ]
        target = f"#{prefix}{first_field}" if first_field else f"#{prefix}form" if prefix else "#main-content"
        return [{"text": self.detail, "href": target}]


def refusal_of(problem: dict[str, Any]) -> Refusal:
    fields: dict[str, str] = {}
    for error in problem.get("errors") or []:
        name = str(error.get("field", ""))
        if name.startswith("body."):
            name = name[len("body."):]
            fields.setdefault(field_id(name), str(error.get("message", "is not valid")))
    return Refusal(detail=str(problem.get("detail") or "This could not be done."), fields=fields)


def refusal_from(exc: Exception) -> Refusal | None:
    """The API's problem for this exception when it is one a form can show; else None."""
    if isinstance(exc, ProblemError) and exc.status in FORM_STATUSES:
        return refusal_of({"detail": exc.detail, **exc.extensions})
    if isinstance(exc, WorkflowUpdateFailedError):
        answer = update_failed_problem(None, exc)
        if answer.status_code in FORM_STATUSES:
            return refusal_of(json.loads(bytes(answer.body)))
    return None


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
