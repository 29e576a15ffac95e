"""One pydantic model per command a person gives a case: the workflow input and every update.

Each update's name is the matching `Action` value; each answers with a `CaseView`.
Commands carry the `actor` so that the timeline records who did what.
"""

from datetime import date
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field, model_validator

from domain.people import Actor, Child, HealthProfessional, Parent
from domain.provision import Provision
from domain.text import RequiredLine, RequiredText, Text

CASE_REF_PATTERN = r"^MN-\d{2}-[0-9A-HJ-NP-Z]{6}$"


class AbsenceReason(StrEnum):
    """A coarse category; the health detail goes in `health_summary` (encrypted)."""

    PHYSICAL_ILLNESS = "physical_illness"
    MENTAL_HEALTH = "mental_health"
    SURGERY_OR_TREATMENT = "surgery_or_treatment"
    CHRONIC_CONDITION = "chronic_condition"
    OTHER = "other"


class Command(BaseModel):
    actor: Actor
    caller_writes_read_model: bool = Field(
        default=False,
        description="The caller writes the answer to the read model itself (the API does, in the "
        "transaction that records the read); the case then only checks the read model a while later. "
        "Set by the API, never by a request body.",
    )


class ReadModelWriteFailed(BaseModel):
    """Signal: a caller that said it would write a command's answer to the read model could not."""

    version: int = Field(ge=0, description="The case version the caller failed to write")


class AbsenceNotification(BaseModel):
    """What a school tells the LA about a pupil who is, or will be, absent through illness."""

    school_urn: str = Field(pattern=r"^\d{6}$", examples=["120001"])
    child: Child
    parent: Parent
    first_day_of_absence: date
    expected_return: date | None = Field(
        default=None, description="First day the child is expected back; none if not known"
    )
    reason: AbsenceReason
    health_summary: Text | None = Field(default=None, max_length=4000)
    absence_days: list[date] = Field(
        default_factory=list, description="School days already missed this school year, any order"
    )
    absence_half_days: list[date] = Field(
        default_factory=list, description="School days of which one session (of two) was missed this school year"
    )


class OpenCase(AbsenceNotification):
    """The workflow input: the notification, under the case reference given to it, and who sent it."""

    case_ref: str = Field(pattern=CASE_REF_PATTERN, examples=["MN-26-7K3Q9P"])
    actor: Actor
    carried_state: dict[str, Any] | None = Field(
        default=None,
        description="Set only by the workflow itself when it continues as new: the whole case state",
    )

    @model_validator(mode="after")
    def _return_after_first_day(self) -> "OpenCase":
        if self.expected_return is not None and self.expected_return <= self.first_day_of_absence:
            raise ValueError("expected_return must be after first_day_of_absence")
        dob, first = self.child.date_of_birth, self.first_day_of_absence
        age = first.year - dob.year - ((first.month, first.day) < (dob.month, dob.day))
        if not 4 <= age <= 18:
            raise ValueError("child.date_of_birth: the child must be of school age (4 to 18) on the first day")
        return self


class RecordAbsenceDays(Command):
    days: list[date] = Field(default_factory=list, max_length=400, description="Whole school days missed")
    half_days: list[date] = Field(
        default_factory=list, max_length=400, description="School days of which one session (morning or "
        "afternoon) was missed, e.g. a part-time timetable's half-attended days; a whole day recorded for "
        "the same date counts instead")
    expected_return: date | None = None


class RequestConsent(Command):
    pass


class ConsentDecision(StrEnum):
    GRANTED = "granted"
    REFUSED = "refused"
    WITHDRAWN = "withdrawn"


class RecordConsent(Command):
    decision: ConsentDecision
    professionals: list[HealthProfessional] = Field(default_factory=list, max_length=20)

    @model_validator(mode="after")
    def _granted_names_someone(self) -> "RecordConsent":
        if self.decision is ConsentDecision.GRANTED and not self.professionals:
            raise ValueError("consent granted must name at least one health professional")
        return self


class RequestEvidence(Command):
    professional_ids: list[str] = Field(min_length=1, max_length=20)


