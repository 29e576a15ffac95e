"""What a case is waiting on (`pending_tasks`), stage by stage: each task's kind, who it is for and when
it is due, when it is overdue and escalated. Overdue tasks are what the "overdue" alarm marks, and the
decision and commissioning deadlines are the statutory clock a late case is measured by.

Pure, fixed dates (spring 2030: 7 January - 29 March, half-term 18-22 February).
"""

from datetime import date

import pytest

from domain.case_commands import DecisionOutcome
from domain.case_state import ConsentStatus, HospitalStay, Review
from domain.pending_tasks import decision_due_on, pending_tasks
from domain.people import Role
from domain.stages import Stage
from tests.rule_fixtures import (
    OFFICER_NAME,
    awaiting_consent,
    case,
    commissioning,
    ctx,
    deciding,
    gathering,
    in_provision,
    reintegrating,
)


def tasks(state, today):
    return [(t.id, t.kind.value, t.assignee_role, t.assignee, t.due_on, t.overdue, t.escalated)
            for t in pending_tasks(state, ctx(today))]


CW, SUP = Role.CASEWORKER, Role.SUPERVISOR


@pytest.mark.parametrize(
    ("make", "today", "expected"),
    [
        (case, date(2030, 1, 7), [("request-consent", "request_consent", CW, None, date(2030, 1, 8), False, False)]),
        (case, date(2030, 1, 9), [("request-consent", "request_consent", CW, None, date(2030, 1, 8), True, False)]),
        (lambda: awaiting_consent(date(2030, 1, 7)), date(2030, 1, 10), [
            ("reply-to-consent", "reply_to_consent", "parent", None, date(2030, 1, 10), False, False),
            ("follow-up-consent", "follow_up_consent", CW, None, date(2030, 1, 14), False, False)]),
        (lambda: awaiting_consent(None), date(2030, 1, 8), [  # asked on an unknown day: from the opening
            ("reply-to-consent", "reply_to_consent", "parent", None, date(2030, 1, 10), False, False),
            ("follow-up-consent", "follow_up_consent", CW, None, date(2030, 1, 14), False, False)]),
        (lambda: gathering(date(2030, 1, 8), requests=("consultant-1",)), date(2030, 1, 16), [
            ("send-evidence:consultant-1", "send_evidence", "professional", "consultant-1", date(2030, 1, 15), True,
             False),
            # The evidence deadline (10 school days: 22 January), then 5 more to decide.
            ("decide", "decide", CW, None, date(2030, 1, 29), False, False)]),
        (lambda: deciding(date(2030, 1, 15), officer=OFFICER_NAME), date(2030, 1, 22), [
            ("decide", "decide", CW, OFFICER_NAME, date(2030, 1, 22), False, False)]),
        (lambda: commissioning(date(2030, 1, 16)), date(2030, 1, 17), [
            ("assign-officer", "assign_officer", SUP, None, date(2030, 1, 17), False, False),
            ("commission-provision", "commission_provision", CW, None, date(2030, 1, 23), False, False)]),
        # With the 15-day point known, provision is due by it.
        (lambda: commissioning(date(2030, 1, 16), threshold_date=date(2030, 1, 25), officer=OFFICER_NAME),
         date(2030, 1, 28), [
            ("commission-provision", "commission_provision", CW, OFFICER_NAME, date(2030, 1, 25), True, False)]),
        (in_provision, date(2030, 3, 11), [("hold-review-1", "hold_review", CW, OFFICER_NAME, date(2030, 3, 11), False,
                                            False)]),
        (in_provision, date(2030, 3, 15), [("hold-review-1", "hold_review", CW, OFFICER_NAME, date(2030, 3, 11), True,
                                            False)]),
        (in_provision, date(2030, 3, 18), [("hold-review-1", "hold_review", CW, OFFICER_NAME, date(2030, 3, 11), True,
                                            True)]),
        (reintegrating, date(2030, 3, 1), [
            ("hold-review-1", "hold_review", CW, OFFICER_NAME, date(2030, 3, 11), False, False),
            ("confirm-return", "confirm_return_or_extend", CW, OFFICER_NAME, date(2030, 3, 29), False, False)]),
    ],
)
def test_what_each_stage_waits_for(make, today, expected):
    assert tasks(make(), today) == expected


def test_a_decided_case_without_a_decision_day_counts_from_today():
    state = commissioning(decided=None)
    state.decided_on = None
    assert [(t.id, t.due_on) for t in pending_tasks(state, ctx(date(2030, 1, 21)))] == [
        ("assign-officer", date(2030, 1, 22)), ("commission-provision", date(2030, 1, 28))]


