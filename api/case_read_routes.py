"""Reading cases: the list (no personal or health data), one case (the whole view for staff, the
read recorded; the school's view for a school), and a case's timeline.

This module deliberately does not use `from __future__ import annotations`, like every route module
here: FastAPI must see the routes' real parameter types.
"""

from datetime import date

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from sqlmodel import Session

from api.auth import (
    case_not_found,
    check_case_ref,
    require_school_or_staff,
    require_staff,
)
from api.case_updates import answer_view, read_visible_case
from api.case_views import CaseList, SchoolCaseView, Timeline, TimelineActor, TimelineEntry, summary_of
from api.deps import json_response, record_access, run_db, services
from api.principal import Principal
from api.problems import problem_responses
from domain.case_state import CaseView
from domain.stages import Stage
from domain.text import NO_CONTROL_CHARACTERS
from readmodel import case_queries
from readmodel.database import session_scope
from readmodel.tables import CaseRow

router = APIRouter(tags=["cases"])


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
    officer: str | None = Query(None, max_length=64, pattern=NO_CONTROL_CHARACTERS, description="Only this named officer's cases"),
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
    view = await read_visible_case(request, principal, case_ref)
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
