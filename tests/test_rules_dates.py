"""The dates a case's commands carry (issue 12, "Dates" and the text rules of "Integrity"), on fixed
days of the test calendar (tests/data/test_terms.toml): spring 2030 runs 7 January to 29 March
(half-term 18-22 February), summer 23 April to 23 July. No `date.today()`: every day is concrete.

- a date that names a school day is refused off one, naming the field and the school days either side;
- things that happened are not in the future; things planned are not in the past beyond the grace;
- a part-time timetable is part-time and stays in one school year; a provision ends after it starts;
- a plan's end moves later only by an extension, with a reason that is not blank;
- text refuses NUL and other control characters.
"""

from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import ValidationError

from domain import case_commands as c
from domain import case_transitions as transitions
from domain.case_context import CaseContext
from domain.case_state import CaseState
from domain.command_dates import check_notification
from domain.command_rejection import CommandRejected
from domain.people import Actor, Child, Parent, Role
from domain.provision import Provision, ProvisionKind
from domain.recoupment import RecoupmentRates
from domain.school_calendar import SchoolCalendar, load_calendar_data
from domain.stages import Action, Stage
from domain.statutory_clocks import ClockSettings

TERMS = Path(__file__).parent / "data" / "test_terms.toml"
OFFICER = Actor(role=Role.CASEWORKER, name="officer-jb")
CALENDAR = SchoolCalendar(load_calendar_data(TERMS, 2028, 2031))


def ctx(day: date, **clocks: object) -> CaseContext:
    return CaseContext(CALENDAR, ClockSettings(**clocks), RecoupmentRates(),
                       datetime.combine(day, datetime.min.time(), UTC).replace(hour=9))


def case(stage: Stage = Stage.COMMISSIONING, first_day: date = date(2030, 1, 7)) -> CaseState:
    return CaseState(
        case_ref="MN-30-DATES1", opened_at=datetime(2030, 1, 7, 9, tzinfo=UTC), school_urn="120001",
        child=Child(given_name="Amelia", family_name="Testcase", date_of_birth=date(2018, 5, 14)),
        parent=Parent(name="Jordan Testcase"), reason=c.AbsenceReason.PHYSICAL_ILLNESS,
        first_day_of_absence=first_day, absence_days=[first_day], last_progress_on=first_day,
        stage=stage, officer="officer-jb",
    )


def rejection(state: CaseState, action: Action, cmd: c.Command, context: CaseContext) -> CommandRejected:
    with pytest.raises(CommandRejected) as refused:
        transitions.check(state, action, cmd, context)
    assert refused.value.kind == "InvalidCommand"
    return refused.value


def tuition(start: date, end: date | None = None, hours: str = "25") -> c.CommissionProvision:
    return c.CommissionProvision(actor=OFFICER, provisions=[Provision(
        kind=ProvisionKind.HOME_TUITION, provider="County tuition", hours_per_week=Decimal(hours),
        start_date=start, end_date=end, weekly_cost=Decimal("400"))])


def plan(start: date, end: date, hours: float = 15) -> c.AgreeReintegrationPlan:
    return c.AgreeReintegrationPlan(actor=OFFICER, start_date=start, end_date=end, hours_per_week=hours)


def reintegrating(end: date = date(2030, 3, 22)) -> CaseState:
    state = case(Stage.REINTEGRATING)
    transitions.apply(state, Action.AGREE_REINTEGRATION_PLAN, plan(date(2030, 3, 11), end), ctx(date(2030, 3, 8)))
    return state


# --- school days -----------------------------------------------------------------------------------


def test_a_plan_starting_on_a_saturday_is_refused_naming_the_field_and_the_school_days_either_side():
    refused = rejection(case(Stage.REINTEGRATING), Action.AGREE_REINTEGRATION_PLAN,
                        plan(date(2030, 3, 9), date(2030, 3, 22)), ctx(date(2030, 3, 8)))
    assert refused.field == "start_date"
    assert str(refused) == ("start_date 2030-03-09 is not a school day: the nearest school days are "
                            "2030-03-08 and 2030-03-11")


def test_a_plan_ending_in_the_holidays_is_refused_and_names_the_end_date():
    refused = rejection(case(Stage.REINTEGRATING), Action.AGREE_REINTEGRATION_PLAN,
                        plan(date(2030, 3, 11), date(2030, 4, 10)), ctx(date(2030, 3, 8)))
    assert refused.field == "end_date"
    assert "2030-03-29 and 2030-04-23" in str(refused)  # the Easter holiday between


