"""The statutory and local clocks of a case, counted in school days. Every figure is a setting."""

from pydantic import BaseModel, ConfigDict, Field


class ClockSettings(BaseModel):
    """Defaults follow DfE guidance where it sets a figure and common council practice where it is local."""

    model_config = ConfigDict(frozen=True)

    absence_threshold_days: int = Field(15, ge=1, description="School days missed before the LA must act")
    consent_parent_reminder_after: int = Field(3, ge=1, description="Remind the parent after this many school days")
    consent_officer_task_after: int = Field(5, ge=1, description="Ask the officer to follow up consent after this")
    evidence_chase_after: int = Field(5, ge=1, description="Chase each professional after this many school days")
    evidence_decide_after: int = Field(10, ge=1, description="Then the officer decides on the evidence held")
    decision_due_after: int = Field(5, ge=1, description="Referral decision due this long after evidence closes")
    review_interval_school_weeks: int = Field(6, ge=1, description="TAS review cadence")
    review_reminder_before: int = Field(5, ge=1, description="Remind the TAS this many school days before")
    review_escalate_after: int = Field(5, ge=1, description="Escalate an overdue review after this many more")
    part_time_reminder_before: int = Field(3, ge=1, description="Remind this many school days before the end date")
    part_time_extensions_before_alert: int = Field(2, ge=0, description="More extensions than this alert supervisors")
    stalled_after: int = Field(10, ge=1, description="No recorded progress for this long marks the case stalled")
    plan_due_after: int = Field(5, ge=1, description="Agree the reintegration plan within this many school days "
                                "of the review that starts reintegration")
    planned_date_grace_days: int = Field(
        5, ge=0, le=1000, description="A planned date (a provision's or a part-time timetable's start) may be up to "
        "this many school days before today; none earlier"
    )
    hospital_referral_after: int = Field(15, ge=1, description="A hospital referral is due once the child cannot "
                                         "return within this many school days of admission (at once, when the "
                                         "expected discharge is later)")
    reopen_within: int = Field(10, ge=0, description="A supervisor may reopen a case closed in error for this "
                               "many school days after the closure was recorded (0: closures are final and "
                               "the case's workflow ends at once)")
    full_time_hours_per_week: float = Field(25.0, gt=0, description="Weekly hours that count as full-time")
    alarm_hour_utc: int = Field(7, ge=0, le=23, description="Hour of the school day at which timers fire (UTC)")

    @property
    def review_interval_days(self) -> int:
        return self.review_interval_school_weeks * 5
