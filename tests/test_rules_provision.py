"""The rules after the referral decision, command by command: commissioning (and the s19(3AA) part-time
rule), the named officer, TAS reviews, hospital stays, reintegration, school changes, notes, closure and
the recoupment settled at closure.

State in, command, effects out; or the refusal and its exact message. Pure, fixed dates (see
tests/rule_fixtures.py: spring 2030 runs 7 January - 29 March, half-term 18-22 February; £10 a school day).
"""

from datetime import date, datetime
from decimal import Decimal

import pytest

from domain import case_commands as c
from domain.case_state import HospitalStay, Review
from domain.case_transitions import CommandRejected, apply
from domain.provision import ProvisionKind
from domain.recoupment import KeyStage, RecoupmentLine, SchoolSpell
from domain.stages import Action, Stage
from tests.rule_fixtures import (
    CASE_REF,
    CASEWORKER,
    OFFICER_NAME,
    OFFICER_TO,
    OTHER_SCHOOL_URN,
    PARENT_TO,
    SCHOOL_TO,
    SCHOOL_URN,
    SUPERVISOR,
    SUPERVISORS_TO,
    case,
    commissioning,
    ctx,
    in_provision,
    mails,
    only_mail,
    provision,
    reintegrating,
)


def rejected(state, action, cmd, context) -> str:
    before = state.model_copy(deep=True)
    with pytest.raises(CommandRejected) as caught:
        apply(state, action, cmd, context)
    assert caught.value.kind == "InvalidCommand"
    assert state == before
    return str(caught.value)


def summary(state) -> str:
    return state.timeline[-1].summary


def commission(*provisions, officer=None, reason=None):
    return c.CommissionProvision(actor=CASEWORKER, provisions=list(provisions), officer=officer,
                                 part_time_health_reason=reason)


# --- commissioning ---------------------------------------------------------------------------------


def test_first_commissioning_starts_provision_the_school_spell_the_first_review_and_names_the_officer():
    state = commissioning()
    effects = apply(state, Action.COMMISSION_PROVISION, commission(provision(date(2030, 1, 21)), officer=OFFICER_NAME),
                    ctx(date(2030, 1, 17)))
    assert state.stage is Stage.IN_PROVISION
    assert state.provisions == [provision(date(2030, 1, 21))]
    assert state.provision_started_on == date(2030, 1, 21)
    assert state.school_spells == [SchoolSpell(school_urn=SCHOOL_URN, from_date=date(2030, 1, 21), to_date=None)]
    # The first TAS review: 6 school weeks (30 school days) after the start, across half-term.
    assert state.reviews == [Review(id="review-1", due_on=date(2030, 3, 11))]
    assert state.officer == OFFICER_NAME
    assert mails(effects) == [("officer_assigned", [PARENT_TO])]
    assert only_mail(effects).context["officer"] == OFFICER_NAME
    assert only_mail(effects).idempotency_key == f"{CASE_REF}:1:officer:{OFFICER_NAME}"
    assert effects.recoupment == []  # charges come at term end and at closure
    assert summary(state) == "provision commissioned from 2030-01-21: home_tuition"


def test_commissioning_with_the_officer_already_named_sends_no_email():
    state = commissioning(officer=OFFICER_NAME)
    effects = apply(state, Action.COMMISSION_PROVISION, commission(provision(), officer=OFFICER_NAME), ctx(date(2030, 1, 17)))
    assert mails(effects) == []
    effects = apply(in_provision(), Action.COMMISSION_PROVISION, commission(provision(date(2030, 2, 4))),
                    ctx(date(2030, 2, 1)))
    assert mails(effects) == []


def test_commissioning_starts_from_the_earliest_line_and_names_each_kind_once():
    state = commissioning(officer=OFFICER_NAME)
    lines = [provision(date(2030, 1, 28), "10", kind=ProvisionKind.VIRTUAL_SCHOOL),
             provision(date(2030, 1, 21), "25"), provision(date(2030, 1, 21), "5", kind=ProvisionKind.VIRTUAL_SCHOOL)]
    apply(state, Action.COMMISSION_PROVISION, commission(*lines), ctx(date(2030, 1, 17)))
    assert state.provision_started_on == date(2030, 1, 21)
    assert summary(state) == "provision commissioned from 2030-01-21: home_tuition, virtual_school"


