"""The first rules of a case, command by command: absence days and the 15-day point, and consent (asked,
granted, refused, withdrawn), with what `apply` and `check` do for every command (dates, timeline,
progress). Evidence and the decision: test_rules_evidence.py; after it: test_rules_provision.py,
test_rules_reviews.py, test_rules_return.py.

Each test gives a state in, a command, and checks what comes out: the stage after, the emails (template
and recipients), the state's fields and the timeline entry; or the refusal and its exact message.
Pure: no Temporal, no database, fixed dates (see tests/rule_fixtures.py for the calendar).
"""

from datetime import date, timedelta

import pytest

from domain import case_commands as c
from domain.absence_threshold import absence_days_in_year
from domain.case_context import CaseContext
from domain.case_effects import Effects
from domain.case_rules import CaseRules
from domain.case_state import ConsentStatus, EvidenceRequest
from domain.case_transitions import CommandRejected, apply, check
from domain.stages import Action, Stage
from domain.statutory_clocks import ClockSettings
from tests.rule_fixtures import (
    CASE_REF,
    CASEWORKER,
    CONSULTANT,
    FIRST_DAY,
    GP,
    PARENT_TO,
    SCHOOL_ACTOR,
    at,
    awaiting_consent,
    calendar,
    calendar_data,
    case,
    commissioning,
    ctx,
    deciding,
    gathering,
    last_event,
    mails,
    only_mail,
    provision,
    rates,
    refusal,
    sample_command,
)

DOC_A = "doc-" + "a" * 64
DOC_B = "doc-" + "b" * 64



# --- apply in general ------------------------------------------------------------------------------


def test_apply_records_the_event_and_counts_as_progress():
    state = case(last_progress_on=FIRST_DAY, stalled=True)
    apply(state, Action.ADD_NOTE, c.AddNote(actor=CASEWORKER, text="called"), ctx(date(2030, 1, 9), hour=11))
    event = last_event(state)
    assert (event.seq, event.action, event.actor, event.summary) == (1, "add_note", CASEWORKER, "case note added")
    assert event.at == ctx(date(2030, 1, 9), hour=11).now
    assert state.last_progress_on == date(2030, 1, 9)
    assert state.stalled is False
    apply(state, Action.ADD_NOTE, c.AddNote(actor=CASEWORKER, text="again"), ctx(date(2030, 1, 10)))
    assert [e.seq for e in state.timeline] == [1, 2]


def test_apply_checks_first_so_a_refused_command_changes_nothing():
    state = case(Stage.IN_PROVISION)
    before = state.model_copy(deep=True)
    with pytest.raises(CommandRejected) as caught:
        apply(state, Action.DECIDE, sample_command(Action.DECIDE), ctx(date(2030, 1, 14)))
    assert caught.value.kind == "ActionNotAllowed"
    assert state == before


@pytest.mark.parametrize(
    ("today", "day", "ok"),
    [
        (date(2030, 1, 14), date(2029, 9, 1), True),  # the first day the calendar covers
        (date(2030, 1, 14), date(2029, 8, 31), False),  # before it
        (date(2030, 1, 14), date(2031, 1, 15), True),  # 366 days after today
        (date(2030, 1, 14), date(2031, 1, 16), False),  # 367
        (date(2030, 9, 10), date(2031, 8, 31), True),  # the calendar's last day comes first
        (date(2030, 9, 10), date(2031, 9, 1), False),
    ],
)
def test_every_date_a_command_carries_must_be_inside_the_calendar_and_a_year_ahead(today, day, ok):
    state = case(Stage.IN_PROVISION)
    cmd = c.ChangeSchool(actor=CASEWORKER, new_school_urn="120002", effective_on=day)
    if ok:
        check(state, Action.CHANGE_SCHOOL, cmd, ctx(today))
        return
    last = min(today + timedelta(days=366), date(2031, 8, 31))
    err = refusal(state, Action.CHANGE_SCHOOL, cmd, ctx(today))
    assert str(err) == (f"effective_on {day.isoformat()} is outside the dates this case can take "
                        f"(2029-09-01 to {last.isoformat()})")