def test_a_plan_may_not_run_over_the_summer_holiday():
    refused = rejection(case(Stage.REINTEGRATING), Action.AGREE_REINTEGRATION_PLAN,
                        plan(date(2030, 7, 15), date(2030, 9, 10)), ctx(date(2030, 7, 12)))
    assert refused.field == "end_date"
    assert "summer holiday" in str(refused) and "2030-07-23" in str(refused)


def test_an_extension_must_end_on_a_school_day_in_the_same_school_year():
    state = reintegrating()
    refused = rejection(state, Action.EXTEND_REINTEGRATION, c.ExtendReintegration(
        actor=OFFICER, new_end_date=date(2030, 3, 30), reason="Fatigue"), ctx(date(2030, 3, 20)))
    assert refused.field == "new_end_date" and "not a school day" in str(refused)
    refused = rejection(state, Action.EXTEND_REINTEGRATION, c.ExtendReintegration(
        actor=OFFICER, new_end_date=date(2030, 9, 10), reason="Fatigue"), ctx(date(2030, 3, 20)))
    assert "summer holiday" in str(refused)


@pytest.mark.parametrize("start", [date(2030, 3, 9), date(2030, 8, 12)], ids=["saturday", "august"])
def test_a_provision_must_start_on_a_school_day(start: date):
    refused = rejection(case(), Action.COMMISSION_PROVISION, tuition(start), ctx(date(2030, 3, 8)))
    assert refused.field == "provisions[0].start_date"
    assert "is not a school day" in str(refused)


def test_a_provision_may_not_start_before_the_absence_began():
    refused = rejection(case(first_day=date(2030, 2, 4)), Action.COMMISSION_PROVISION,
                        tuition(date(2030, 1, 28)), ctx(date(2030, 2, 4)))
    assert refused.field == "provisions[0].start_date"
    assert str(refused) == ("provisions[0].start_date 2030-01-28 is before the absence began "
                            "(first_day_of_absence 2030-02-04)")


def test_a_full_time_return_must_be_on_a_school_day():
    refused = rejection(reintegrating(), Action.CONFIRM_FULL_TIME_RETURN,
                        c.ConfirmFullTimeReturn(actor=OFFICER, returned_on=date(2030, 3, 23)), ctx(date(2030, 3, 25)))
    assert refused.field == "returned_on" and "2030-03-22 and 2030-03-25" in str(refused)


def test_a_review_date_off_a_school_day_names_the_school_days_either_side():
    state = case(Stage.IN_PROVISION)
    refused = rejection(state, Action.SCHEDULE_REVIEW, c.ScheduleReview(actor=OFFICER, on=date(2030, 2, 19)),
                        ctx(date(2030, 2, 11)))
    assert refused.field == "on"
    assert "2030-02-15 and 2030-02-25" in str(refused)  # half-term between


def test_a_notification_is_checked_whole_before_a_case_opens():
    def notification(**changes: object) -> c.AbsenceNotification:
        fields: dict[str, object] = dict(
            school_urn="120001", child=Child(given_name="Amelia", family_name="Testcase",
                                             date_of_birth=date(2018, 5, 14)),
            parent=Parent(name="Jordan Testcase"), first_day_of_absence=date(2030, 3, 4),
            reason=c.AbsenceReason.PHYSICAL_ILLNESS, absence_days=[date(2030, 3, 4), date(2030, 3, 5)])
        return c.AbsenceNotification(**{**fields, **changes})

    today = ctx(date(2030, 3, 6))
    check_notification(notification(), today)  # a good one passes
    cases = {
        "absence_days[1]": notification(absence_days=[date(2030, 3, 4), date(2030, 3, 3)]),  # a Sunday
        "first_day_of_absence": notification(first_day_of_absence=date(2030, 3, 2)),  # a Saturday
        "expected_return": notification(expected_return=date(2030, 4, 1)),  # Easter holiday
    }
    for field, sent in cases.items():
        with pytest.raises(CommandRejected) as refused:
            check_notification(sent, today)
        assert refused.value.field == field, str(refused.value)
        assert "is not a school day" in str(refused.value)
    with pytest.raises(CommandRejected) as refused:
        check_notification(notification(absence_days=[date(2030, 3, 7)]), today)
    assert refused.value.field == "absence_days[0]" and "future" in str(refused.value)


# --- happened, not in the future; planned, not in the past ------------------------------------------