def test_commissioning_needs_a_named_officer():
    message = rejected(commissioning(), Action.COMMISSION_PROVISION, commission(provision()), ctx(date(2030, 1, 17)))
    assert message == "name the education officer: provision is commissioned with a named officer"


# s19(3AA): part-time only for health reasons, recorded; cost is never a reason.
S19 = ("{hours} hours a week is less than full time (25.0): record the health reason "
       "(Education Act 1996 s19(3AA)); cost is never a reason")


@pytest.mark.parametrize(
    ("lines", "reason", "refused_hours"),
    [
        ([provision(hours="20")], None, "20"),
        ([provision(hours="20")], "   ", "20"),
        ([provision(hours="24.99")], "", "24.99"),
        ([provision(hours="20")], "fatigue after chemotherapy", None),
        ([provision(hours="25")], None, None),
        ([provision(hours="15"), provision(hours="10", kind=ProvisionKind.VIRTUAL_SCHOOL)], None, None),
        # Hours starting later do not make the first week full-time.
        ([provision(hours="15"), provision(date(2030, 1, 28), "10", kind=ProvisionKind.VIRTUAL_SCHOOL)], None, "15"),
        # A line that has already ended by the start does not count either.
        ([provision(date(2030, 1, 14), "15", end=date(2030, 1, 18)),
          provision(date(2030, 1, 21), "10", kind=ProvisionKind.VIRTUAL_SCHOOL)], None, "15"),
    ],
)
def test_part_time_provision_needs_a_recorded_health_reason(lines, reason, refused_hours):
    state = commissioning(officer=OFFICER_NAME)
    cmd = commission(*lines, reason=reason)
    if refused_hours is not None:
        assert rejected(state, Action.COMMISSION_PROVISION, cmd, ctx(date(2030, 1, 10))) == S19.format(hours=refused_hours)
        return
    apply(state, Action.COMMISSION_PROVISION, cmd, ctx(date(2030, 1, 10)))
    assert state.stage is Stage.IN_PROVISION
    assert state.part_time_health_reason == reason


def test_full_time_is_the_council_s_setting():
    state = commissioning(officer=OFFICER_NAME)
    apply(state, Action.COMMISSION_PROVISION, commission(provision(hours="20")),
          ctx(date(2030, 1, 17), full_time_hours_per_week=20))
    assert state.stage is Stage.IN_PROVISION
    state = commissioning(officer=OFFICER_NAME)
    message = rejected(state, Action.COMMISSION_PROVISION, commission(provision(hours="20")),
                       ctx(date(2030, 1, 17), full_time_hours_per_week=30))
    assert message.startswith("20 hours a week is less than full time (30.0)")


def test_a_provision_line_cannot_end_before_it_starts():
    cmd = commission(provision(date(2030, 1, 21), end=date(2030, 1, 18)), reason="fatigue")
    message = rejected(commissioning(officer=OFFICER_NAME), Action.COMMISSION_PROVISION, cmd, ctx(date(2030, 1, 17)))
    assert message == "provisions[0].end_date 2030-01-18 is before its start_date 2030-01-21"


def test_a_provision_line_may_end_the_day_it_starts():
    state = commissioning(officer=OFFICER_NAME)
    apply(state, Action.COMMISSION_PROVISION, commission(provision(date(2030, 1, 21), end=date(2030, 1, 21))),
          ctx(date(2030, 1, 17)))
    assert state.provisions[0].end_date == date(2030, 1, 21)


