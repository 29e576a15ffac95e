"""The whole state of one case as the workflow holds it, and the view the API answers with."""

from datetime import date, datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from domain.case_commands import (
    AbsenceReason,
    CloseOutcome,
    DecisionOutcome,
    EvidenceKind,
    ReviewOutcome,
)
from domain.people import Actor, Child, HealthProfessional, Parent, Role
from domain.provision import Provision
from domain.recoupment import RecoupmentLine, SchoolSpell
from domain.stages import Stage


class ConsentStatus(StrEnum):
    NOT_REQUESTED = "not_requested"
    REQUESTED = "requested"
    GRANTED = "granted"
    REFUSED = "refused"
    WITHDRAWN = "withdrawn"


class TimelineEvent(BaseModel):
    """One thing that happened. `summary` is never personal: names and health detail stay in the state."""

    seq: int
    at: datetime
    actor: Actor
    action: str
    summary: str


class EvidenceRequest(BaseModel):
    professional_id: str
    requested_on: date
    received_on: date | None = None


class EvidenceItem(BaseModel):
    document_ref: str
    kind: EvidenceKind
    professional_id: str | None
    received_on: date


class Review(BaseModel):
    """A Team Around School review. `due_on` is set by the cadence; `scheduled_on` by the officer."""

    id: str
    due_on: date
    scheduled_on: date | None = None
    held_on: date | None = None
    outcome: ReviewOutcome | None = None
    notes: str | None = None
    #: The iCalendar SEQUENCE of the meeting's invitation: raised each time the meeting moves.
    invite_sequence: int = 0

    @property
    def target_date(self) -> date:
        return self.scheduled_on or self.due_on


class HospitalStay(BaseModel):
    hospital: str
    admitted_on: date
    discharged_on: date | None = None
    expected_discharge: date | None = None
    recorded_on: date | None = Field(default=None, description="When the admission was recorded")


class Extension(BaseModel):
    new_end_date: date
    reason: str
    agreed_on: date


class ReintegrationPlan(BaseModel):
    start_date: date
    end_date: date
    original_end_date: date
    hours_per_week: float
    extensions: list[Extension] = Field(default_factory=list)
    plan_document_ref: str | None = None


class Reopening(BaseModel):
    """A closure undone by a supervisor: what was closed, when, and why it was wrong (`reason` may be
    personal: it stays in the state, never on the timeline)."""

    at: datetime
    actor: Actor
    reason: str
    closed_on: date
    close_outcome: CloseOutcome
    stage_before_close: Stage


class CaseNote(BaseModel):
    at: datetime
    actor: Actor
    text: str


class SupervisorAlert(BaseModel):
    kind: str
    raised_on: date
    detail: str


class CaseState(BaseModel):
    case_ref: str
    stage: Stage = Stage.NOTIFIED
    opened_at: datetime
    school_urn: str
    child: Child
    parent: Parent
    reason: AbsenceReason
    health_summary: str | None = None
    first_day_of_absence: date
    expected_return: date | None = None
    absence_days: list[date] = Field(default_factory=list, description="Recorded school days missed")
    absence_half_days: list[date] = Field(
        default_factory=list, description="Recorded school days of which one session (of two) was missed")
    threshold_date: date | None = Field(
        default=None, description="School day on which the 15th day of absence falls (recorded or projected)"
    )
    consent: ConsentStatus = ConsentStatus.NOT_REQUESTED
    consent_requested_on: date | None = None
    consent_decided_on: date | None = None
    professionals: list[HealthProfessional] = Field(default_factory=list)
    evidence_opened_on: date | None = None
    evidence_closed_on: date | None = None
    evidence_requests: list[EvidenceRequest] = Field(default_factory=list)
    evidence: list[EvidenceItem] = Field(default_factory=list)
    decision: DecisionOutcome | None = None
    decision_reason: str | None = None
    decided_on: date | None = None
    provisions: list[Provision] = Field(default_factory=list)
    provision_started_on: date | None = None
    part_time_health_reason: str | None = None
    officer: str | None = None
    reviews: list[Review] = Field(default_factory=list)
    hospital_stays: list[HospitalStay] = Field(default_factory=list)
    reintegration: ReintegrationPlan | None = None
    returned_full_time_on: date | None = None
    school_spells: list[SchoolSpell] = Field(default_factory=list)
    notes: list[CaseNote] = Field(default_factory=list)
    alerts: list[SupervisorAlert] = Field(default_factory=list)
    close_outcome: CloseOutcome | None = None
    close_reason: str | None = None
    closed_on: date | None = None
    closed_at: datetime | None = Field(default=None, description="When the closure was recorded")
    stage_before_close: Stage | None = None
    reopenings: list[Reopening] = Field(default_factory=list)
    last_progress_on: date
    stalled: bool = False
    fired_alarms: list[str] = Field(default_factory=list, description="Timer effects already carried out")
    recoupment_lines: list[RecoupmentLine] = Field(default_factory=list)
    timeline: list[TimelineEvent] = Field(default_factory=list)

    @property
    def in_hospital(self) -> bool:
        return any(s.discharged_on is None for s in self.hospital_stays)

    @property
    def next_review(self) -> Review | None:
        return next((r for r in self.reviews if r.held_on is None), None)

    @property
    def version(self) -> int:
        """Grows with every recorded change: the read model ignores a projection older than what it holds."""
        return len(self.timeline) + len(self.fired_alarms)


class TaskKind(StrEnum):
    REQUEST_CONSENT = "request_consent"
    REPLY_TO_CONSENT = "reply_to_consent"
    FOLLOW_UP_CONSENT = "follow_up_consent"
    SEND_EVIDENCE = "send_evidence"
    DECIDE = "decide"
    PROVISION_DUE = "provision_due"
    ASSIGN_OFFICER = "assign_officer"
    COMMISSION_PROVISION = "commission_provision"
    HOLD_REVIEW = "hold_review"
    AGREE_PLAN = "agree_plan"
    CONFIRM_RETURN_OR_EXTEND = "confirm_return_or_extend"
    HOSPITAL_REFERRAL = "hospital_referral"


class PendingTask(BaseModel):
    """What the case is waiting on, from whom, by when."""

    id: str
    kind: TaskKind
    description: str
    assignee_role: Role | str = Field(description="A role, or 'parent' / 'professional'")
    assignee: str | None = Field(default=None, description="Officer or professional id, when known")
    due_on: date
    overdue: bool = False
    escalated: bool = False


class CaseView(BaseModel):
    """What every command and the case query answer with."""

    state: CaseState
    pending_tasks: list[PendingTask]
    allowed_actions: list[str]
    next_deadline: date | None
    overdue: bool


class CaseResult(BaseModel):
    """What a closed case's workflow returns. Non-personal."""

    case_ref: str
    outcome: CloseOutcome | None
    closed_on: date | None
    recoupment_total: str = Field(description="Total recouped from schools, in pounds")
