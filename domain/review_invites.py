"""The calendar invitation sent with a TAS review's invitation and reminders."""

from datetime import datetime, time

from domain.case_context import CaseContext
from domain.case_state import CaseState, Review
from domain.email_models import CalendarInvite


def review_invite(state: CaseState, review: Review, ctx: CaseContext) -> CalendarInvite:
    starts = datetime.combine(review.target_date, time(10, 0))  # naive: local (Europe/London) time
    return CalendarInvite(uid=f"{state.case_ref}-{review.id}@casework", starts_at=starts,
                          summary=f"TAS review {state.case_ref}")