def test_re_commissioning_ends_the_running_lines_the_day_before_and_drops_lines_not_yet_started():
    running = provision(date(2030, 1, 21), "25")
    ends_later = provision(date(2030, 1, 21), "5", kind=ProvisionKind.VIRTUAL_SCHOOL, end=date(2030, 3, 29))
    ended = provision(date(2030, 1, 21), "5", kind=ProvisionKind.WORK_FROM_SCHOOL, end=date(2030, 1, 25))
    future = provision(date(2030, 3, 4), "5", kind=ProvisionKind.HOSPITAL_SCHOOL)
    state = in_provision(provisions=[running, ends_later, ended, future], part_time_health_reason="anxiety")
    reviews = [r.model_copy() for r in state.reviews]
    new = provision(date(2030, 2, 4), "25", kind=ProvisionKind.HOSPITAL_EDUCATION)
    effects = apply(state, Action.COMMISSION_PROVISION, commission(new, reason=None), ctx(date(2030, 2, 1)))
    assert [(p.kind.value, p.start_date, p.end_date) for p in state.provisions] == [
        ("home_tuition", date(2030, 1, 21), date(2030, 2, 3)),
        ("virtual_school", date(2030, 1, 21), date(2030, 2, 3)),
        ("work_from_school", date(2030, 1, 21), date(2030, 1, 25)),
        ("hospital_education", date(2030, 2, 4), None),
    ]
    # The case keeps its start, school spell, reviews and stage; the earlier health reason stands.
    assert state.provision_started_on == date(2030, 1, 21)
    assert len(state.school_spells) == 1
    assert state.reviews == reviews
    assert state.stage is Stage.IN_PROVISION
    assert state.part_time_health_reason == "anxiety"
    assert mails(effects) == [] and effects.recoupment == []
    assert summary(state) == "provision commissioned from 2030-02-04: hospital_education"


def test_re_commissioning_part_time_needs_the_reason_again_only_if_none_is_given():
    state = in_provision()
    message = rejected(state, Action.COMMISSION_PROVISION, commission(provision(date(2030, 2, 4), "10")),
                       ctx(date(2030, 2, 1)))
    assert message == S19.format(hours="10")
    apply(state, Action.COMMISSION_PROVISION, commission(provision(date(2030, 2, 4), "10"), reason="surgery"),
          ctx(date(2030, 2, 1)))
    assert state.part_time_health_reason == "surgery"


def test_re_commissioning_with_a_new_officer_tells_the_parent():
    state = in_provision()
    effects = apply(state, Action.COMMISSION_PROVISION, commission(provision(date(2030, 2, 4)), officer="officer-zz"),
                    ctx(date(2030, 2, 1)))
    assert state.officer == "officer-zz"
    assert mails(effects) == [("officer_assigned", [PARENT_TO])]


# --- the named officer -----------------------------------------------------------------------------


def test_assigning_the_officer_tells_the_parent_who_it_is():
    state = commissioning()
    effects = apply(state, Action.ASSIGN_OFFICER, c.AssignOfficer(actor=SUPERVISOR, officer="officer-kp"),
                    ctx(date(2030, 1, 17)))
    assert state.officer == "officer-kp"
    mail = only_mail(effects)
    assert mails(effects) == [("officer_assigned", [PARENT_TO])]
    assert mail.context["officer"] == "officer-kp"
    assert mail.idempotency_key == f"{CASE_REF}:1:officer:officer-kp"
    assert summary(state) == "education officer assigned: officer-kp"
    assert state.stage is Stage.COMMISSIONING


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


# --- hospital --------------------------------------------------------------------------------------


def test_an_admission_and_a_discharge_are_recorded_with_the_school_days_between():
    state = in_provision()
    effects = apply(state, Action.RECORD_HOSPITAL_ADMISSION,
                    c.RecordHospitalAdmission(actor=CASEWORKER, admitted_on=date(2030, 2, 13), hospital="LRI"),
                    ctx(date(2030, 2, 14)))
    assert state.hospital_stays == [HospitalStay(hospital="LRI", admitted_on=date(2030, 2, 13),
                                                 recorded_on=date(2030, 2, 14))]
    assert state.in_hospital
    assert mails(effects) == []
    assert summary(state) == "hospital admission 2030-02-13"
    apply(state, Action.RECORD_HOSPITAL_DISCHARGE,
          c.RecordHospitalDischarge(actor=CASEWORKER, discharged_on=date(2030, 2, 26)), ctx(date(2030, 2, 26)))
    assert state.hospital_stays[0].discharged_on == date(2030, 2, 26)
    assert not state.in_hospital
    # After Wednesday 13 February: 14, 15, (half-term), 25, 26.
    assert summary(state) == "hospital discharge 2030-02-26 after 4 school day(s)"