def test_a_full_time_return_cannot_be_dated_in_the_future():
    refused = rejection(reintegrating(), Action.CONFIRM_FULL_TIME_RETURN,
                        c.ConfirmFullTimeReturn(actor=OFFICER, returned_on=date(2030, 3, 25)), ctx(date(2030, 3, 22)))
    assert str(refused) == "returned_on is in the future"


def test_a_future_full_time_return_refusal_names_the_field():
    refused = rejection(reintegrating(), Action.CONFIRM_FULL_TIME_RETURN,
                        c.ConfirmFullTimeReturn(actor=OFFICER, returned_on=date(2030, 3, 25)), ctx(date(2030, 3, 22)))
    assert refused.field == "returned_on"


def test_a_closure_and_a_review_held_cannot_be_in_the_future():
    assert "future" in str(rejection(case(), Action.CLOSE, c.CloseCase(
        actor=OFFICER, outcome=c.CloseOutcome.WITHDRAWN, closed_on=date(2030, 3, 11)), ctx(date(2030, 3, 8))))
    state = case(Stage.IN_PROVISION)
    transitions.apply(state, Action.SCHEDULE_REVIEW, c.ScheduleReview(actor=OFFICER, on=date(2030, 3, 11)),
                      ctx(date(2030, 3, 8)))
    assert "future" in str(rejection(state, Action.RECORD_REVIEW_OUTCOME, c.RecordReviewOutcome(
        actor=OFFICER, outcome=c.ReviewOutcome.CONTINUE, held_on=date(2030, 3, 11)), ctx(date(2030, 3, 8))))


def test_a_provision_may_start_a_few_school_days_back_but_not_further_than_the_grace():
    today = ctx(date(2030, 3, 13))  # Wednesday; five school days back is Wednesday 6 March
    transitions.check(case(), Action.COMMISSION_PROVISION, tuition(date(2030, 3, 6)), today)
    refused = rejection(case(), Action.COMMISSION_PROVISION, tuition(date(2030, 3, 5)), today)
    assert refused.field == "provisions[0].start_date"
    assert str(refused) == ("provisions[0].start_date 2030-03-05 is in the past: a planned date may be at most "
                            "5 school days before today (2030-03-06 at the earliest)")
    # The grace is a setting.
    transitions.check(case(), Action.COMMISSION_PROVISION, tuition(date(2030, 3, 5)),
                      ctx(date(2030, 3, 13), planned_date_grace_days=10))
    refused = rejection(case(), Action.COMMISSION_PROVISION, tuition(date(2030, 3, 12)),
                        ctx(date(2030, 3, 13), planned_date_grace_days=0))
    assert "2030-03-13 at the earliest" in str(refused)


def test_a_plan_may_not_start_further_back_than_the_grace():
    refused = rejection(case(Stage.REINTEGRATING), Action.AGREE_REINTEGRATION_PLAN,
                        plan(date(2030, 2, 25), date(2030, 3, 22)), ctx(date(2030, 3, 13)))
    assert refused.field == "start_date" and "in the past" in str(refused)


def test_an_extension_must_end_in_the_future():
    state = reintegrating(end=date(2030, 3, 15))
    refused = rejection(state, Action.EXTEND_REINTEGRATION, c.ExtendReintegration(
        actor=OFFICER, new_end_date=date(2030, 3, 18), reason="Fatigue"), ctx(date(2030, 3, 19)))
    assert refused.field == "new_end_date" and "future" in str(refused)


# --- part-time is part-time; a provision ends after it starts --------------------------------------------


@pytest.mark.parametrize("hours", [25, 30])
def test_a_part_time_plan_must_be_fewer_hours_than_full_time(hours: float):
    refused = rejection(case(Stage.REINTEGRATING), Action.AGREE_REINTEGRATION_PLAN,
                        plan(date(2030, 3, 11), date(2030, 3, 22), hours=hours), ctx(date(2030, 3, 8)))
    assert refused.field == "hours_per_week"
    assert str(refused) == (f"hours_per_week {hours:g} is not part-time: a part-time timetable is fewer "
                            "hours than full time (25 a week)")
    transitions.check(case(Stage.REINTEGRATING), Action.AGREE_REINTEGRATION_PLAN,
                      plan(date(2030, 3, 11), date(2030, 3, 22), hours=24.5), ctx(date(2030, 3, 8)))


