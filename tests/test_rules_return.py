"""The rules of the way back and out: the reintegration plan (the part-time timetable, its mandatory end
date and extensions), the full-time return, school changes, notes, closure, and the recoupment settled
at closure.

State in, command, effects out; or the refusal and its exact message. Pure, fixed dates (see
tests/rule_fixtures.py: £10 a school day).
"""

from datetime import date
from decimal import Decimal

import pytest

from domain import case_commands as c
from domain.case_transitions import CommandRejected, apply
from domain.recoupment import KeyStage, RecoupmentLine, SchoolSpell
from domain.stages import Action, Stage
from tests.rule_fixtures import (
    CASE_REF,
    CASEWORKER,
    OFFICER_NAME,
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
    reintegrating,
    rejected,
    summary,
)

# --- reintegration ---------------------------------------------------------------------------------


def plan(start=date(2030, 3, 11), end=date(2030, 3, 29), hours=12.5):
    return c.AgreeReintegrationPlan(actor=CASEWORKER, start_date=start, end_date=end, hours_per_week=hours)


def test_agreeing_a_plan_starts_reintegration_and_writes_the_plan():
    state = in_provision()
    effects = apply(state, Action.AGREE_REINTEGRATION_PLAN, plan(), ctx(date(2030, 3, 8)))
    assert state.stage is Stage.REINTEGRATING
    p = state.reintegration
    assert (p.start_date, p.end_date, p.original_end_date, p.hours_per_week, p.extensions) == (
        date(2030, 3, 11), date(2030, 3, 29), date(2030, 3, 29), 12.5, [])
    # The ending email goes near the end, by alarm (tests/test_rules_letters.py), not on agreement.
    assert mails(effects) == []
    [doc] = effects.documents
    assert (doc.case_ref, doc.kind, doc.title) == (CASE_REF, "reintegration_plan", f"Reintegration plan {CASE_REF}")
    assert doc.body == ("Part-time timetable of 12.5 hours a week from 2030-03-11 to 2030-03-29, when the child "
                        "returns full-time or the plan is reviewed.\n")
    assert doc.officer_ref == "officer-jb"  # the document activity adds the officer's name and contact
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
    # The return, then the closure it made: every closure is on the timeline.
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