@pytest.mark.parametrize(
    ("stays", "action", "cmd", "message"),
    [
        ([HospitalStay(hospital="LRI", admitted_on=date(2030, 2, 4))], Action.RECORD_HOSPITAL_ADMISSION,
         c.RecordHospitalAdmission(actor=CASEWORKER, admitted_on=date(2030, 2, 11), hospital="LRI"),
         "the child is already recorded as in hospital"),
        ([], Action.RECORD_HOSPITAL_ADMISSION,
         c.RecordHospitalAdmission(actor=CASEWORKER, admitted_on=date(2030, 2, 15), hospital="LRI"),
         "admitted_on is in the future"),
        ([], Action.RECORD_HOSPITAL_DISCHARGE, c.RecordHospitalDischarge(actor=CASEWORKER, discharged_on=date(2030, 2, 14)),
         "the child is not recorded as in hospital"),
        ([HospitalStay(hospital="LRI", admitted_on=date(2030, 2, 4), discharged_on=date(2030, 2, 6))],
         Action.RECORD_HOSPITAL_DISCHARGE, c.RecordHospitalDischarge(actor=CASEWORKER, discharged_on=date(2030, 2, 14)),
         "the child is not recorded as in hospital"),
        ([HospitalStay(hospital="LRI", admitted_on=date(2030, 2, 4))], Action.RECORD_HOSPITAL_DISCHARGE,
         c.RecordHospitalDischarge(actor=CASEWORKER, discharged_on=date(2030, 2, 1)), "discharged_on is before the admission"),
        ([HospitalStay(hospital="LRI", admitted_on=date(2030, 2, 4))], Action.RECORD_HOSPITAL_DISCHARGE,
         c.RecordHospitalDischarge(actor=CASEWORKER, discharged_on=date(2030, 2, 15)), "discharged_on is in the future"),
    ],
)
def test_hospital_records_refused(stays, action, cmd, message):
    assert rejected(in_provision(hospital_stays=stays), action, cmd, ctx(date(2030, 2, 14))) == message


def test_a_same_day_discharge_and_a_readmission_are_taken():
    state = case(hospital_stays=[HospitalStay(hospital="LRI", admitted_on=date(2030, 2, 14))])
    apply(state, Action.RECORD_HOSPITAL_DISCHARGE,
          c.RecordHospitalDischarge(actor=CASEWORKER, discharged_on=date(2030, 2, 14)), ctx(date(2030, 2, 14)))
    assert summary(state) == "hospital discharge 2030-02-14 after 0 school day(s)"
    apply(state, Action.RECORD_HOSPITAL_ADMISSION,
          c.RecordHospitalAdmission(actor=CASEWORKER, admitted_on=date(2030, 2, 14), hospital="GH"),
          ctx(date(2030, 2, 14)))
    assert [s.hospital for s in state.hospital_stays] == ["LRI", "GH"] and state.in_hospital


# --- reintegration ---------------------------------------------------------------------------------


def plan(start=date(2030, 3, 11), end=date(2030, 3, 29), hours=12.5):
    return c.AgreeReintegrationPlan(actor=CASEWORKER, start_date=start, end_date=end, hours_per_week=hours)


def test_agreeing_a_plan_starts_reintegration_and_tells_parent_and_school_when_it_ends():
    state = in_provision()
    effects = apply(state, Action.AGREE_REINTEGRATION_PLAN, plan(), ctx(date(2030, 3, 8)))
    assert state.stage is Stage.REINTEGRATING
    p = state.reintegration
    assert (p.start_date, p.end_date, p.original_end_date, p.hours_per_week, p.extensions) == (
        date(2030, 3, 11), date(2030, 3, 29), date(2030, 3, 29), 12.5, [])
    mail = only_mail(effects)
    # Sent when the plan is agreed: parent and school (not the officer), dated the end date.
    assert mails(effects) == [("part_time_ending", [PARENT_TO, SCHOOL_TO])]
    assert mail.context["date"] == "Friday 29 March 2030"
    assert mail.context["detail"] == "A part-time timetable runs from 2030-03-11."
    assert mail.idempotency_key == f"{CASE_REF}:1:plan"
    [doc] = effects.documents
    assert (doc.case_ref, doc.kind, doc.title) == (CASE_REF, "reintegration_plan", f"Reintegration plan {CASE_REF}")
    assert doc.body == ("Part-time timetable of 12.5 hours a week from 2030-03-11 to 2030-03-29, when the child "
                        "returns full-time or the plan is reviewed.\nNamed education officer: officer-jb.\n")
    assert summary(state) == "reintegration plan agreed to 2030-03-29"


def test_a_plan_without_a_named_officer_says_so():
    effects = apply(in_provision(officer=None), Action.AGREE_REINTEGRATION_PLAN, plan(hours=10), ctx(date(2030, 3, 8)))
    assert "of 10 hours a week" in effects.documents[0].body
    assert effects.documents[0].body.endswith("Named education officer: to be assigned.\n")


