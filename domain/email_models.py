"""What the workflow asks the email activity to send. Addresses of people the case is about come
from the case; role mailboxes (officer, supervisors, school) are resolved by the activity from settings."""

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, EmailStr, Field


class EmailTemplate(StrEnum):
    CONSENT_REQUEST = "consent_request"
    CONSENT_REMINDER = "consent_reminder"
    CONSENT_FOLLOW_UP = "consent_follow_up"
    EVIDENCE_REQUEST = "evidence_request"
    EVIDENCE_CHASER = "evidence_chaser"
    DECIDE_ON_EVIDENCE_HELD = "decide_on_evidence_held"
    DECISION_LETTER = "decision_letter"
    DECISION_NOTICE_SCHOOL = "decision_notice_school"
    OFFICER_ASSIGNED = "officer_assigned"
    REVIEW_INVITATION = "review_invitation"
    REVIEW_REMINDER = "review_reminder"
    REVIEW_ESCALATION = "review_escalation"
    REVIEW_CANCELLED = "review_cancelled"
    PART_TIME_ENDING = "part_time_ending"
    SUPERVISOR_ALERT = "supervisor_alert"
    CASE_CLOSED = "case_closed"
    CASE_REOPENED = "case_reopened"


class RecipientRole(StrEnum):
    PARENT = "parent"
    PROFESSIONAL = "professional"
    OFFICER = "officer"
    SUPERVISORS = "supervisors"
    SCHOOL = "school"


class MailRecipient(BaseModel):
    role: RecipientRole
    address: EmailStr | None = Field(default=None, description="Parent's or professional's address")
    ref: str | None = Field(default=None, description="Officer name or school URN for role mailboxes")


class CalendarInvite(BaseModel):
    """One meeting in iCalendar scheduling terms (RFC 5546): the same `uid` for the meeting's whole life,
    `sequence` raised each time it moves, `method` CANCEL when it will not take place. The attendees are
    the email's recipients (the activity resolves their addresses)."""

    uid: str
    summary: str = Field(description="Non-personal, e.g. 'TAS review MN-26-7K3Q9P'")
    starts_at: datetime
    duration_minutes: int = 60
    location: str = "To be confirmed"
    sequence: int = Field(0, ge=0, description="Raised each time the meeting is moved (or cancelled)")
    method: Literal["REQUEST", "CANCEL"] = "REQUEST"


class EmailRequest(BaseModel):
    idempotency_key: str = Field(max_length=200)
    case_ref: str
    template: EmailTemplate
    recipients: list[MailRecipient] = Field(min_length=1)
    context: dict[str, str] = Field(default_factory=dict, description="Values the template fills in")
    invite: CalendarInvite | None = None


class EmailReceipt(BaseModel):
    message_id: str
    via: str = Field(description="smtp, outbox, or skipped (no address)")
    already_sent: bool = False
