"""Letters and invites (issue 12): what each letter says and to whom, and the calendar invitations of TAS
reviews (RFC 5546: one UID, SEQUENCE raised on a move, METHOD:CANCEL when the meeting will not happen).

Pure, fixed dates (spring 2030: 7 January - 29 March, half-term 18-22 February); what the email activity
fills in from settings (officer directory, complaints route) is tested in tests/email_activities."""

import dataclasses
from datetime import date, datetime

from domain import case_commands as c
from domain.case_alarms import fire
from domain.case_transitions import apply
from domain.stages import Action, Stage
from tests.rule_fixtures import (
    CASE_REF,
    CASEWORKER,
    CONSULTANT,
    OFFICER_NAME,
    OFFICER_TO,
    OTHER_SCHOOL_URN,
    PARENT_TO,
    SCHOOL_TO,
    alarm_named,
    ctx,
    deciding,
    gathering,
    in_provision,
    mails,
    only_mail,
    reintegrating,
)

UID = f"{CASE_REF}-review-1@casework"


def schedule(state, on: date, today: date):
    return apply(state, Action.SCHEDULE_REVIEW, c.ScheduleReview(actor=CASEWORKER, on=on), ctx(today))


def old_rules(today: date):
    """The context a case replays a command in that it accepted before these letters."""
    return dataclasses.replace(ctx(today), letters=False)


# --- TAS meeting invites ---------------------------------------------------------------------------


def test_a_first_invitation_is_a_request_at_sequence_zero():
    state = in_provision()
    invite = only_mail(schedule(state, date(2030, 3, 12), date(2030, 3, 1))).invite
    assert (invite.uid, invite.method, invite.sequence) == (UID, "REQUEST", 0)
    assert invite.starts_at == datetime(2030, 3, 12, 10, 0)


def test_a_moved_review_keeps_its_uid_with_a_higher_sequence_each_move():
    state = in_provision()
    schedule(state, date(2030, 3, 12), date(2030, 3, 1))
    moved = only_mail(schedule(state, date(2030, 3, 14), date(2030, 3, 4)))
    assert (moved.template.value, moved.invite.uid, moved.invite.method, moved.invite.sequence) == (
        "review_invitation", UID, "REQUEST", 1)
    assert moved.invite.starts_at == datetime(2030, 3, 14, 10, 0)
    assert moved.context["detail"] == (" The meeting has moved from Tuesday 12 March 2030; this invitation "
                                       "replaces the earlier one.")
    again = only_mail(schedule(state, date(2030, 3, 15), date(2030, 3, 5)))
    assert again.invite.sequence == 2
    # Sent again for the same day: the same meeting, so the same sequence.
    same = only_mail(schedule(state, date(2030, 3, 15), date(2030, 3, 6)))
    assert same.invite.sequence == 2


def test_the_reminder_carries_the_meeting_as_last_sent():
    state = in_provision()
    schedule(state, date(2030, 3, 12), date(2030, 3, 1))
    schedule(state, date(2030, 3, 13), date(2030, 3, 4))
    mail = only_mail(fire(state, alarm_named(state, ctx(date(2030, 3, 6)), "review-reminder"), ctx(date(2030, 3, 6))))
    assert (mail.invite.uid, mail.invite.method, mail.invite.sequence) == (UID, "REQUEST", 1)


def test_a_reminder_for_a_review_nobody_has_scheduled_carries_no_invite():
    """A calendar entry at 10:00 on the due day would be a meeting nobody arranged."""
    state = in_provision()
    mail = only_mail(fire(state, alarm_named(state, ctx(date(2030, 3, 4)), "review-reminder"), ctx(date(2030, 3, 4))))
    assert mail.template.value == "review_reminder" and mail.invite is None


