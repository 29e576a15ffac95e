"""Finance's page: what each school is charged, by term, and every ledger line, with a CSV download.
Never any health data: only schools, case references, dates, school days and amounts.

This module deliberately does not use `from __future__ import annotations`, like every route module."""

import csv
import io
from decimal import Decimal

from fastapi import APIRouter, Depends, Request, Response
from sqlmodel import Session, select

from api.deps import run_db
from pages.web import PageRoute, SignedIn, render, require_finance_or_supervisor
from readmodel import case_queries
from readmodel.tables import LedgerEntry

router = APIRouter(route_class=PageRoute, include_in_schema=False)

CSV_FIELDS = ("case_ref", "school_urn", "period", "from_date", "to_date", "school_days", "key_stage", "amount")


def _lines(session: Session) -> list[LedgerEntry]:
    return list(session.exec(
        select(LedgerEntry).order_by(LedgerEntry.school_urn, LedgerEntry.from_date, LedgerEntry.case_ref)))


@router.get("/finance/recoupment")
async def recoupment(request: Request, who: SignedIn = Depends(require_finance_or_supervisor)) -> Response:
    totals, lines = await run_db(request, lambda s: (case_queries.recoupment_by_school_and_term(s), _lines(s)))
    return render(request, "finance/recoupment.html", {
        "title": "Recoupment from schools", "totals": totals, "lines": lines,
        "grand_total": sum((t.amount for t in totals), Decimal(0)),
    }, who=who)


@router.get("/finance/recoupment.csv")
async def recoupment_csv(request: Request, who: SignedIn = Depends(require_finance_or_supervisor)) -> Response:
    lines = await run_db(request, _lines)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_FIELDS)
    for line in lines:
        writer.writerow([f"{Decimal(str(line.amount)):.2f}" if f == "amount" else getattr(line, f) for f in CSV_FIELDS])
    return Response(buffer.getvalue(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="recoupment-lines.csv"'})
