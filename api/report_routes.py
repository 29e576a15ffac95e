"""Reports from the read model, as JSON (default) or CSV (`?format=csv` or `Accept: text/csv`).

None of them carries personal or health data: counts, case references, schools, stages, dates and
money. Finance keys see the recoupment reports only; caseworkers and supervisors the others.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import date
from decimal import Decimal
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field
from sqlmodel import select

from api.auth import require_finance_or_supervisor, require_staff
from api.deps import json_response, services
from api.principal import Principal
from api.problems import problem_responses
from domain.people import Role
from domain.text import NO_CONTROL_CHARACTERS
from readmodel import case_queries
from readmodel.case_queries import CaseAttention, DaysToProvision, RecoupmentTotal, StageCount
from readmodel.database import session_scope
from readmodel.tables import LedgerEntry

router = APIRouter(prefix="/reports", tags=["reports"])

FINANCE_READERS = (Role.FINANCE, Role.SUPERVISOR)
CSV_MEDIA_TYPE = "text/csv; charset=utf-8"

Format = Literal["json", "csv"]
FormatQuery = Query(None, description="`csv` for CSV; JSON otherwise (or send `Accept: text/csv`)")


class Caseload(BaseModel):
    total: int
    stages: list[StageCount]


class RecoupmentTotals(BaseModel):
    totals: list[RecoupmentTotal]
    grand_total: Decimal


class RecoupmentLineOut(BaseModel):
    case_ref: str = Field(examples=["MN-26-7K3Q9P"])
    school_urn: str
    period: str = Field(examples=["2025-26 spring"])
    from_date: date
    to_date: date
    school_days: int
    key_stage: str
    amount: Decimal


class RecoupmentLines(BaseModel):
    items: list[RecoupmentLineOut]
    count: int = Field(description="Lines on this page")
    amount: Decimal = Field(description="Sum of the lines on this page")


def wants_csv(request: Request, fmt: Format | None) -> bool:
    if fmt is not None:
        return fmt == "csv"
    accept = request.headers.get("accept", "").lower()
    return "text/csv" in accept and "application/json" not in accept


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str) and value[:1] in ("=", "+", "@", "\t", "\r", "-"):
        return "'" + value  # never let a spreadsheet run a cell as a formula
    return value


def csv_response(filename: str, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Response:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([_cell(v) for v in row])
    return Response(
        content=buffer.getvalue(),
        media_type=CSV_MEDIA_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{filename}.csv"'},
    )


def _csv_doc(example: str) -> dict[int | str, dict[str, Any]]:
    return {200: {"content": {"text/csv": {"example": example}}}, **problem_responses(401, 403, 422, 503)}


@router.get(
    "/caseload",
    summary="Caseload by stage",
    response_model=Caseload,
    responses=_csv_doc("stage,cases\r\nnotified,4\r\n"),
)
def caseload(
    request: Request,
    format: Format | None = FormatQuery,  # noqa: A002 - the public query parameter's name
    principal: Principal = Depends(require_staff),
) -> Response:
    with session_scope(services(request).engine) as session:
        stages = case_queries.caseload_by_stage(session)
    if wants_csv(request, format):
        return csv_response("caseload", ["stage", "cases"], ((s.stage, s.cases) for s in stages))
    return json_response(Caseload(total=sum(s.cases for s in stages), stages=stages))


@router.get(
    "/overdue",
    summary="Overdue and stalled cases",
    description="Open cases that are overdue or stalled, the most urgent deadline first.",
    response_model=case_queries.OverdueAndStalled,
    responses=_csv_doc(
        "case_ref,school_urn,stage,officer,next_deadline,overdue,stalled,last_progress_on\r\n"
        "MN-26-7K3Q9P,120001,deciding,officer-jb,2026-02-02,true,false,2026-01-20\r\n"
    ),
)
def overdue(
    request: Request,
    format: Format | None = FormatQuery,  # noqa: A002
    principal: Principal = Depends(require_staff),
) -> Response:
    with session_scope(services(request).engine) as session:
        report = case_queries.overdue_and_stalled(session)
    if wants_csv(request, format):
        fields = list(CaseAttention.model_fields)
        return csv_response("overdue", fields, ([getattr(c, f) for f in fields] for c in report.cases))
    return json_response(report)


@router.get(
    "/days-to-provision",
    summary="School days from the 15-day point to provision",
    description="School days from the day the 15th day of absence falls to provision starting: median "
    "and 90th percentile, against the statutory expectation (provision in place by then: 0 days).",
    response_model=DaysToProvision,
    responses=_csv_doc(
        "cases,median_days,p90_days,expected_days,on_time,on_time_share,waiting,notified_late,unmeasurable\r\n"
        "12,3.5,9,0,4,0.286,2,1,0\r\n"
    ),
)
async def days_to_provision(
    request: Request,
    format: Format | None = FormatQuery,  # noqa: A002
    principal: Principal = Depends(require_staff),
) -> Response:
    svc = services(request)

    def _compute() -> DaysToProvision:
        with session_scope(svc.engine) as session:
            return case_queries.days_to_provision(session, svc.calendar, today=date.today())

    report = await run_in_threadpool(_compute)
    if wants_csv(request, format):
        fields = list(DaysToProvision.model_fields)
        return csv_response("days-to-provision", fields, [[getattr(report, f) for f in fields]])
    return json_response(report)


@router.get(
    "/recoupment",
    summary="Recoupment by school and term",
    description="What each school is charged per term (and at settlement), from the finance ledger.",
    response_model=RecoupmentTotals,
    responses=_csv_doc("school_urn,period,amount,lines\r\n120001,2025-26 spring,1234.56,3\r\n"),
)
def recoupment(
    request: Request,
    format: Format | None = FormatQuery,  # noqa: A002
    principal: Principal = Depends(require_finance_or_supervisor),
) -> Response:
    with session_scope(services(request).engine) as session:
        totals = case_queries.recoupment_by_school_and_term(session)
    if wants_csv(request, format):
        return csv_response(
            "recoupment",
            ["school_urn", "period", "amount", "lines"],
            ((t.school_urn, t.period, f"{t.amount:.2f}", t.lines) for t in totals),
        )
    return json_response(
        RecoupmentTotals(totals=totals, grand_total=sum((t.amount for t in totals), Decimal(0)))
    )


@router.get(
    "/recoupment/lines",
    summary="Recoupment lines",
    description="Every ledger line: case reference, school, period, dates, school days, key stage, amount.",
    response_model=RecoupmentLines,
    responses=_csv_doc(
        "case_ref,school_urn,period,from_date,to_date,school_days,key_stage,amount\r\n"
        "MN-26-7K3Q9P,120001,2025-26 spring,2026-02-02,2026-02-13,10,ks3,367.60\r\n"
    ),
)
def recoupment_lines(
    request: Request,
    school_urn: str | None = Query(None, pattern=r"^\d{6}$"),
    period: str | None = Query(None, max_length=40, pattern=NO_CONTROL_CHARACTERS),
    format: Format | None = FormatQuery,  # noqa: A002
    limit: int = Query(1000, ge=1, le=10_000),
    offset: int = Query(0, ge=0, le=10_000_000),
    principal: Principal = Depends(require_finance_or_supervisor),
) -> Response:
    with session_scope(services(request).engine) as session:
        statement = select(LedgerEntry)
        if school_urn is not None:
            statement = statement.where(LedgerEntry.school_urn == school_urn)
        if period is not None:
            statement = statement.where(LedgerEntry.period == period)
        entries = list(
            session.exec(
                statement.order_by(LedgerEntry.school_urn, LedgerEntry.from_date, LedgerEntry.case_ref)
                .offset(offset)
                .limit(limit)
            )
        )
    items = [
        RecoupmentLineOut(
            case_ref=e.case_ref,
            school_urn=e.school_urn,
            period=e.period,
            from_date=e.from_date,
            to_date=e.to_date,
            school_days=e.school_days,
            key_stage=e.key_stage,
            amount=Decimal(str(e.amount)).quantize(Decimal("0.01")),
        )
        for e in entries
    ]
    if wants_csv(request, format):
        fields = list(RecoupmentLineOut.model_fields)
        return csv_response(
            "recoupment-lines",
            fields,
            ([f"{i.amount:.2f}" if f == "amount" else getattr(i, f) for f in fields] for i in items),
        )
    return json_response(
        RecoupmentLines(items=items, count=len(items), amount=sum((i.amount for i in items), Decimal(0)))
    )
