"""Who read a case's health data (the whole case view, its timeline, a document, a subject access
export), and when. Supervisors only."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel
from sqlalchemy import func
from sqlmodel import select

from api.auth import require_supervisor
from api.deps import json_response, services
from api.principal import Principal
from api.problems import problem_responses
from domain.case_commands import CASE_REF_PATTERN
from domain.text import NO_CONTROL_CHARACTERS
from readmodel.database import session_scope
from readmodel.tables import AccessRecord

router = APIRouter(tags=["access"])


class AccessRecordOut(BaseModel):
    at: datetime
    actor_role: str
    actor_name: str
    case_ref: str
    what: str


class AccessRecordList(BaseModel):
    items: list[AccessRecordOut]
    total: int
    limit: int
    offset: int


@router.get(
    "/access-records",
    summary="Access records",
    description="Reads of health data, the newest first; optionally for one case or one key.",
    response_model=AccessRecordList,
    responses=problem_responses(401, 403, 422, 503),
)
def list_access_records(
    request: Request,
    case_ref: str | None = Query(None, pattern=CASE_REF_PATTERN, examples=["MN-26-7K3Q9P"]),
    actor_name: str | None = Query(None, max_length=100, pattern=NO_CONTROL_CHARACTERS),
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0, le=10_000_000),
    principal: Principal = Depends(require_supervisor),
) -> Response:
    statement = select(AccessRecord)
    if case_ref is not None:
        statement = statement.where(AccessRecord.case_ref == case_ref)
    if actor_name is not None:
        statement = statement.where(AccessRecord.actor_name == actor_name)
    with session_scope(services(request).engine) as session:
        total = session.exec(select(func.count()).select_from(statement.subquery())).one()
        rows = session.exec(
            statement.order_by(AccessRecord.at.desc(), AccessRecord.id.desc()).offset(offset).limit(limit)
        ).all()
        items = [
            AccessRecordOut(
                at=r.at, actor_role=r.actor_role, actor_name=r.actor_name, case_ref=r.case_ref, what=r.what
            )
            for r in rows
        ]
    return json_response(AccessRecordList(items=items, total=total, limit=limit, offset=offset))
