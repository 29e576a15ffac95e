"""What the API lists and reports, read from the SQL read model. Nothing here decrypts personal data.

Filters take `None` for "any". `school_urns` is the access scope of a school key: `None` means every
school, a list means only those schools (an empty list sees nothing). `due_before` is exclusive: a
case or task due on that date is not "due before" it.

Lists are sorted on indexed columns and paginated with `limit`/`offset`; each returns the page and
the total number of matches."""

import math
import statistics
from collections.abc import Callable, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from pydantic import BaseModel
from sqlalchemy import BigInteger, cast, false, func, select
from sqlalchemy.sql import Select
from sqlmodel import Session

from domain.school_calendar import SchoolCalendar
from domain.stages import Stage
from readmodel.tables import CaseRow, LedgerEntry, TaskRow, TimelineRow

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
CLOSED = Stage.CLOSED.value


def _page(limit: int, offset: int) -> tuple[int, int]:
    return max(1, min(int(limit), MAX_LIMIT)), max(0, int(offset))


def _scoped(statement: Select[Any], column: Any, school_urns: Sequence[str] | None) -> Select[Any]:
    if school_urns is None:
        return statement
    if not school_urns:
        return statement.where(false())
    return statement.where(column.in_(list(school_urns)))


def _count(session: Session, statement: Select[Any]) -> int:
    return session.scalar(select(func.count()).select_from(statement.order_by(None).subquery())) or 0


# ------------------------------------------------------------------------------------------------
# Cases, timeline, tasks
# ------------------------------------------------------------------------------------------------


def list_cases(
    session: Session,
    *,
    school_urns: Sequence[str] | None = None,
    stage: str | None = None,
    school_urn: str | None = None,
    officer: str | None = None,
    overdue: bool | None = None,
    stalled: bool | None = None,
    due_before: date | None = None,
    limit: int = DEFAULT_LIMIT,
    offset: int = 0,
) -> tuple[list[CaseRow], int]:
    """Cases matching every filter given, by next deadline (cases without one last), then reference."""
    limit, offset = _page(limit, offset)
    statement = _scoped(select(CaseRow), CaseRow.school_urn, school_urns)
    if stage is not None:
        statement = statement.where(CaseRow.stage == str(stage))
    if school_urn is not None:
        statement = statement.where(CaseRow.school_urn == school_urn)
    if officer is not None:
        statement = statement.where(CaseRow.officer == officer)
    if overdue is not None:
        statement = statement.where(CaseRow.overdue == overdue)
    if stalled is not None:
        statement = statement.where(CaseRow.stalled == stalled)
    if due_before is not None:
        statement = statement.where(CaseRow.next_deadline < due_before)
    total = _count(session, statement)
    # Sort and skip over the narrow key column only, then load the page's full rows by primary key:
    # a deep page does not drag every earlier row (and its encrypted blob) through the sort.
    refs = list(
        session.scalars(
            statement.with_only_columns(CaseRow.case_ref)
            .order_by(CaseRow.next_deadline.is_(None), CaseRow.next_deadline, CaseRow.case_ref)
            .limit(limit)
            .offset(offset)
        )
    )
    if not refs:
        return [], total
    by_ref = {row.case_ref: row for row in session.scalars(select(CaseRow).where(CaseRow.case_ref.in_(refs)))}
    return [by_ref[ref] for ref in refs if ref in by_ref], total


def get_case(session: Session, case_ref: str) -> CaseRow | None:
    return session.get(CaseRow, case_ref)


def get_timeline(session: Session, case_ref: str) -> list[TimelineRow]:
    """Every event of a case, oldest first (by sequence number)."""
    return list(
        session.scalars(select(TimelineRow).where(TimelineRow.case_ref == case_ref).order_by(TimelineRow.seq))
    )


def list_tasks(
    session: Session,
    *,
    school_urns: Sequence[str] | None = None,
    assignee: str | None = None,
    assignee_role: str | None = None,
    overdue: bool | None = None,
    due_before: date | None = None,
    limit: int = DEFAULT_LIMIT,
    offset: int = 0,
) -> tuple[list[TaskRow], int]:
    """Pending tasks across cases matching every filter given, by due date, then case and task id."""
    limit, offset = _page(limit, offset)
    statement = _scoped(select(TaskRow), TaskRow.school_urn, school_urns)
    if assignee is not None:
        statement = statement.where(TaskRow.assignee == assignee)
    if assignee_role is not None:
        statement = statement.where(TaskRow.assignee_role == str(assignee_role))
    if overdue is not None:
        statement = statement.where(TaskRow.overdue == overdue)
    if due_before is not None:
        statement = statement.where(TaskRow.due_on < due_before)
    total = _count(session, statement)
    page = session.scalars(
        statement.order_by(TaskRow.due_on, TaskRow.case_ref, TaskRow.task_id).limit(limit).offset(offset)
    ).all()
    return list(page), total


def find_open_case_by_child_key(session: Session, child_key: str) -> CaseRow | None:
    """The open (not closed) case of a child at a school, if any; the most recently opened first."""
    return session.scalars(
        select(CaseRow)
        .where(CaseRow.child_key == child_key, CaseRow.stage != CLOSED)
        .order_by(CaseRow.opened_at.desc(), CaseRow.case_ref)
        .limit(1)
    ).first()


# ------------------------------------------------------------------------------------------------
# Reports
# ------------------------------------------------------------------------------------------------


class StageCount(BaseModel):
    stage: str
    cases: int


