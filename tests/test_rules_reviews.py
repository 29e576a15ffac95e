"""The TAS review rules: scheduling (the invite), recording an outcome (continue, change provision, start
reintegration, close at the review) and when the next review falls due.

State in, command, effects out; or the refusal and its exact message. Pure, fixed dates (see
tests/rule_fixtures.py).
"""

from datetime import date, datetime
from decimal import Decimal

import pytest

from domain import case_commands as c
from domain.case_state import Review
from domain.case_transitions import apply
from domain.recoupment import KeyStage, RecoupmentLine
from domain.stages import Action, Stage
from tests.rule_fixtures import (
    CASE_REF,
    CASEWORKER,
    OFFICER_NAME,
    OFFICER_TO,
    PARENT_TO,
    SCHOOL_TO,
    SCHOOL_URN,
    SUPERVISORS_TO,
    ctx,
    in_provision,
    mails,
    only_mail,
    reintegrating,
    rejected,
    summary,
)

# --- reviews ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("officer", "third"), [(OFFICER_NAME, OFFICER_TO), (None, SUPERVISORS_TO)])
def test_scheduling_a_review_invites_parent_school_and_officer(officer, third):
    state = in_provision(officer=officer)
    effects = apply(state, Action.SCHEDULE_REVIEW, c.ScheduleReview(actor=CASEWORKER, on=date(2030, 3, 12)),
                    ctx(date(2030, 3, 1)))
    assert state.reviews == [Review(id="review-1", due_on=date(2030, 3, 11), scheduled_on=date(2030, 3, 12))]
    mail = only_mail(effects)
    assert mails(effects) == [("review_invitation", [PARENT_TO, SCHOOL_TO, third])]
    assert mail.context["date"] == "Tuesday 12 March 2030"
    assert mail.idempotency_key == f"{CASE_REF}:1:review-invite:review-1"
    assert mail.invite is not None
    assert (mail.invite.uid, mail.invite.starts_at, mail.invite.summary) == (
        f"{CASE_REF}-review-1@casework", datetime(2030, 3, 12, 10, 0), f"TAS review {CASE_REF}")
    assert summary(state) == "review-1 scheduled for 2030-03-12"


def test_a_review_moved_again_keeps_its_invite_uid():
    state = in_provision()
    apply(state, Action.SCHEDULE_REVIEW, c.ScheduleReview(actor=CASEWORKER, on=date(2030, 3, 12)), ctx(date(2030, 3, 1)))
    effects = apply(state, Action.SCHEDULE_REVIEW, c.ScheduleReview(actor=CASEWORKER, on=date(2030, 3, 14)),
                    ctx(date(2030, 3, 4)))
    assert only_mail(effects).invite.uid == f"{CASE_REF}-review-1@casework"
    assert only_mail(effects).idempotency_key == f"{CASE_REF}:2:review-invite:review-1"
    assert state.reviews[0].scheduled_on == date(2030, 3, 14)


def test_scheduling_with_no_open_review_opens_one_on_that_day():
    state = in_provision(reviews=[Review(id="review-1", due_on=date(2030, 3, 11), held_on=date(2030, 3, 11))])
    apply(state, Action.SCHEDULE_REVIEW, c.ScheduleReview(actor=CASEWORKER, on=date(2030, 3, 20)), ctx(date(2030, 3, 13)))
    assert state.reviews[1] == Review(id="review-2", due_on=date(2030, 3, 20), scheduled_on=date(2030, 3, 20))


@pytest.mark.parametrize(
    ("on", "message"),
    [
        (date(2030, 2, 28), "a review cannot be scheduled in the past"),
        (date(2030, 3, 9), "review date 2030-03-09 is not a school day: the nearest school days are "
                           "2030-03-08 and 2030-03-11"),
        (date(2030, 4, 10), "review date 2030-04-10 is not a school day: the nearest school days are "
                            "2030-03-29 and 2030-04-23"),  # Easter holidays
    ],
)
def test_scheduling_a_review_refused(on, message):
    assert rejected(in_provision(), Action.SCHEDULE_REVIEW, c.ScheduleReview(actor=CASEWORKER, on=on),
                    ctx(date(2030, 3, 1))) == message


def test_a_review_may_be_scheduled_for_today():
    state = in_provision()
    apply(state, Action.SCHEDULE_REVIEW, c.ScheduleReview(actor=CASEWORKER, on=date(2030, 3, 1)), ctx(date(2030, 3, 1)))
    assert state.reviews[0].scheduled_on == date(2030, 3, 1)


def outcome(kind, held=date(2030, 3, 11), **kw):
    return c.RecordReviewOutcome(actor=CASEWORKER, outcome=kind, held_on=held, **kw)