@pytest.mark.parametrize("today", [date(2030, 3, 29), date(2030, 4, 1)])
def test_a_plan_must_end_in_the_future(today):
    message = rejected(in_provision(), Action.AGREE_REINTEGRATION_PLAN, plan(), ctx(today))
    assert message == "the part-time timetable's end date must be in the future"


def test_a_new_plan_while_reintegrating_may_not_move_the_end_later():
    state = reintegrating()
    message = rejected(state, Action.AGREE_REINTEGRATION_PLAN, plan(date(2030, 3, 18), date(2030, 4, 26), 20),
                       ctx(date(2030, 3, 15)))
    assert message == ("the part-time timetable ends 2030-03-29: to move its end later, extend it "
                       "(extend_reintegration) with a reason")
    assert state.stage is Stage.REINTEGRATING


def extend(new_end, reason="still fatigued"):
    return c.ExtendReintegration(actor=CASEWORKER, new_end_date=new_end, reason=reason)


def test_extensions_are_recorded_with_their_reason_and_the_third_alerts_supervisors():
    state = reintegrating(end=date(2030, 3, 29))
    for n, new_end in enumerate([date(2030, 4, 26), date(2030, 5, 10)], start=1):
        effects = apply(state, Action.EXTEND_REINTEGRATION, extend(new_end), ctx(date(2030, 3, 25)))
        assert mails(effects) == []
        assert summary(state) == f"part-time timetable extended to {new_end.isoformat()} (extension {n})"
    assert state.alerts == []
    effects = apply(state, Action.EXTEND_REINTEGRATION, extend(date(2030, 6, 7), "new treatment"), ctx(date(2030, 3, 27)))
    p = state.reintegration
    assert (p.end_date, p.original_end_date) == (date(2030, 6, 7), date(2030, 3, 29))
    assert [(e.new_end_date, e.reason, e.agreed_on) for e in p.extensions] == [
        (date(2030, 4, 26), "still fatigued", date(2030, 3, 25)), (date(2030, 5, 10), "still fatigued", date(2030, 3, 25)),
        (date(2030, 6, 7), "new treatment", date(2030, 3, 27))]
    mail = only_mail(effects)
    assert mails(effects) == [("supervisor_alert", [SUPERVISORS_TO])]
    detail = "part-time timetable extended 3 times (now to 2030-06-07)"
    assert mail.context["detail"] == detail
    assert mail.idempotency_key == f"{CASE_REF}:3:alert"
    assert [(a.kind, a.raised_on, a.detail) for a in state.alerts] == [("part_time_extended", date(2030, 3, 27), detail)]


def test_with_no_extensions_allowed_the_first_one_alerts():
    state = reintegrating()
    effects = apply(state, Action.EXTEND_REINTEGRATION, extend(date(2030, 4, 26)),
                    ctx(date(2030, 3, 25), part_time_extensions_before_alert=0))
    assert mails(effects) == [("supervisor_alert", [SUPERVISORS_TO])]


@pytest.mark.parametrize(
    ("state", "new_end", "message"),
    [
        (reintegrating(end=date(2030, 3, 29)), date(2030, 3, 29), "an extension must move the end date later"),
        (reintegrating(end=date(2030, 3, 29)), date(2030, 3, 28), "an extension must move the end date later"),
    ],
)
def test_extensions_refused(state, new_end, message):
    assert rejected(state, Action.EXTEND_REINTEGRATION, extend(new_end), ctx(date(2030, 3, 25))) == message


def test_an_extension_without_a_plan_is_refused():
    state = reintegrating()
    state.reintegration = None
    message = rejected(state, Action.EXTEND_REINTEGRATION, extend(date(2030, 4, 26)), ctx(date(2030, 3, 25)))
    assert message == "there is no reintegration plan to extend"