def test_a_date_nested_in_a_list_is_named_by_its_place():
    cmd = c.CommissionProvision(actor=CASEWORKER, officer="officer-jb",
                                provisions=[provision(date(2030, 1, 21)), provision(date(2031, 9, 1))])
    err = refusal(commissioning(), Action.COMMISSION_PROVISION, cmd, ctx(date(2030, 1, 17)))
    assert str(err).startswith("provisions[1].start_date 2031-09-01 is outside the dates this case can take")


def test_without_a_context_only_the_stage_and_the_command_type_are_checked():
    state = case()
    far = c.RecordAbsenceDays(actor=SCHOOL_ACTOR, days=[date(2040, 1, 1)])
    check(state, Action.RECORD_ABSENCE_DAYS, far, None)  # the dates wait for the rules to load
    with pytest.raises(CommandRejected):
        check(state, Action.RECORD_ABSENCE_DAYS, far, ctx(date(2030, 1, 8)))


# --- absence days ----------------------------------------------------------------------------------


def test_new_absence_days_are_added_in_order_and_the_15_day_point_projected():
    state = case(absence_days=[FIRST_DAY])
    effects = apply(state, Action.RECORD_ABSENCE_DAYS,
                    c.RecordAbsenceDays(actor=SCHOOL_ACTOR, days=[date(2030, 1, 10), date(2030, 1, 8), FIRST_DAY]),
                    ctx(date(2030, 1, 10)))
    assert state.absence_days == [FIRST_DAY, date(2030, 1, 8), date(2030, 1, 10)]
    # No return date: the absence runs on from the last recorded day (Wednesday 9th, not recorded, was
    # attended), so 3 recorded and 12 projected school days: the 15th is Monday 28 January.
    assert state.threshold_date == date(2030, 1, 28)
    assert last_event(state).summary == "2 absence day(s) recorded; 3 recorded in all; 15-day point 2030-01-28"
    assert last_event(state).actor == SCHOOL_ACTOR
    assert mails(effects) == [] and effects.recoupment == [] and effects.documents == []


def test_absence_days_without_a_new_15_day_point_say_so_without_the_date():
    state = case(absence_days=[FIRST_DAY], threshold_date=date(2030, 1, 25))
    apply(state, Action.RECORD_ABSENCE_DAYS, c.RecordAbsenceDays(actor=SCHOOL_ACTOR, days=[date(2030, 1, 8)]),
          ctx(date(2030, 1, 8)))
    assert state.threshold_date == date(2030, 1, 25)
    assert last_event(state).summary == "1 absence day(s) recorded; 2 recorded in all"


def test_an_expected_return_alone_is_recorded_and_moves_the_15_day_point():
    state = case(absence_days=[FIRST_DAY], threshold_date=date(2030, 1, 25))
    apply(state, Action.RECORD_ABSENCE_DAYS,
          c.RecordAbsenceDays(actor=SCHOOL_ACTOR, expected_return=date(2030, 1, 14)), ctx(date(2030, 1, 8)))
    assert state.expected_return == date(2030, 1, 14)
    assert state.threshold_date is None  # back after 5 school days: the 15-day point is not reached
    assert last_event(state).summary == "0 absence day(s) recorded; 1 recorded in all"


def test_days_missed_earlier_in_the_school_year_count_toward_the_15():
    autumn = [date(2029, 11, 5) + timedelta(days=i) for i in range(12) if (date(2029, 11, 5) + timedelta(days=i)).weekday() < 5]
    assert len(autumn) == 10
    state = case(absence_days=[FIRST_DAY])
    apply(state, Action.RECORD_ABSENCE_DAYS,
          c.RecordAbsenceDays(actor=SCHOOL_ACTOR, days=autumn, expected_return=date(2030, 1, 14)),
          ctx(date(2030, 1, 8)))
    # 10 in November and 7-11 January: the 15th is Friday 11 January.
    assert state.threshold_date == date(2030, 1, 11)


