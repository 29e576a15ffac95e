"""`POST /cases/{ref}/<action>`: one route per caseworker action, built from `ACTION_ROUTES`. Each
route's body is the action's command (`domain.case_transitions.COMMAND_TYPES`) without the fields
the API fills in; the command goes to the case's workflow as an update and answers the case's new
state.

This module deliberately does not use `from __future__ import annotations`: the routes are built
in a loop and FastAPI must see each route's real body model.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Body, Depends, Path, Request, Response
from pydantic import BaseModel

from api.auth import check_case_ref, require_roles, visible_case_row
from api.case_updates import (
    IdempotencyKeyHeader,
    answer_command,
    body_model,
    build_command,
    check_idempotency_key,
    send_keyed_update,
)
from api.case_views import SCHOOL_ACTIONS, SchoolCaseView
from api.principal import STAFF, Principal
from api.problems import problem_responses
from domain.case_state import CaseView
from domain.case_transitions import COMMAND_TYPES
from domain.people import Role
from domain.stages import Action

router = APIRouter(tags=["cases"])


@dataclass(frozen=True)
class ActionRoute:
    """How an action is offered over HTTP: its path slug, its summary, who may send it and an example
    body. Its command type is the one its rule declares (`COMMAND_TYPES`)."""

    action: Action
    slug: str
    summary: str
    example: dict[str, Any] | None = None
    only: tuple[Role, ...] | None = None  # who may send it, when not everyone the action's kind allows

    @property
    def command(self) -> type[BaseModel]:
        return COMMAND_TYPES[self.action]

    @property
    def roles(self) -> tuple[Role, ...]:
        if self.only is not None:
            return self.only
        return (Role.SCHOOL, *STAFF) if self.action in SCHOOL_ACTIONS else STAFF


ACTION_ROUTES: tuple[ActionRoute, ...] = (
    ActionRoute(
        Action.RECORD_ABSENCE_DAYS,
        "absences",
        "Record school days missed",
        {"days": ["2026-01-19", "2026-01-20"], "expected_return": "2026-03-02"},
    ),
    ActionRoute(Action.REQUEST_CONSENT, "consent-request", "Ask the parent for consent"),
    ActionRoute(
        Action.RECORD_CONSENT,
        "consent",
        "Record the parent's consent decision",
        example={
            "decision": "granted",
            "professionals": [{"id": "consultant-1", "name": "Dr A Consultant", "role": "consultant"}],
        },
    ),
    ActionRoute(
        Action.REQUEST_EVIDENCE,
        "evidence-requests",
        "Ask health professionals for evidence",
        example={"professional_ids": ["consultant-1"]},
    ),
    ActionRoute(
        Action.RECORD_EVIDENCE,
        "evidence",
        "Record evidence received (upload the document first)",
        example={"document_ref": "doc-" + "0" * 64, "kind": "gp_letter", "professional_id": None},
    ),
    ActionRoute(
        Action.DECIDE,
        "decision",
        "Decide the referral",
        example={"outcome": "la_provision", "reason": "GP letter confirms the child cannot attend."},
    ),
    ActionRoute(
        Action.COMMISSION_PROVISION,
        "provisions",
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
        "Name the education officer",
        example={"officer": "officer-jb"},
    ),
    ActionRoute(
        Action.SCHEDULE_REVIEW,
        "reviews",
        "Schedule a TAS review",
        example={"on": "2026-03-09"},
    ),
    ActionRoute(
        Action.RECORD_REVIEW_OUTCOME,
        "review-outcomes",
        "Record a review's outcome",
        example={"outcome": "start_reintegration", "held_on": "2026-03-09"},
    ),
    ActionRoute(
        Action.RECORD_HOSPITAL_ADMISSION,
        "hospital-admissions",
        "Record a hospital admission",
        example={"admitted_on": "2026-02-10", "hospital": "Leicester Royal Infirmary"},
    ),
    ActionRoute(
        Action.RECORD_HOSPITAL_DISCHARGE,
        "hospital-discharges",
        "Record a hospital discharge",
        example={"discharged_on": "2026-02-20"},
    ),
    ActionRoute(
        Action.AGREE_REINTEGRATION_PLAN,
        "reintegration-plan",
        "Agree a reintegration plan (part-time timetable with an end date)",
        example={"start_date": "2026-03-16", "end_date": "2026-04-24", "hours_per_week": 15},
    ),
    ActionRoute(
        Action.EXTEND_REINTEGRATION,
        "reintegration-extensions",
        "Extend the reintegration plan, with a reason",
        example={"new_end_date": "2026-05-22", "reason": "Fatigue after surgery; agreed at review."},
    ),
    ActionRoute(
        Action.CONFIRM_FULL_TIME_RETURN,
        "full-time-return",
        "Confirm the child is back full time",
        example={"returned_on": "2026-04-27"},
    ),
    ActionRoute(
        Action.CHANGE_SCHOOL,
        "school-change",
        "Record a change of school",
        example={"new_school_urn": "120002", "effective_on": "2026-04-20"},
    ),
    ActionRoute(
        Action.ADD_NOTE,
        "notes",
        "Add a note",
        {"text": "Spoke to parent; child attending hospital school mornings."},
    ),
    ActionRoute(
        Action.CLOSE,
        "close",
        "Close the case",
        example={"outcome": "returned_full_time", "closed_on": "2026-04-27"},
    ),
    ActionRoute(
        Action.REOPEN,
        "reopen",
        "Reopen a case closed in error (supervisors, within the reopening window, with a reason)",
        example={"reason": "Closed under the wrong case reference; the child has not returned."},
        only=(Role.SUPERVISOR,),
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
        view = await send_keyed_update(request, principal, case_ref, spec.action, command, key, data)
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
