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


def schedule_meeting(review: Review, on: date) -> str:
    """Set the meeting's day; a meeting moved to another day is a new version of the same meeting.
    Returns what the invitation says about a move (to follow its first sentence), or ""."""
    before, review.scheduled_on = review.scheduled_on, on
    if before is None or before == on:
        return ""
    review.invite_sequence += 1
    return f" The meeting has moved from {before:%A %-d %B %Y}; this invitation replaces the earlier one."


CASE_CLOSED = "the case is closed, so the meeting will not take place."
HELD_EARLIER = "the review was held earlier, so this meeting will not take place."
SCHOOL_MOVED = "the pupil has moved to another school, which is invited in your place."
OFFICER_CHANGED = "another named education officer now leads the case and is invited in your place."


def _upcoming(review: Review | None, ctx: CaseContext) -> bool:
    """A meeting that is still to take place, in a case under patch `letters-and-invites` (`ctx.letters`:
    before it, no cancellation or new invitation was sent)."""
    return ctx.letters and review is not None and review.scheduled_on is not None and review.scheduled_on >= ctx.today


def cancel_meeting(state: CaseState, review: Review | None, ctx: CaseContext, key: str, why: str,
                   ) -> list[EmailRequest]:
    """The cancellation, to everyone invited, of a scheduled meeting that has not taken place yet (none
    for a review nobody scheduled, or one whose day has passed)."""
    if review is None or not _upcoming(review, ctx):
        return []
    review.invite_sequence += 1
    return [_cancellation(state, review, ctx, key, invitees(state), why)]


def replace_invitee(state: CaseState, removed: MailRecipient, ctx: CaseContext, key: str, why: str,
                    ) -> list[EmailRequest]:
    """After the school or the officer changed: the one no longer invited gets a cancellation, and
    everyone now invited the meeting again (one new SEQUENCE for both, as RFC 5546 removes an attendee)."""
    review = state.next_review
    if review is None or not _upcoming(review, ctx) or removed in invitees(state):
        return []
    review.invite_sequence += 1
    invite = email(state, key, EmailTemplate.REVIEW_INVITATION, invitees(state), on=review.scheduled_on,
                   invite=review_invite(state, review, ctx))
    return [_cancellation(state, review, ctx, f"{key}:cancel", [removed], why), invite]


def _cancellation(state: CaseState, review: Review, ctx: CaseContext, key: str, to: list[MailRecipient],
                  why: str) -> EmailRequest:
    invite = review_invite(state, review, ctx)
    invite = invite.model_copy(update={"method": "CANCEL"}) if invite else None
    return email(state, key, EmailTemplate.REVIEW_CANCELLED, to, on=review.target_date, detail=why, invite=invite)