def caseload_by_stage(session: Session) -> list[StageCount]:
    """How many cases are in each stage, in the order of the process (stages with none show 0)."""
    counts: dict[str, int] = {
        stage: n for stage, n in session.execute(select(CaseRow.stage, func.count()).group_by(CaseRow.stage))
    }
    rows = [StageCount(stage=s.value, cases=counts.pop(s.value, 0)) for s in Stage]
    rows.extend(StageCount(stage=s, cases=n) for s, n in sorted(counts.items()))  # unknown stages, if any
    return rows


class CaseAttention(BaseModel):
    case_ref: str
    school_urn: str
    stage: str
    officer: str | None
    next_deadline: date | None
    overdue: bool
    stalled: bool
    last_progress_on: date


class OverdueAndStalled(BaseModel):
    overdue: int
    stalled: int
    both: int
    cases: list[CaseAttention]


def overdue_and_stalled(session: Session) -> OverdueAndStalled:
    """Open cases that are overdue or stalled, the most urgent deadline first."""
    rows = session.scalars(
        select(CaseRow)
        .where(CaseRow.stage != CLOSED, (CaseRow.overdue == True) | (CaseRow.stalled == True))  # noqa: E712
        .order_by(CaseRow.next_deadline.is_(None), CaseRow.next_deadline, CaseRow.case_ref)
    ).all()
    cases = [
        CaseAttention(
            case_ref=r.case_ref,
            school_urn=r.school_urn,
            stage=r.stage,
            officer=r.officer,
            next_deadline=r.next_deadline,
            overdue=r.overdue,
            stalled=r.stalled,
            last_progress_on=r.last_progress_on,
        )
        for r in rows
    ]
    return OverdueAndStalled(
        overdue=sum(c.overdue for c in cases),
        stalled=sum(c.stalled for c in cases),
        both=sum(c.overdue and c.stalled for c in cases),
        cases=cases,
    )


class DaysToProvision(BaseModel):
    """School days from the day the 15th day of absence falls (the threshold) to provision starting.

    The statutory expectation is provision in place by the threshold: 0 school days late. A case
    whose provision started on or before its threshold counts 0. `median_days` may be a half day
    (mean of the middle two); `p90_days` is the nearest-rank 90th percentile. `waiting` counts open
    cases past their threshold with no provision yet; `unmeasurable` counts cases whose dates the
    school calendar does not cover."""

    cases: int
    median_days: float | None
    p90_days: int | None
    expected_days: int = 0
    on_time: int
    on_time_share: float | None
    waiting: int
    notified_late: int = 0
    unmeasurable: int


def nearest_rank(sorted_values: Sequence[int], percentile: float) -> int:
    """The nearest-rank percentile of sorted values (non-empty)."""
    rank = max(1, math.ceil(percentile / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def days_to_provision(
    session: Session, calendar_of: Callable[[str], SchoolCalendar], today: date | None = None
) -> DaysToProvision:
    """School days from each case's 15-day point to its provision, counted on the calendar its school
    follows (`calendar_of(urn)`: the school's own term dates, else the council's)."""
    rows = session.execute(
        select(CaseRow.school_urn, CaseRow.threshold_date, CaseRow.provision_started_on).where(
            CaseRow.threshold_date.is_not(None), CaseRow.provision_started_on.is_not(None)
        )
    ).all()
    days: list[int] = []
    unmeasurable = 0
    for school_urn, threshold, started in rows:
        try:
            days.append(calendar_of(school_urn).school_days_between(threshold, started))
        except ValueError:
            unmeasurable += 1
    days.sort()
    waiting_query = select(func.count()).where(
        CaseRow.stage != CLOSED,
        CaseRow.threshold_date.is_not(None),
        CaseRow.provision_started_on.is_(None),
    )
    if today is not None:
        waiting_query = waiting_query.where(CaseRow.threshold_date <= today)
    waiting = session.scalar(waiting_query) or 0
    opened = session.execute(
        select(CaseRow.opened_at, CaseRow.threshold_date).where(CaseRow.threshold_date.is_not(None))
    ).all()
    notified_late = sum(1 for opened_at, threshold in opened if opened_at.date() > threshold)
    on_time = sum(1 for d in days if d == 0)
    return DaysToProvision(
        cases=len(days),
        median_days=float(statistics.median(days)) if days else None,
        p90_days=nearest_rank(days, 90) if days else None,
        on_time=on_time,
        on_time_share=on_time / (len(days) + waiting) if days or waiting else None,
        waiting=waiting,
        notified_late=notified_late,
        unmeasurable=unmeasurable,
    )


class RecoupmentTotal(BaseModel):
    school_urn: str
    period: str
    amount: Decimal
    lines: int


def recoupment_by_school_and_term(session: Session) -> list[RecoupmentTotal]:
    """Ledger totals per school and period (term, or "settlement"), by school then date.

    Summed in whole pence so that the total is exact on SQLite (which keeps numerics as floats)."""
    pence = func.sum(cast(func.round(LedgerEntry.amount * 100), BigInteger))
    rows = session.execute(
        select(
            LedgerEntry.school_urn, LedgerEntry.period, pence, func.count(), func.min(LedgerEntry.from_date)
        )
        .group_by(LedgerEntry.school_urn, LedgerEntry.period)
        .order_by(LedgerEntry.school_urn, func.min(LedgerEntry.from_date), LedgerEntry.period)
    ).all()
    return [
        RecoupmentTotal(
            school_urn=urn, period=period, amount=Decimal(int(total or 0)).scaleb(-2), lines=lines
        )
        for urn, period, total, lines, _first in rows
    ]
