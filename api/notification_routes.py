"""`POST /cases`: a school's notification of an absence opens a case, or answers the case already
open for it (`api.case_opening`).

This module deliberately does not use `from __future__ import annotations`: FastAPI must see the
route's real body model.
"""

from fastapi import APIRouter, Depends, Request, Response

from api.auth import require_school_or_staff
from api.case_opening import NotifyAbsence, open_or_find_case
from api.case_updates import IdempotencyKeyHeader, answer_view
from api.case_views import SchoolCaseView
from api.principal import Principal
from api.problems import problem_responses
from domain.case_state import CaseView

router = APIRouter(tags=["cases"])


@router.post(
    "/cases",
    summary="Notify an absence and open a case",
    description="A school (or a caseworker for it) notifies that a pupil is or will be absent through "
    "illness. Answers 201 with the new case and its `Location`. Sending the same notification again "
    "(the same `Idempotency-Key`, or the same child at the same school while a case is open) answers "
    "200 with the existing case instead of opening another; any absence days sent are added to it. "
    "An `Idempotency-Key` already used for a different notification answers 422. A notification "
    "refused (422) opens nothing. `first_day_of_absence`, `expected_return` and every absence day must "
    "be school days of the case's calendar, and absence days may not be in the future.",
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
    view, created = await open_or_find_case(request, principal, body, idempotency_key)
    return await _answer_opened(request, principal, view, created=created)


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