def test_closing_a_case_cancels_its_scheduled_review():
    state = in_provision()
    schedule(state, date(2030, 3, 12), date(2030, 3, 1))
    schedule(state, date(2030, 3, 13), date(2030, 3, 4))
    effects = apply(state, Action.CLOSE, c.CloseCase(actor=CASEWORKER, outcome=c.CloseOutcome.LEFT_AREA),
                    ctx(date(2030, 3, 5)))
    cancel = next(m for m in effects.emails if m.template.value == "review_cancelled")
    assert [r for r in mails(effects) if r[0] == "review_cancelled"] == [
        ("review_cancelled", [PARENT_TO, SCHOOL_TO, OFFICER_TO])]
    assert (cancel.invite.uid, cancel.invite.method, cancel.invite.sequence) == (UID, "CANCEL", 2)
    assert cancel.invite.starts_at == datetime(2030, 3, 13, 10, 0)
    assert cancel.context["date"] == "Wednesday 13 March 2030"


def test_closing_a_case_whose_review_nobody_scheduled_sends_no_cancellation():
    state = in_provision()
    effects = apply(state, Action.CLOSE, c.CloseCase(actor=CASEWORKER, outcome=c.CloseOutcome.LEFT_AREA),
                    ctx(date(2030, 3, 5)))
    assert "review_cancelled" not in [m for m, _ in mails(effects)]


def test_a_review_held_before_its_scheduled_day_cancels_the_meeting_left_in_calendars():
    state = in_provision()
    schedule(state, date(2030, 3, 14), date(2030, 3, 1))
    effects = apply(state, Action.RECORD_REVIEW_OUTCOME, c.RecordReviewOutcome(
        actor=CASEWORKER, outcome=c.ReviewOutcome.CONTINUE, held_on=date(2030, 3, 11)), ctx(date(2030, 3, 11)))
    cancel = only_mail(effects)
    assert (cancel.template.value, cancel.invite.uid, cancel.invite.method, cancel.invite.sequence) == (
        "review_cancelled", UID, "CANCEL", 1)


def test_a_review_held_on_its_day_cancels_nothing():
    state = in_provision()
    schedule(state, date(2030, 3, 11), date(2030, 3, 1))
    effects = apply(state, Action.RECORD_REVIEW_OUTCOME, c.RecordReviewOutcome(
        actor=CASEWORKER, outcome=c.ReviewOutcome.CONTINUE, held_on=date(2030, 3, 11)), ctx(date(2030, 3, 11)))
    assert effects.emails == []


def test_a_case_replaying_a_close_it_accepted_before_invites_were_cancelled_sends_only_the_closure():
    state = in_provision()
    schedule(state, date(2030, 3, 12), date(2030, 3, 1))
    effects = apply(state, Action.CLOSE, c.CloseCase(actor=CASEWORKER, outcome=c.CloseOutcome.LEFT_AREA),
                    old_rules(date(2030, 3, 5)))
    assert [m for m, _ in mails(effects)] == ["case_closed"]


def test_a_school_change_cancels_the_meeting_for_the_old_school_and_invites_the_new_one():
    state = in_provision()
    schedule(state, date(2030, 3, 12), date(2030, 3, 1))
    effects = apply(state, Action.CHANGE_SCHOOL, c.ChangeSchool(
        actor=CASEWORKER, new_school_urn=OTHER_SCHOOL_URN, effective_on=date(2030, 3, 4)), ctx(date(2030, 3, 4)))
    cancel, invite = effects.emails
    assert mails(effects) == [("review_cancelled", [SCHOOL_TO]),
                              ("review_invitation", [PARENT_TO, ("school", OTHER_SCHOOL_URN), OFFICER_TO])]
    assert (cancel.invite.uid, cancel.invite.method, cancel.invite.sequence) == (UID, "CANCEL", 1)
    assert (invite.invite.uid, invite.invite.method, invite.invite.sequence) == (UID, "REQUEST", 1)
    assert "moved to another school" in cancel.context["detail"]