def test_a_full_time_return_closes_the_case_and_settles_to_the_day_before():
    state = reintegrating()
    effects = apply(state, Action.CONFIRM_FULL_TIME_RETURN,
                    c.ConfirmFullTimeReturn(actor=CASEWORKER, returned_on=date(2030, 2, 4)), ctx(date(2030, 2, 4)))
    assert state.stage is Stage.CLOSED
    assert (state.close_outcome, state.closed_on, state.returned_full_time_on, state.close_reason) == (
        c.CloseOutcome.RETURNED_FULL_TIME, date(2030, 2, 4), date(2030, 2, 4), None)
    assert mails(effects) == [("case_closed", [PARENT_TO, SCHOOL_TO])]
    # 21 January to Sunday 3 February: 10 school days.
    assert [(r.from_date, r.to_date, r.school_days, r.amount) for r in effects.recoupment] == [
        (date(2030, 1, 21), date(2030, 2, 3), 10, Decimal("100.00"))]
    assert [e.summary for e in state.timeline[-2:]] == ["full-time return from 2030-02-04",
                                                        "case closed: returned_full_time on 2030-02-04"]


# --- school change, notes, closure -----------------------------------------------------------------


def test_a_school_change_before_provision_just_moves_the_case():
    state = case()
    effects = apply(state, Action.CHANGE_SCHOOL,
                    c.ChangeSchool(actor=CASEWORKER, new_school_urn=OTHER_SCHOOL_URN, effective_on=date(2030, 1, 14)),
                    ctx(date(2030, 1, 14)))
    assert state.school_urn == OTHER_SCHOOL_URN
    assert state.school_spells == []
    assert mails(effects) == []
    assert summary(state) == "school changed from 120001 to 120002 on 2030-01-14"


@pytest.mark.parametrize(
    ("cmd", "message"),
    [
        (c.ChangeSchool(actor=CASEWORKER, new_school_urn=SCHOOL_URN, effective_on=date(2030, 2, 4)),
         "the child is already on this school's roll"),
        (c.ChangeSchool(actor=CASEWORKER, new_school_urn=OTHER_SCHOOL_URN, effective_on=date(2030, 1, 21)),
         "effective_on must be after the current school's spell began"),
    ],
)
def test_school_changes_refused(cmd, message):
    assert rejected(in_provision(), Action.CHANGE_SCHOOL, cmd, ctx(date(2030, 2, 4))) == message


def test_a_school_change_the_day_after_the_spell_began_is_taken():
    state = in_provision()
    apply(state, Action.CHANGE_SCHOOL,
          c.ChangeSchool(actor=CASEWORKER, new_school_urn=OTHER_SCHOOL_URN, effective_on=date(2030, 1, 22)),
          ctx(date(2030, 2, 4)))
    assert [(s.school_urn, s.from_date, s.to_date) for s in state.school_spells] == [
        (SCHOOL_URN, date(2030, 1, 21), date(2030, 1, 21)), (OTHER_SCHOOL_URN, date(2030, 1, 22), None)]


def test_a_note_is_kept_with_who_wrote_it_and_when():
    state = in_provision()
    apply(state, Action.ADD_NOTE, c.AddNote(actor=SUPERVISOR, text="spoke to the school"), ctx(date(2030, 2, 4), hour=14))
    [note] = state.notes
    assert (note.at, note.actor, note.text) == (ctx(date(2030, 2, 4), hour=14).now, SUPERVISOR, "spoke to the school")
    assert "spoke" not in summary(state)  # the timeline never carries the text


def close(outcome=c.CloseOutcome.WITHDRAWN, on=None, reason=None):
    return c.CloseCase(actor=CASEWORKER, outcome=outcome, closed_on=on, reason=reason)


def test_closing_before_provision_sends_the_closure_letter_and_charges_nothing():
    state = case()
    effects = apply(state, Action.CLOSE, close(c.CloseOutcome.LEFT_AREA, reason="moved to Wales"), ctx(date(2030, 1, 9)))
    assert state.stage is Stage.CLOSED
    assert (state.close_outcome, state.closed_on, state.close_reason) == (
        c.CloseOutcome.LEFT_AREA, date(2030, 1, 9), "moved to Wales")
    mail = only_mail(effects)
    assert mails(effects) == [("case_closed", [PARENT_TO, SCHOOL_TO])]
    assert mail.idempotency_key == f"{CASE_REF}:1:closed"
    assert effects.recoupment == []
    assert summary(state) == "case closed: left_area"