class EvidenceKind(StrEnum):
    CONSULTANT_LETTER = "consultant_letter"
    GP_LETTER = "gp_letter"
    APPOINTMENT_CARD = "appointment_card"
    PRESCRIPTION = "prescription"
    OTHER = "other"


class RecordEvidence(Command):
    document_ref: str = Field(pattern=r"^doc-[0-9a-f]{64}$", description="From the document upload")
    kind: EvidenceKind
    professional_id: str | None = None
    received_on: date | None = Field(default=None, description="Defaults to today")


class DecisionOutcome(StrEnum):
    LA_PROVISION = "la_provision"
    SCHOOL_WORK = "school_work"
    NOT_ELIGIBLE = "not_eligible"
    MORE_EVIDENCE = "more_evidence"


class Decide(Command):
    outcome: DecisionOutcome
    reason: RequiredText = Field(min_length=1, max_length=4000)


class CommissionProvision(Command):
    """Replaces the provision lines running from the earliest start date given."""

    provisions: list[Provision] = Field(min_length=1, max_length=10)
    officer: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$")
    part_time_health_reason: Text | None = Field(
        default=None,
        max_length=4000,
        description="Required when total hours are below full time (Education Act 1996 s19(3AA))",
    )


class AssignOfficer(Command):
    officer: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$", examples=["officer-jb"])


class ScheduleReview(Command):
    on: date


class CloseOutcome(StrEnum):
    RETURNED_FULL_TIME = "returned_full_time"
    MOVED_SCHOOL = "moved_school"
    EHC_PLAN_ROUTE = "ehc_plan_route"
    LEFT_AREA = "left_area"
    NOT_ELIGIBLE = "not_eligible"
    WITHDRAWN = "withdrawn"


class ReviewOutcome(StrEnum):
    CONTINUE = "continue"
    CHANGE_PROVISION = "change_provision"
    START_REINTEGRATION = "start_reintegration"
    CLOSE = "close"


class RecordReviewOutcome(Command):
    outcome: ReviewOutcome
    held_on: date
    notes: Text | None = Field(default=None, max_length=8000)
    close_outcome: CloseOutcome | None = Field(default=None, description="Required when outcome is close")

    @model_validator(mode="after")
    def _close_names_outcome(self) -> "RecordReviewOutcome":
        if self.outcome is ReviewOutcome.CLOSE and self.close_outcome is None:
            raise ValueError("close_outcome is required when the review closes the case")
        return self


class RecordHospitalAdmission(Command):
    admitted_on: date
    hospital: RequiredLine = Field(min_length=1, max_length=200)
    expected_discharge: date | None = Field(
        default=None, description="When the hospital expects to discharge the child, if it says: a stay "
        "that will miss the referral threshold of school days makes the hospital referral due at once")


class RecordHospitalDischarge(Command):
    discharged_on: date


class AgreeReintegrationPlan(Command):
    start_date: date
    end_date: date = Field(description="Mandatory: a part-time timetable is never open-ended")
    hours_per_week: float = Field(gt=0, le=40)

    @model_validator(mode="after")
    def _ends_after_start(self) -> "AgreeReintegrationPlan":
        if self.end_date <= self.start_date:
            raise ValueError("end_date must be after start_date")
        return self


class ExtendReintegration(Command):
    new_end_date: date
    reason: RequiredText = Field(min_length=1, max_length=4000)


class ConfirmFullTimeReturn(Command):
    returned_on: date


class ChangeSchool(Command):
    new_school_urn: str = Field(pattern=r"^\d{6}$")
    effective_on: date


class AddNote(Command):
    text: RequiredText = Field(min_length=1, max_length=8000)


class ReopenCase(Command):
    """A supervisor reopens a case closed in error (within the reopening window)."""

    reason: RequiredText = Field(min_length=1, max_length=4000, description="Why the closure was wrong")


class CloseCase(Command):
    outcome: CloseOutcome
    reason: Text | None = Field(default=None, max_length=4000)
    closed_on: date | None = None
