"""The calendar invitation of a TAS review, in iCalendar scheduling terms (RFC 5546): one UID for the
meeting's whole life, its SEQUENCE raised each time it moves, and a CANCEL when it will not take place.
The people invited (the attendees) are the email's recipients: parent, school and officer."""

from datetime import date, datetime, time

from domain.case_context import CaseContext
from domain.case_effects import email, officer_or_supervisors, parent, school
from domain.case_state import CaseState, Review
from domain.email_models import CalendarInvite, EmailRequest, EmailTemplate, MailRecipient


def invitees(state: CaseState) -> list[MailRecipient]:
    return [parent(state), school(state), officer_or_supervisors(state)]


def review_invite(state: CaseState, review: Review, ctx: CaseContext) -> CalendarInvite | None:
    """The meeting as last sent, or None while nobody has scheduled it (a calendar entry on the due day
    would be a meeting nobody arranged)."""
    if review.scheduled_on is None:
        return None
    starts = datetime.combine(review.scheduled_on, time(10, 0))  # naive: local (Europe/London) time
    return CalendarInvite(uid=f"{state.case_ref}-{review.id}@casework", starts_at=starts,
                          summary=f"TAS review {state.case_ref}", sequence=review.invite_sequence)


def schedule_meeting(review: Review, on: date) -> None:
    """Set the meeting's day; a meeting moved to another day is a new version of the same meeting."""
    if review.scheduled_on is not None and review.scheduled_on != on:
        review.invite_sequence += 1
    review.scheduled_on = on


def cancel_meeting(state: CaseState, review: Review | None, ctx: CaseContext, key: str) -> list[EmailRequest]:
    """The cancellation of a scheduled meeting that has not taken place yet (none for a review nobody
    scheduled, or one whose day has passed)."""
    if review is None or review.scheduled_on is None or review.scheduled_on < ctx.today:
        return []
    review.invite_sequence += 1
    invite = review_invite(state, review, ctx)
    if invite is None:
        return []
    invite = invite.model_copy(update={"method": "CANCEL"})
    return [email(state, key, EmailTemplate.REVIEW_CANCELLED, invitees(state), on=review.scheduled_on,
                  invite=invite)]