def test_the_same_notification_again_changes_nothing_and_is_not_progress():
    state = case(absence_days=[FIRST_DAY], expected_return=date(2030, 1, 21), last_progress_on=FIRST_DAY)
    before = state.model_copy(deep=True)
    effects = apply(state, Action.RECORD_ABSENCE_DAYS,
                    c.RecordAbsenceDays(actor=SCHOOL_ACTOR, days=[FIRST_DAY], expected_return=date(2030, 1, 21)),
                    ctx(date(2030, 1, 9)))
    assert state == before
    assert mails(effects) == []


@pytest.mark.parametrize(
    ("cmd", "message"),
    [
        (c.RecordAbsenceDays(actor=SCHOOL_ACTOR, days=[date(2030, 1, 12)]), "absence day 2030-01-12 is not a school day: the nearest school days are 2030-01-11 and 2030-01-14"),
        (c.RecordAbsenceDays(actor=SCHOOL_ACTOR, days=[date(2030, 2, 18)]), "absence day 2030-02-18 is not a school day: the nearest school days are 2030-02-15 and 2030-02-25"),
        (c.RecordAbsenceDays(actor=SCHOOL_ACTOR, days=[date(2030, 1, 15)]),
         "absence day 2030-01-15 is in the future; give expected_return instead"),
        (c.RecordAbsenceDays(actor=SCHOOL_ACTOR, expected_return=FIRST_DAY),
         "expected_return must be after the first day of absence"),
        (c.RecordAbsenceDays(actor=SCHOOL_ACTOR, expected_return=date(2030, 1, 4)),
         "expected_return must be after the first day of absence"),
    ],
)
def test_absence_days_refused(cmd, message):
    assert str(refusal(case(), Action.RECORD_ABSENCE_DAYS, cmd, ctx(date(2030, 1, 14)))) == message


def test_absence_today_and_a_return_the_day_after_the_first_are_taken():
    state = case()
    apply(state, Action.RECORD_ABSENCE_DAYS,
          c.RecordAbsenceDays(actor=SCHOOL_ACTOR, days=[date(2030, 1, 14)], expected_return=date(2030, 1, 8)),
          ctx(date(2030, 1, 14)))
    assert state.absence_days == [FIRST_DAY, date(2030, 1, 14)]
    assert state.expected_return == date(2030, 1, 8)


# --- consent ---------------------------------------------------------------------------------------


def test_requesting_consent_emails_the_parent_and_waits():
    state = case()
    effects = apply(state, Action.REQUEST_CONSENT, c.RequestConsent(actor=CASEWORKER), ctx(date(2030, 1, 8)))
    assert state.stage is Stage.AWAITING_CONSENT
    assert (state.consent, state.consent_requested_on) == (ConsentStatus.REQUESTED, date(2030, 1, 8))
    mail = only_mail(effects)
    assert mails(effects) == [("consent_request", [PARENT_TO])]
    assert mail.idempotency_key == f"{CASE_REF}:1:consent-request"
    assert mail.case_ref == CASE_REF
    assert mail.context == {
        "case_ref": CASE_REF, "child_name": "Amelia Testcase", "parent_name": "Jordan Testcase",
        "school_urn": "120001", "officer": "to be assigned", "officer_ref": "", "date": "Tuesday 8 January 2030",
        "detail": "",
    }
    assert mail.invite is None
    assert last_event(state).summary == "consent requested from the parent"


def test_asking_again_restarts_the_consent_clock():
    state = awaiting_consent(FIRST_DAY)
    apply(state, Action.REQUEST_CONSENT, c.RequestConsent(actor=CASEWORKER), ctx(date(2030, 1, 14)))
    assert state.consent_requested_on == date(2030, 1, 14)
    assert state.stage is Stage.AWAITING_CONSENT