def test_a_new_officer_is_invited_in_place_of_the_old_one():
    state = in_provision()
    schedule(state, date(2030, 3, 12), date(2030, 3, 1))
    effects = apply(state, Action.ASSIGN_OFFICER, c.AssignOfficer(actor=CASEWORKER, officer="officer-kp"),
                    ctx(date(2030, 3, 4)))
    assert mails(effects) == [("officer_assigned", [PARENT_TO]), ("review_cancelled", [OFFICER_TO]),
                              ("review_invitation", [PARENT_TO, SCHOOL_TO, ("officer", "officer-kp")])]
    assert [m.invite.sequence for m in effects.emails[1:]] == [1, 1]


def test_each_cancellation_says_why():
    state = in_provision()
    schedule(state, date(2030, 3, 12), date(2030, 3, 1))
    effects = apply(state, Action.CLOSE, c.CloseCase(actor=CASEWORKER, outcome=c.CloseOutcome.LEFT_AREA),
                    ctx(date(2030, 3, 5)))
    [cancel] = [m for m in effects.emails if m.template.value == "review_cancelled"]
    assert "case is closed" in cancel.context["detail"]


# --- part-time timetables --------------------------------------------------------------------------


def plan(start=date(2030, 3, 11), end=date(2030, 3, 29)):
    return c.AgreeReintegrationPlan(actor=CASEWORKER, start_date=start, end_date=end, hours_per_week=12.5)


def test_agreeing_a_plan_sends_no_ending_email_and_writes_the_plan():
    state = in_provision()
    effects = apply(state, Action.AGREE_REINTEGRATION_PLAN, plan(), ctx(date(2030, 3, 8)))
    assert effects.emails == []
    [doc] = effects.documents
    assert doc.kind == "reintegration_plan" and doc.officer_ref == OFFICER_NAME
    assert "from 2030-03-11 to 2030-03-29" in doc.body
    # Agreed again (a different timetable, the same end): still no email.
    again = apply(state, Action.AGREE_REINTEGRATION_PLAN, plan(start=date(2030, 3, 12)), ctx(date(2030, 3, 11)))
    assert again.emails == [] and len(again.documents) == 1


def test_the_ending_email_goes_once_near_the_end_and_the_end_day_tells_only_the_officer():
    state = reintegrating(end=date(2030, 3, 29))
    reminder = alarm_named(state, ctx(date(2030, 3, 26)), "part-time-reminder")
    assert reminder.fires_on == date(2030, 3, 26)  # three school days before the end (the setting)
    assert mails(fire(state, reminder, ctx(date(2030, 3, 26)))) == [
        ("part_time_ending", [PARENT_TO, SCHOOL_TO, OFFICER_TO])]
    end = alarm_named(state, ctx(date(2030, 3, 29)), "part-time-end")
    assert mails(fire(state, end, ctx(date(2030, 3, 29)))) == [("part_time_ending", [OFFICER_TO])]


def test_an_extension_writes_the_plan_again_with_its_new_end_and_reason():
    state = reintegrating(end=date(2030, 3, 29))
    effects = apply(state, Action.EXTEND_REINTEGRATION, c.ExtendReintegration(
        actor=CASEWORKER, new_end_date=date(2030, 5, 10), reason="Fatigue after treatment"), ctx(date(2030, 3, 25)))
    [doc] = effects.documents
    assert doc.kind == "reintegration_plan" and doc.officer_ref == OFFICER_NAME
    assert "to 2030-05-10" in doc.body
    assert "originally to 2030-03-29" in doc.body
    assert "Extended on 2030-03-25 to 2030-05-10: Fatigue after treatment" in doc.body
    assert effects.emails == []


def test_a_case_replaying_commands_from_before_keeps_their_old_effects():
    state = in_provision()
    agreed = apply(state, Action.AGREE_REINTEGRATION_PLAN, plan(), old_rules(date(2030, 3, 8)))
    assert [m for m, _ in mails(agreed)] == ["part_time_ending"]
    extended = apply(state, Action.EXTEND_REINTEGRATION, c.ExtendReintegration(
        actor=CASEWORKER, new_end_date=date(2030, 5, 10), reason="Fatigue"), old_rules(date(2030, 3, 25)))
    assert extended.documents == []


# --- the named officer ------------------------------------------------------------------------------


