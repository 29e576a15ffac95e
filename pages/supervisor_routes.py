"""The supervisor's pages: cases needing attention (overdue, stalled, technically stuck
(`pages.stuck_cases`), escalated reviews, emails whose sending is unconfirmed), the caseload by stage and school days from the 15-day point to provision
(each chart with its figures as a table), each case linked to its workflow in the Temporal UI, and
the access records (who read which case's health data, by name).

This module deliberately does not use `from __future__ import annotations`, like every route module."""

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Query, Request, Response
from sqlmodel import Session, select

from api.deps import run_db, services, temporal_client
from infra.accounts import display_names
from pages.stuck_cases import LIMIT, technically_stuck
from pages.web import PageRoute, SignedIn, render, require_supervisor
from readmodel import case_queries
from readmodel.tables import AccessRecord, FailingActivity, SentEmail, TaskRow

router = APIRouter(route_class=PageRoute, include_in_schema=False)


@router.get("/supervisor/attention")
async def needs_attention(request: Request, who: SignedIn = Depends(require_supervisor)) -> Response:
    svc = services(request)
    today = datetime.now(UTC).date()

    def _read(session: Session) -> dict[str, Any]:
        report = case_queries.overdue_and_stalled(session)
        escalated = list(session.exec(select(TaskRow).where(TaskRow.escalated == True)  # noqa: E712
                                      .order_by(TaskRow.due_on).limit(200)))
        emails = list(session.exec(select(SentEmail).where(SentEmail.status != "sent")
                                   .order_by(SentEmail.status_changed_at).limit(200)))
        stages = case_queries.caseload_by_stage(session)
        to_provision = case_queries.days_to_provision(session, svc.calendar, today)
        names = display_names(session, [c.officer for c in report.cases if c.officer])
        failing = list(session.exec(select(FailingActivity).order_by(
            FailingActivity.last_failed_at.desc()).limit(LIMIT)))  # type: ignore[attr-defined]
        return {"report": report, "escalated": escalated, "emails": emails, "stages": stages,
                "to_provision": to_provision, "names": names, "failing": failing}

    data = await run_db(request, _read)
    data["stuck"] = await technically_stuck(lambda: temporal_client(request), data.pop("failing"))
    ui = f"{svc.settings.ui_origin}/namespaces/{svc.settings.temporal_namespace}/workflows"
    most = max([s.cases for s in data["stages"]] or [1]) or 1
    return render(request, "supervisor/attention.html", {
        "title": "Cases needing attention", "temporal_ui": ui, "most": most, **data,
    }, who=who)


@router.get("/supervisor/access")
async def access_records(request: Request, case_ref: str | None = Query(None, max_length=20),
                         who: SignedIn = Depends(require_supervisor)) -> Response:
    def _read(session: Session) -> tuple[list[AccessRecord], dict[str, str]]:
        statement = select(AccessRecord)
        if case_ref:
            statement = statement.where(AccessRecord.case_ref == case_ref)
        rows = list(session.exec(statement.order_by(AccessRecord.at.desc()).limit(200)))  # type: ignore[union-attr]
        return rows, display_names(session, [r.actor_name for r in rows])

    rows, names = await run_db(request, _read)
    return render(request, "supervisor/access.html", {
        "title": "Access records", "rows": rows, "names": names, "case_ref": case_ref or "",
    }, who=who)