@pytest.mark.parametrize("make", [case, awaiting_consent])
def test_consent_granted_opens_the_evidence_stage(make):
    state = make(evidence_closed_on=date(2030, 1, 8))
    effects = apply(state, Action.RECORD_CONSENT,
                    c.RecordConsent(actor=CASEWORKER, decision=c.ConsentDecision.GRANTED, professionals=[CONSULTANT, GP]),
                    ctx(date(2030, 1, 9)))
    assert state.stage is Stage.GATHERING_EVIDENCE
    assert (state.consent, state.consent_decided_on) == (ConsentStatus.GRANTED, date(2030, 1, 9))
    assert (state.evidence_opened_on, state.evidence_closed_on) == (date(2030, 1, 9), None)
    assert state.professionals == [CONSULTANT, GP]
    assert mails(effects) == []
    assert last_event(state).summary == "consent granted for 2 professional(s)"


def test_consent_granted_again_adds_professionals_and_updates_the_known_ones():
    state = gathering(date(2030, 1, 8))
    moved = CONSULTANT.model_copy(update={"email": "new.consultant@example.org"})
    other = GP.model_copy(update={"id": "camhs-1"})
    apply(state, Action.RECORD_CONSENT,
          c.RecordConsent(actor=CASEWORKER, decision=c.ConsentDecision.GRANTED, professionals=[moved, other]),
          ctx(date(2030, 1, 10)))
    assert state.professionals == [moved, GP, other]
    assert state.stage is Stage.GATHERING_EVIDENCE
    assert state.evidence_opened_on == date(2030, 1, 8)  # the evidence clock is not restarted


def test_consent_granted_while_deciding_leaves_the_decision_due():
    state = deciding(date(2030, 1, 15))
    apply(state, Action.RECORD_CONSENT,
          c.RecordConsent(actor=CASEWORKER, decision=c.ConsentDecision.GRANTED, professionals=[GP]),
          ctx(date(2030, 1, 16)))
    assert state.stage is Stage.DECIDING
    assert state.evidence_closed_on == date(2030, 1, 15)


@pytest.mark.parametrize("decision", [c.ConsentDecision.REFUSED, c.ConsentDecision.WITHDRAWN])
@pytest.mark.parametrize("make", [case, awaiting_consent])
def test_consent_refused_or_withdrawn_before_evidence_goes_straight_to_the_decision(make, decision):
    state = make()
    apply(state, Action.RECORD_CONSENT, c.RecordConsent(actor=CASEWORKER, decision=decision), ctx(date(2030, 1, 9)))
    assert state.stage is Stage.DECIDING
    assert state.consent is ConsentStatus(decision.value)
    assert (state.consent_decided_on, state.evidence_closed_on) == (date(2030, 1, 9), date(2030, 1, 9))
    assert last_event(state).summary == f"consent {decision.value}; decision to be made on the evidence held"


def test_withdrawn_consent_drops_the_open_evidence_requests_and_keeps_what_arrived():
    state = gathering(date(2030, 1, 8), requests=("consultant-1", "gp-1"))
    state.evidence_requests[1].received_on = date(2030, 1, 10)
    effects = apply(state, Action.RECORD_CONSENT, c.RecordConsent(actor=CASEWORKER, decision=c.ConsentDecision.WITHDRAWN),
                    ctx(date(2030, 1, 11)))
    assert state.stage is Stage.DECIDING
    assert state.consent is ConsentStatus.WITHDRAWN
    assert state.evidence_requests == [EvidenceRequest(professional_id="gp-1", requested_on=date(2030, 1, 8),
                                                       received_on=date(2030, 1, 10))]
    assert state.evidence_closed_on == date(2030, 1, 11)
    assert mails(effects) == []