@pytest.mark.parametrize("kind", [c.ReviewOutcome.CONTINUE, c.ReviewOutcome.CHANGE_PROVISION])
def test_a_review_outcome_sets_the_next_review_six_school_weeks_on(kind):
    state = in_provision()
    effects = apply(state, Action.RECORD_REVIEW_OUTCOME, outcome(kind, notes="going well"), ctx(date(2030, 3, 11)))
    held = state.reviews[0]
    assert (held.held_on, held.outcome, held.notes) == (date(2030, 3, 11), kind, "going well")
    # 30 school days after Monday 11 March: 14 more in March, the Easter holidays, then 16 from Tuesday
    # 23 April (Monday 6 May is a bank holiday): Wednesday 15 May.
    assert state.reviews[1] == Review(id="review-2", due_on=date(2030, 5, 15))
    assert state.stage is Stage.IN_PROVISION
    assert mails(effects) == []
    assert summary(state) == f"review-1 held 2030-03-11: {kind.value}"


def test_starting_reintegration_at_a_review_moves_the_case_on():
    state = in_provision()
    apply(state, Action.RECORD_REVIEW_OUTCOME, outcome(c.ReviewOutcome.START_REINTEGRATION), ctx(date(2030, 3, 11)))
    assert state.stage is Stage.REINTEGRATING
    assert state.reintegration is None  # the plan itself is agreed separately
    assert state.reviews[1].id == "review-2"


def test_starting_reintegration_again_is_refused():
    message = rejected(reintegrating(), Action.RECORD_REVIEW_OUTCOME, outcome(c.ReviewOutcome.START_REINTEGRATION),
                       ctx(date(2030, 3, 11)))
    assert message == "the case is already reintegrating"


def test_continuing_while_reintegrating_stays_reintegrating():
    state = reintegrating()
    apply(state, Action.RECORD_REVIEW_OUTCOME, outcome(c.ReviewOutcome.CONTINUE), ctx(date(2030, 3, 11)))
    assert state.stage is Stage.REINTEGRATING


def test_closing_at_a_review_closes_from_the_meeting_day_and_settles_recoupment():
    state = in_provision()
    effects = apply(state, Action.RECORD_REVIEW_OUTCOME,
                    outcome(c.ReviewOutcome.CLOSE, held=date(2030, 3, 8), close_outcome=c.CloseOutcome.MOVED_SCHOOL),
                    ctx(date(2030, 3, 11)))
    assert state.stage is Stage.CLOSED
    assert (state.close_outcome, state.closed_on, state.close_reason) == (
        c.CloseOutcome.MOVED_SCHOOL, date(2030, 3, 8), "closed at TAS review")
    assert len(state.reviews) == 1  # no next review for a closed case
    assert mails(effects) == [("case_closed", [PARENT_TO, SCHOOL_TO])]
    assert only_mail(effects).context["date"] == "Friday 8 March 2030"
    # Charged from Monday 21 January to Thursday 7 March: 29 school days (half-term not charged).
    assert effects.recoupment == [RecoupmentLine(
        case_ref=CASE_REF, school_urn=SCHOOL_URN, period="settlement", from_date=date(2030, 1, 21),
        to_date=date(2030, 3, 7), school_days=29, key_stage=KeyStage.KS3, amount=Decimal("290.00"))]
    # The review, then the closure it made: every closure is on the timeline.
    assert [e.summary for e in state.timeline[-2:]] == ["review-1 held 2030-03-08: close",
                                                        "case closed: moved_school on 2030-03-08"]


@pytest.mark.parametrize(
    ("state", "cmd", "message"),
    [
        (in_provision(reviews=[]), outcome(c.ReviewOutcome.CONTINUE), "there is no open review to record an outcome for"),
        (in_provision(reviews=[Review(id="review-1", due_on=date(2030, 3, 11), held_on=date(2030, 3, 11))]),
         outcome(c.ReviewOutcome.CONTINUE), "there is no open review to record an outcome for"),
        (in_provision(), outcome(c.ReviewOutcome.CONTINUE, held=date(2030, 3, 12)), "held_on is in the future"),
    ],
)
def test_review_outcomes_refused(state, cmd, message):
    assert rejected(state, Action.RECORD_REVIEW_OUTCOME, cmd, ctx(date(2030, 3, 11))) == message


def test_the_next_review_is_counted_from_the_meeting_even_when_recorded_later():
    state = in_provision()
    apply(state, Action.RECORD_REVIEW_OUTCOME, outcome(c.ReviewOutcome.CONTINUE, held=date(2030, 3, 11)),
          ctx(date(2030, 3, 13)))
    assert state.reviews[1].due_on == date(2030, 5, 15)
