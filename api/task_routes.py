"""The task inbox: what cases are waiting on, from whom, by when, across cases, by due date."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, Field

from api.auth import require_school_or_staff
from api.deps import json_response, services
from api.principal import Principal
from api.problems import problem_responses
from domain.text import NO_CONTROL_CHARACTERS
from readmodel import case_queries
from readmodel.database import session_scope
from readmodel.tables import TaskRow

router = APIRouter(tags=["tasks"])


class Task(BaseModel):
    case_ref: str = Field(examples=["MN-26-7K3Q9P"])
    task_id: str
    school_urn: str
    kind: str = Field(examples=["decide"])
    description: str
    assignee_role: str = Field(description="A role, or `parent` / `professional`")
    assignee: str | None = Field(description="The officer or professional id, when known")
    due_on: date
    overdue: bool
    escalated: bool
    case_url: str


class TaskList(BaseModel):
    items: list[Task]
    total: int
    limit: int
    offset: int


def _task(row: TaskRow, *, for_school: bool) -> Task:
    return Task(
        case_ref=row.case_ref,
        task_id=row.task_id,
        school_urn=row.school_urn,
        kind=row.kind,
        description=row.description,
        assignee_role=row.assignee_role,
        # A school sees who is responsible (a role), not which health professional is asked.
        assignee=None if for_school and row.assignee_role == "professional" else row.assignee,
        due_on=row.due_on,
        overdue=row.overdue,
        escalated=row.escalated,
        case_url=f"/cases/{row.case_ref}",
    )


@router.get(
    "/tasks",
    summary="The task inbox",
    description="Pending tasks across cases, the soonest due first. A school key sees its own "
    "schools' cases only.",
    response_model=TaskList,
    responses=problem_responses(401, 403, 422, 503),
)
def list_tasks(
    request: Request,
    assignee: str | None = Query(
        None, max_length=64, pattern=NO_CONTROL_CHARACTERS, description="Only tasks for this officer or professional"
    ),
    role: str | None = Query(
        None,
        pattern=r"^[a-z_]{1,20}$",
        description="Only tasks for this role: caseworker, supervisor, school, parent or professional",
        examples=["caseworker"],
    ),
    overdue: bool | None = Query(None, description="Only overdue (true) or not yet overdue (false) tasks"),
    due_before: date | None = Query(None, description="Only tasks due before this date"),
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0, le=10_000_000),
    principal: Principal = Depends(require_school_or_staff),
) -> Response:
    scope = sorted(principal.school_urns) if principal.is_school else None
    with session_scope(services(request).engine) as session:
        rows, total = case_queries.list_tasks(
            session,
            school_urns=scope,
            assignee=assignee,
            assignee_role=role,
            overdue=overdue,
            due_before=due_before,
            limit=limit,
            offset=offset,
        )
        items = [_task(r, for_school=principal.is_school) for r in rows]
    return json_response(TaskList(items=items, total=total, limit=limit, offset=offset))