def test_withdrawn_consent_while_deciding_keeps_the_decision_clock():
    state = deciding(date(2030, 1, 15), requests=("consultant-1",))
    apply(state, Action.RECORD_CONSENT, c.RecordConsent(actor=CASEWORKER, decision=c.ConsentDecision.WITHDRAWN),
          ctx(date(2030, 1, 17)))
    assert state.stage is Stage.DECIDING
    assert state.evidence_closed_on == date(2030, 1, 15)
    assert state.evidence_requests == []


def test_after_withdrawn_consent_no_professional_can_be_contacted():
    state = deciding(date(2030, 1, 15), consent=ConsentStatus.WITHDRAWN)
    err = refusal(state, Action.REQUEST_EVIDENCE, c.RequestEvidence(actor=CASEWORKER, professional_ids=["gp-1"]),
                   ctx(date(2030, 1, 17)))
    assert str(err) == "evidence can be requested only with the parent's consent (consent is withdrawn)"


def test_the_return_day_itself_is_not_absence():
    # 9 days in November and 7-11 January make 14: the return on Monday 14 January keeps it below 15.
    autumn = [date(2029, 11, d) for d in (5, 6, 7, 8, 9, 12, 13, 14, 15)]
    state = case(absence_days=[FIRST_DAY])
    apply(state, Action.RECORD_ABSENCE_DAYS,
          c.RecordAbsenceDays(actor=SCHOOL_ACTOR, days=autumn, expected_return=date(2030, 1, 14)), ctx(date(2030, 1, 8)))
    assert state.threshold_date is None
    apply(state, Action.RECORD_ABSENCE_DAYS, c.RecordAbsenceDays(actor=SCHOOL_ACTOR, expected_return=date(2030, 1, 15)),
          ctx(date(2030, 1, 9)))
    assert state.threshold_date == date(2030, 1, 14)


def test_the_projection_stops_at_the_threshold_only_when_no_return_is_known():
    open_ended = absence_days_in_year(recorded=[FIRST_DAY], first_day_of_absence=FIRST_DAY, expected_return=None,
                                      calendar=calendar(), threshold=15)
    assert len(open_ended) == 15 and open_ended[-1] == date(2030, 1, 25)
    known = absence_days_in_year(recorded=[FIRST_DAY], first_day_of_absence=FIRST_DAY,
                                 expected_return=date(2030, 2, 4), calendar=calendar(), threshold=15)
    assert len(known) == 20 and known[-1] == date(2030, 2, 1)


def test_a_context_is_built_from_the_loaded_rules():
    clocks = ClockSettings(stalled_after=4)
    context = CaseContext.from_rules(CaseRules(calendar=calendar_data(), clocks=clocks, rates=rates()),
                                     at(date(2030, 1, 8)))
    assert (context.clocks, context.rates, context.now) == (clocks, rates(), at(date(2030, 1, 8)))
    assert context.calendar.data == calendar_data()
    assert context.today == date(2030, 1, 8)
    assert context.after(date(2030, 1, 8), 4) == date(2030, 1, 14)


def test_effects_extend_keeps_what_was_there():
    first = apply(case(), Action.REQUEST_CONSENT, c.RequestConsent(actor=CASEWORKER), ctx(date(2030, 1, 8)))
    first.documents.append("doc-1")
    first.recoupment.append("line-1")
    second = Effects(emails=list(first.emails), documents=["doc-2"], recoupment=["line-2"])
    first.extend(second)
    assert len(first.emails) == 2
    assert (first.documents, first.recoupment) == (["doc-1", "doc-2"], ["line-1", "line-2"])


def test_the_absence_threshold_is_a_setting():
    state = case(absence_days=[FIRST_DAY])
    apply(state, Action.RECORD_ABSENCE_DAYS, c.RecordAbsenceDays(actor=SCHOOL_ACTOR, days=[date(2030, 1, 8)]),
          ctx(date(2030, 1, 8), absence_threshold_days=5))
    assert state.threshold_date == date(2030, 1, 11)