def test_closing_in_provision_settles_every_school_day_not_yet_charged():
    state = in_provision(
        school_spells=[SchoolSpell(school_urn=SCHOOL_URN, from_date=date(2030, 1, 21), to_date=date(2030, 2, 3)),
                       SchoolSpell(school_urn=OTHER_SCHOOL_URN, from_date=date(2030, 2, 4), to_date=None)],
        recoupment_lines=[RecoupmentLine(case_ref=CASE_REF, school_urn=SCHOOL_URN, period="x", from_date=date(2030, 1, 21),
                                         to_date=date(2030, 1, 27), school_days=5, key_stage=KeyStage.KS3,
                                         amount=Decimal("50.00"))])
    effects = apply(state, Action.CLOSE, close(c.CloseOutcome.EHC_PLAN_ROUTE, on=date(2030, 2, 11)), ctx(date(2030, 2, 12)))
    assert state.closed_on == date(2030, 2, 11)
    assert [(r.school_urn, r.period, r.from_date, r.to_date, r.school_days, r.amount) for r in effects.recoupment] == [
        (SCHOOL_URN, "settlement", date(2030, 1, 28), date(2030, 2, 3), 5, Decimal("50.00")),
        (OTHER_SCHOOL_URN, "settlement", date(2030, 2, 4), date(2030, 2, 10), 5, Decimal("50.00")),
    ]


def test_school_work_is_not_recouped():
    state = in_provision(decision=c.DecisionOutcome.SCHOOL_WORK)
    effects = apply(state, Action.CLOSE, close(), ctx(date(2030, 2, 12)))
    assert effects.recoupment == []


def test_closing_on_the_first_day_of_provision_charges_nothing():
    effects = apply(in_provision(), Action.CLOSE, close(on=date(2030, 1, 21)), ctx(date(2030, 1, 21)))
    assert effects.recoupment == []


def test_a_closure_cannot_be_dated_in_the_future():
    assert rejected(case(), Action.CLOSE, close(on=date(2030, 1, 10)), ctx(date(2030, 1, 9))) == "closed_on is in the future"


def test_a_full_time_return_cannot_be_dated_in_the_future():
    message = rejected(reintegrating(), Action.CONFIRM_FULL_TIME_RETURN,
                       c.ConfirmFullTimeReturn(actor=CASEWORKER, returned_on=date(2030, 3, 1)), ctx(date(2030, 2, 4)))
    assert message == "returned_on is in the future"


def test_a_new_plan_while_reintegrating_keeps_the_extension_history():
    state = reintegrating(end=date(2030, 3, 29))
    for new_end in [date(2030, 4, 26), date(2030, 5, 10)]:
        apply(state, Action.EXTEND_REINTEGRATION, extend(new_end), ctx(date(2030, 3, 25)))
    with pytest.raises(CommandRejected):
        apply(state, Action.AGREE_REINTEGRATION_PLAN, plan(date(2030, 3, 26), date(2030, 6, 28)), ctx(date(2030, 3, 25)))
    assert state.reintegration.original_end_date == date(2030, 3, 29)
    assert len(state.reintegration.extensions) == 2


def test_closing_the_day_after_provision_started_charges_that_one_day():
    effects = apply(in_provision(), Action.CLOSE, close(on=date(2030, 1, 22)), ctx(date(2030, 1, 22)))
    assert [(r.from_date, r.to_date, r.school_days, r.amount) for r in effects.recoupment] == [
        (date(2030, 1, 21), date(2030, 1, 21), 1, Decimal("10.00"))]


def test_closing_before_provision_starts_charges_nothing_even_after_an_la_decision():
    effects = apply(commissioning(officer=OFFICER_NAME), Action.CLOSE, close(), ctx(date(2030, 1, 20)))
    assert effects.recoupment == []


def test_settlement_starts_after_the_latest_charge_whatever_order_the_lines_are_in():
    def line(start, end):
        return RecoupmentLine(case_ref=CASE_REF, school_urn=SCHOOL_URN, period="x", from_date=start, to_date=end,
                              school_days=5, key_stage=KeyStage.KS3, amount=Decimal("50.00"))

    state = in_provision(recoupment_lines=[line(date(2030, 1, 28), date(2030, 2, 3)),
                                           line(date(2030, 1, 21), date(2030, 1, 27))])
    effects = apply(state, Action.CLOSE, close(on=date(2030, 2, 11)), ctx(date(2030, 2, 12)))
    assert [(r.from_date, r.to_date) for r in effects.recoupment] == [(date(2030, 2, 4), date(2030, 2, 10))]