def test_every_email_names_the_officer_by_login_for_the_activity_to_look_up():
    state = in_provision()
    effects = apply(state, Action.ASSIGN_OFFICER, c.AssignOfficer(actor=CASEWORKER, officer="officer-kp"),
                    ctx(date(2030, 3, 1)))
    assert only_mail(effects).context["officer_ref"] == "officer-kp"
    state = deciding()
    effects = apply(state, Action.DECIDE, c.Decide(actor=CASEWORKER, outcome=c.DecisionOutcome.LA_PROVISION,
                                                   reason="letter"), ctx(date(2030, 1, 16)))
    assert {m.context["officer_ref"] for m in effects.emails} == {""}


# --- decision letters -------------------------------------------------------------------------------


def decide(outcome, reason="Consultant letter: unable to attend for the spring term", today=date(2030, 1, 16)):
    state = deciding()
    return state, apply(state, Action.DECIDE, c.Decide(actor=CASEWORKER, outcome=outcome, reason=reason), ctx(today))


def test_the_parent_gets_the_decision_with_its_reasons_and_the_school_its_own_notice():
    for outcome in (c.DecisionOutcome.LA_PROVISION, c.DecisionOutcome.SCHOOL_WORK):
        _, effects = decide(outcome)
        assert mails(effects) == [("decision_letter", [PARENT_TO]), ("decision_notice_school", [SCHOOL_TO])]
        letter, notice = effects.emails
        assert "Consultant letter: unable to attend for the spring term" in letter.context["detail"]
        assert "your child" not in notice.context["detail"].lower()
        assert "Consultant letter" not in notice.context["detail"]  # health detail stays with the family
        assert letter.idempotency_key != notice.idempotency_key


def test_not_eligible_gives_reasons_to_the_parent_and_its_own_notice_to_the_school():
    state, effects = decide(c.DecisionOutcome.NOT_ELIGIBLE, reason="Expected back within the week")
    assert state.stage is Stage.CLOSED
    assert [m for m, _ in mails(effects)] == ["decision_letter", "decision_notice_school"]
    letter, notice = effects.emails
    assert "Expected back within the week" in letter.context["detail"]
    assert "will not arrange education" in letter.context["detail"]
    assert "school" in notice.context["detail"].lower() and "your child" not in notice.context["detail"].lower()


def test_a_case_replaying_a_decision_from_before_sends_the_one_letter():
    state = deciding()
    effects = apply(state, Action.DECIDE, c.Decide(actor=CASEWORKER, outcome=c.DecisionOutcome.LA_PROVISION,
                                                   reason="letter"), old_rules(date(2030, 1, 16)))
    assert mails(effects) == [("decision_letter", [PARENT_TO, SCHOOL_TO])]


# --- evidence requests ------------------------------------------------------------------------------


def test_an_evidence_request_identifies_the_patient_and_the_consent_it_rests_on():
    state = gathering(date(2030, 1, 8))
    effects = apply(state, Action.REQUEST_EVIDENCE, c.RequestEvidence(actor=CASEWORKER, professional_ids=[CONSULTANT.id]),
                    ctx(date(2030, 1, 9)))
    mail = only_mail(effects)
    assert mail.context["child_name"] == "Amelia Testcase"
    assert mail.context["child_date_of_birth"] == "14 May 2018"
    assert mail.context["professional_name"] == CONSULTANT.name
    assert mail.context["consent_date"] == "Tuesday 8 January 2030"


def test_the_evidence_chaser_identifies_the_patient_too():
    state = gathering(date(2030, 1, 8), requests=("consultant-1",))
    mail = only_mail(fire(state, alarm_named(state, ctx(date(2030, 1, 15)), "evidence-chase"), ctx(date(2030, 1, 15))))
    assert (mail.context["child_date_of_birth"], mail.context["professional_name"]) == ("14 May 2018", CONSULTANT.name)


def test_no_other_email_carries_the_date_of_birth():
    _, effects = decide(c.DecisionOutcome.LA_PROVISION)
    assert all("child_date_of_birth" not in m.context for m in effects.emails)