def test_no_review_task_without_an_open_review_and_none_once_closed():
    assert tasks(in_provision(reviews=[]), date(2030, 3, 1)) == []
    held = Review(id="review-1", due_on=date(2030, 3, 11), held_on=date(2030, 3, 11))
    assert tasks(in_provision(reviews=[held]), date(2030, 3, 12)) == []
    state = in_provision()
    state.stage = Stage.CLOSED
    assert tasks(state, date(2030, 3, 1)) == []


def test_a_rescheduled_review_is_due_on_its_new_day():
    state = in_provision(reviews=[Review(id="review-1", due_on=date(2030, 3, 11), scheduled_on=date(2030, 3, 13))])
    [task] = pending_tasks(state, ctx(date(2030, 3, 19)))
    assert (task.due_on, task.overdue, task.escalated) == (date(2030, 3, 13), True, False)
    [task] = pending_tasks(state, ctx(date(2030, 3, 20)))
    assert task.escalated


@pytest.mark.parametrize("stage", [Stage.NOTIFIED, Stage.GATHERING_EVIDENCE, Stage.COMMISSIONING])
def test_a_child_in_hospital_before_provision_needs_a_referral(stage):
    state = gathering(hospital_stays=[HospitalStay(hospital="LRI", admitted_on=date(2030, 1, 14))])
    state.stage = stage
    found = {t.id: t for t in pending_tasks(state, ctx(date(2030, 2, 5)))}
    task = found["hospital-referral"]
    assert (task.kind.value, task.assignee_role, task.due_on, task.overdue) == (
        "hospital_referral", CW, date(2030, 2, 4), True)


def test_no_hospital_referral_task_once_provision_runs():
    state = in_provision(hospital_stays=[HospitalStay(hospital="LRI", admitted_on=date(2030, 2, 4))])
    assert "hospital-referral" not in [t.id for t in pending_tasks(state, ctx(date(2030, 3, 1)))]


def test_consent_not_yet_requested_while_awaiting_gives_no_consent_tasks():
    state = awaiting_consent(consent=ConsentStatus.REFUSED)
    assert tasks(state, date(2030, 1, 8)) == []


@pytest.mark.parametrize(
    ("make", "due"),
    [
        (lambda: deciding(date(2030, 1, 15)), date(2030, 1, 22)),
        (lambda: gathering(date(2030, 1, 8)), date(2030, 1, 29)),
        (lambda: gathering(date(2030, 1, 8), evidence_opened_on=None), None),
        (lambda: deciding(date(2030, 1, 15), evidence_closed_on=None), None),
        (lambda: commissioning(outcome=DecisionOutcome.LA_PROVISION), None),
    ],
)
def test_the_decision_is_due_five_school_days_after_the_evidence_closes(make, due):
    assert decision_due_on(make(), ctx(date(2030, 1, 14))) == due


def test_the_decision_clock_is_a_setting():
    assert decision_due_on(deciding(date(2030, 1, 15)), ctx(date(2030, 1, 15), decision_due_after=2)) == date(2030, 1, 17)
    assert decision_due_on(gathering(date(2030, 1, 8)), ctx(date(2030, 1, 8), evidence_decide_after=3,
                                                            decision_due_after=1)) == date(2030, 1, 14)


DESCRIPTIONS = {
    "request-consent": "Ask the parent for consent to contact health professionals",
    "reply-to-consent": "Parent to reply to the consent request",
    "follow-up-consent": "Follow up consent, or decide on the evidence held",
    "send-evidence:consultant-1": "Health professional to send evidence",
    "decide": "Make the referral decision on the evidence held",
    "commission-provision": "Commission provision (due by the 15th school day of absence)",
    "assign-officer": "Name the education officer",
    "hold-review-1": "Hold the Team Around School review",
    "confirm-return": "Confirm full-time return, or extend the part-time timetable with a reason",
    "hospital-referral": "Refer for hospital education: the child may not return within 15 school days",
}


def test_each_task_says_what_is_to_be_done():
    hospital = [HospitalStay(hospital="LRI", admitted_on=date(2030, 1, 14))]
    states = [case(hospital_stays=hospital), awaiting_consent(), gathering(requests=("consultant-1",)), commissioning(),
              reintegrating()]
    found = {t.id: t.description for s in states for t in pending_tasks(s, ctx(date(2030, 1, 15)))}
    assert found == DESCRIPTIONS


def test_the_parent_s_task_is_never_assigned_to_the_officer():
    found = {t.id: t.assignee for t in pending_tasks(awaiting_consent(officer=OFFICER_NAME), ctx(date(2030, 1, 8)))}
    assert found == {"reply-to-consent": None, "follow-up-consent": OFFICER_NAME}