def test_a_provision_ending_before_it_starts_says_so():
    refused = rejection(case(), Action.COMMISSION_PROVISION, tuition(date(2030, 3, 11), end=date(2030, 3, 8)),
                        ctx(date(2030, 3, 8)))
    assert refused.field == "provisions[0].end_date"
    assert str(refused) == "provisions[0].end_date 2030-03-08 is before its start_date 2030-03-11"


# --- extensions only by the extension action ----------------------------------------------------------


def test_agreeing_the_plan_again_cannot_move_its_end_later():
    state = reintegrating(end=date(2030, 3, 22))
    transitions.apply(state, Action.EXTEND_REINTEGRATION, c.ExtendReintegration(
        actor=OFFICER, new_end_date=date(2030, 3, 29), reason="Fatigue after treatment"), ctx(date(2030, 3, 20)))
    refused = rejection(state, Action.AGREE_REINTEGRATION_PLAN, plan(date(2030, 3, 21), date(2030, 5, 10)),
                        ctx(date(2030, 3, 20)))
    assert refused.field == "end_date"
    assert "extend_reintegration" in str(refused) and "reason" in str(refused)


def test_agreeing_the_plan_again_keeps_its_extensions_and_original_end():
    state = reintegrating(end=date(2030, 3, 22))
    transitions.apply(state, Action.EXTEND_REINTEGRATION, c.ExtendReintegration(
        actor=OFFICER, new_end_date=date(2030, 3, 29), reason="Fatigue after treatment"), ctx(date(2030, 3, 20)))
    # New hours, the same end: the history of the plan stays.
    transitions.apply(state, Action.AGREE_REINTEGRATION_PLAN, plan(date(2030, 3, 21), date(2030, 3, 29), hours=20),
                      ctx(date(2030, 3, 20)))
    assert state.reintegration is not None
    assert state.reintegration.hours_per_week == 20
    assert state.reintegration.original_end_date == date(2030, 3, 22)
    assert [e.new_end_date for e in state.reintegration.extensions] == [date(2030, 3, 29)]


@pytest.mark.parametrize("reason", ["", "   ", "\t\n"])
def test_an_extension_needs_a_reason_that_is_not_blank(reason: str):
    with pytest.raises(ValidationError) as refused:
        c.ExtendReintegration(actor=OFFICER, new_end_date=date(2030, 3, 29), reason=reason)
    assert refused.value.errors()[0]["loc"] == ("reason",)


# --- text -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["Ada\x00", "Ada\x07", "A\x1bda", "Ada\x7f", "Ada\x85", "Ada\nLovelace"])
def test_a_name_refuses_nul_and_control_characters(bad: str):
    with pytest.raises(ValidationError) as refused:
        Child(given_name=bad, family_name="Lovelace", date_of_birth=date(2018, 5, 14))
    error = refused.value.errors()[0]
    assert error["loc"] == ("given_name",)
    assert bad not in str(refused.value.errors(include_input=False))


def test_free_text_keeps_its_lines_and_tabs_but_refuses_nul():
    c.AddNote(actor=OFFICER, text="Called the parent.\n\tBack on Monday.\r\n")
    for text in ("Called\x00", "Called\x0b", "   "):
        with pytest.raises(ValidationError):
            c.AddNote(actor=OFFICER, text=text)
    with pytest.raises(ValidationError):
        c.Decide(actor=OFFICER, outcome=c.DecisionOutcome.LA_PROVISION, reason="\x00")
    with pytest.raises(ValidationError):
        Parent(name="Anne\x00")


def test_exactly_the_unicode_control_characters_are_refused():
    """Every code point: a line refuses exactly Unicode's control characters, free text all but line
    breaks and tabs."""
    import unicodedata

    from domain.text import _line, _text

    def refused(check, ch: str) -> bool:
        try:
            check(f"a{ch}b")
        except ValueError:
            return True
        return False

    for cp in range(0x110000):
        ch = chr(cp)
        control = unicodedata.category(ch) == "Cc"
        assert refused(_line, ch) is control, hex(cp)
        assert refused(_text, ch) is (control and ch not in "\t\n\r"), hex(cp)


# --- a case that accepted a command before these rules replays it as it was -----------------------------


def test_a_replayed_command_from_before_these_rules_is_applied_as_it_was():
    lenient = replace(ctx(date(2030, 3, 8)), strict=False)
    state = case(Stage.REINTEGRATING)
    transitions.apply(state, Action.AGREE_REINTEGRATION_PLAN, plan(date(2030, 3, 9), date(2030, 3, 22), hours=30),
                      lenient)
    assert state.reintegration is not None and state.reintegration.start_date == date(2030, 3, 9)
