"""How a case is shown to each caller: the school's view of its pupil's case (no health summary,
notes, evidence or professionals), the list row (no personal or health data at all) and the
timeline."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, Field

from domain.case_commands import CloseOutcome
from domain.case_state import CaseView, TaskKind
from domain.people import Role
from domain.provision import ProvisionKind
from domain.stages import Action, Stage, is_allowed
from readmodel.tables import CaseRow

#: What a school key may do to its own pupils' cases (besides notifying): record absences, add notes.
SCHOOL_ACTIONS: frozenset[Action] = frozenset({Action.RECORD_ABSENCE_DAYS, Action.ADD_NOTE})


class SchoolChild(BaseModel):
    given_name: str
    family_name: str
    upn: str | None = None


class SchoolProvision(BaseModel):
    kind: ProvisionKind
    hours_per_week: Decimal
    start_date: date
    end_date: date | None = None


class SchoolReview(BaseModel):
    due_on: date
    scheduled_on: date | None = None
    held_on: date | None = None


class SchoolReintegration(BaseModel):
    start_date: date
    end_date: date
    hours_per_week: float


class SchoolTask(BaseModel):
    kind: TaskKind
    description: str
    assignee_role: str
    due_on: date
    overdue: bool


class SchoolCaseView(BaseModel):
    """What a school sees of its pupil's case: no health detail, notes, evidence or professionals."""

    case_ref: str = Field(examples=["MN-26-7K3Q9P"])
    status: Literal["open", "closed"]
    stage: Stage
    school_urn: str
    child: SchoolChild
    first_day_of_absence: date
    expected_return: date | None
    absence_days_recorded: int
    threshold_date: date | None
    officer: str | None
    provisions: list[SchoolProvision]
    provision_started_on: date | None
    reviews: list[SchoolReview]
    reintegration: SchoolReintegration | None
    returned_full_time_on: date | None
    closed_on: date | None
    close_outcome: CloseOutcome | None
    pending_tasks: list[SchoolTask]
    allowed_actions: list[str] = Field(description="What this school key may do now")
    next_deadline: date | None
    overdue: bool


class CaseSummary(BaseModel):
    """A case as lists show it: no personal or health data."""

    case_ref: str
    school_urn: str
    stage: str
    officer: str | None
    opened_at: datetime
    first_day_of_absence: date
    threshold_date: date | None
    provision_started_on: date | None
    next_deadline: date | None
    overdue: bool
    stalled: bool
    last_progress_on: date
    provision_kinds: list[str]
    close_outcome: str | None
    closed_on: date | None


class CaseList(BaseModel):
    items: list[CaseSummary]
    total: int = Field(description="How many cases match the filters, over all pages")
    limit: int
    offset: int


class TimelineActor(BaseModel):
    role: str
    name: str


class TimelineEntry(BaseModel):
    seq: int
    at: datetime
    actor: TimelineActor
    action: str
    summary: str


class Timeline(BaseModel):
    case_ref: str
    events: list[TimelineEntry]


def school_actions(stage: Stage) -> list[str]:
    return sorted(a.value for a in SCHOOL_ACTIONS if is_allowed(stage, a))


def school_view(view: CaseView) -> SchoolCaseView:
    s = view.state
    return SchoolCaseView(
        case_ref=s.case_ref,
        status="closed" if s.stage is Stage.CLOSED else "open",
        stage=s.stage,
        school_urn=s.school_urn,
        child=SchoolChild(given_name=s.child.given_name, family_name=s.child.family_name, upn=s.child.upn),
        first_day_of_absence=s.first_day_of_absence,
        expected_return=s.expected_return,
        absence_days_recorded=len(s.absence_days),
        threshold_date=s.threshold_date,
        officer=s.officer,
        provisions=[
            SchoolProvision(
                kind=p.kind, hours_per_week=p.hours_per_week, start_date=p.start_date, end_date=p.end_date
            )
            for p in s.provisions
        ],
        provision_started_on=s.provision_started_on,
        reviews=[
            SchoolReview(due_on=r.due_on, scheduled_on=r.scheduled_on, held_on=r.held_on) for r in s.reviews
        ],
        reintegration=(
            SchoolReintegration(
                start_date=s.reintegration.start_date,
                end_date=s.reintegration.end_date,
                hours_per_week=s.reintegration.hours_per_week,
            )
            if s.reintegration is not None
            else None
        ),
        returned_full_time_on=s.returned_full_time_on,
        closed_on=s.closed_on,
        close_outcome=s.close_outcome,
        pending_tasks=[
            SchoolTask(
                kind=t.kind,
                description=t.description,
                assignee_role=t.assignee_role.value
                if isinstance(t.assignee_role, Role)
                else str(t.assignee_role),
                due_on=t.due_on,
                overdue=t.overdue,
            )
            for t in view.pending_tasks
        ],
        allowed_actions=school_actions(s.stage),
        next_deadline=view.next_deadline,
        overdue=view.overdue,
    )


def summary_of(row: CaseRow) -> CaseSummary:
    return CaseSummary(
        case_ref=row.case_ref,
        school_urn=row.school_urn,
        stage=row.stage,
        officer=row.officer,
        opened_at=row.opened_at,
        first_day_of_absence=row.first_day_of_absence,
        threshold_date=row.threshold_date,
        provision_started_on=row.provision_started_on,
        next_deadline=row.next_deadline,
        overdue=row.overdue,
        stalled=row.stalled,
        last_progress_on=row.last_progress_on,
        provision_kinds=[k for k in (row.provision_kinds or "").split(",") if k],
        close_outcome=row.close_outcome,
        closed_on=row.closed_on,
    )
