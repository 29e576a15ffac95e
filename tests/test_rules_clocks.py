"""The statutory clocks on their own, without Temporal, on the fixed test calendar (tests/data):
reviews recur from the day held, the 15-day point is counted across 31 August, a hospital referral
is due as soon as the expected discharge shows 15 school days missed, and recoupment's daily rate
comes from the school days of the school's year."""

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from domain import case_commands as c
from domain import case_transitions as transitions
from domain.absence_threshold import refresh_threshold
from domain.case_alarms import unfired_alarms
from domain.case_context import CaseContext
from domain.case_state import CaseState, Review
from domain.pending_tasks import pending_tasks
from domain.people import Actor, Role
from domain.recoupment import KeyStage, RecoupmentRates, SchoolSpell, recoupment_lines
from domain.school_calendar import SchoolCalendar, load_calendar_data
from domain.stages import Action, Stage
from domain.statutory_clocks import ClockSettings
from tests.case_harness import notification

TERMS = Path(__file__).parent / "data" / "test_terms.toml"
OFFICER = Actor(role=Role.CASEWORKER, name="officer-jb")
CALENDAR = SchoolCalendar(load_calendar_data(TERMS, 2028, 2031))


def context(day: date, *, legacy: bool = False, rates: RecoupmentRates | None = None, **clocks) -> CaseContext:
    return CaseContext(CALENDAR, ClockSettings(**clocks), rates or RecoupmentRates(),
                       datetime.combine(day, datetime.min.time().replace(hour=9), UTC), legacy_rules=legacy)


def new_case(first_day: date, opened: date | None = None, **fields) -> CaseState:
    opened = opened or first_day
    n = notification(first_day)
    state = CaseState(case_ref=n.case_ref, opened_at=datetime.combine(opened, datetime.min.time(), UTC),
                      school_urn=n.school_urn, child=n.child, parent=n.parent, reason=n.reason,
                      first_day_of_absence=first_day, last_progress_on=opened)
    return state.model_copy(update=fields)


# --- reviews ---------------------------------------------------------------------------------------


def test_the_next_review_is_due_the_cadence_after_the_day_the_review_was_held():
    state = new_case(date(2030, 1, 7), stage=Stage.IN_PROVISION,
                     reviews=[Review(id="review-1", due_on=date(2030, 3, 11))])
    # Held on Monday 11 March, recorded a week later.
    transitions.apply(state, Action.RECORD_REVIEW_OUTCOME,
                      c.RecordReviewOutcome(actor=OFFICER, outcome=c.ReviewOutcome.CONTINUE, held_on=date(2030, 3, 11)),
                      context(date(2030, 3, 18)))
    assert state.reviews[-1].due_on == CALENDAR.add_school_days(date(2030, 3, 11), 30) == date(2030, 5, 15)


# --- the 15-day point across 31 August ---------------------------------------------------------------


def _threshold(first_day: date, today: date, **fields) -> date | None:
    state = new_case(first_day, today, **fields)
    refresh_threshold(state, context(today))
    return state.threshold_date


def test_an_absence_from_mid_july_reaches_its_15th_school_day_in_the_autumn_term():
    # Monday 15 July 2030: seven school days to the end of the summer term (23 July), then the
    # autumn term from Tuesday 3 September: the 15th day missed is Thursday 12 September.
    assert _threshold(date(2030, 7, 15), date(2030, 7, 15)) == date(2030, 9, 12)
    # Notified in July, not expected back until October.
    assert _threshold(date(2030, 7, 15), date(2030, 7, 16), expected_return=date(2030, 10, 1)) == date(2030, 9, 12)
    # Back on 10 September: 7 + 5 school days, no 15-day point.
    assert _threshold(date(2030, 7, 15), date(2030, 7, 16), expected_return=date(2030, 9, 10)) is None


def test_an_absence_beginning_in_the_summer_holiday_counts_from_the_autumn_term():
    assert _threshold(date(2030, 8, 5), date(2030, 8, 5)) == date(2030, 9, 23)


def test_days_recorded_before_the_summer_count_with_the_autumn_days_of_the_same_absence():
    summer = CALENDAR.school_days_in(date(2030, 7, 15), date(2030, 7, 23))
    autumn = CALENDAR.school_days_in(date(2030, 9, 3), date(2030, 9, 12))
    assert _threshold(date(2030, 7, 15), date(2030, 9, 13), absence_days=summer + autumn,
                      expected_return=date(2030, 9, 16)) == date(2030, 9, 12)


def test_an_earlier_spell_in_a_past_school_year_does_not_count():
    # Ten days in January 2030, then a new absence from October 2030 (another school year).
    january = CALENDAR.school_days_in(date(2030, 1, 7), date(2030, 1, 18))
    state = new_case(date(2030, 10, 1), date(2030, 10, 1), absence_days=january,
                     expected_return=date(2030, 10, 8))
    refresh_threshold(state, context(date(2030, 10, 1)))
    assert state.threshold_date is None


# --- hospital --------------------------------------------------------------------------------------


def _admit(expected_discharge: date | None) -> tuple[CaseState, CaseContext]:
    state = new_case(date(2030, 1, 7), date(2030, 1, 7))
    ctx = context(date(2030, 1, 8))
    transitions.apply(state, Action.RECORD_HOSPITAL_ADMISSION, c.RecordHospitalAdmission(
        actor=OFFICER, admitted_on=date(2030, 1, 7), hospital="General", expected_discharge=expected_discharge), ctx)
    return state, ctx


def test_a_hospital_referral_is_due_at_once_when_the_expected_discharge_is_beyond_15_school_days():
    state, ctx = _admit(expected_discharge=date(2030, 2, 11))
    referral = next(t for t in pending_tasks(state, ctx) if t.id == "hospital-referral")
    assert referral.due_on == date(2030, 1, 8)  # the day it became clear, not 28 January
    alarm = next(a for a in unfired_alarms(state, ctx) if a.kind == "hospital-referral")
    assert alarm.fires_on == date(2030, 1, 8)


def test_a_short_expected_stay_keeps_the_referral_at_15_school_days_in_hospital():
    state, ctx = _admit(expected_discharge=date(2030, 1, 14))
    referral = next(t for t in pending_tasks(state, ctx) if t.id == "hospital-referral")
    assert referral.due_on == date(2030, 1, 28)
    state, ctx = _admit(expected_discharge=None)
    assert next(t for t in pending_tasks(state, ctx) if t.id == "hospital-referral").due_on == date(2030, 1, 28)


# --- recoupment ------------------------------------------------------------------------------------


def _year_of_lines(rates: RecoupmentRates) -> Decimal:
    first, last = date(2029, 9, 1), date(2030, 8, 31)
    lines = []
    for term in [t for t in CALENDAR.data.terms if first <= t.start <= last]:
        lines += recoupment_lines(case_ref="MN-30-AAAAAA", spells=[SchoolSpell(school_urn="120001",
                                  from_date=first)], provision_from=term.start, provision_to=term.end,
                                  key_stage=KeyStage.KS2, rates=rates, calendar=CALENDAR, period=term.name)
    return sum((line.amount for line in lines), Decimal(0))


def test_a_full_school_year_of_provision_charges_the_annual_amount():
    # The test calendar's 2029-30 has 188 school days; a fixed 190 would charge 188/190 of it.
    assert len(CALENDAR.school_days_in(date(2029, 9, 1), date(2030, 8, 31))) == 188
    annual = RecoupmentRates().annual_per_pupil[KeyStage.KS2]
    # The daily rate is rounded to the penny, so a year is within half a penny a day of the amount.
    assert abs(_year_of_lines(RecoupmentRates()) - annual) <= Decimal("0.005") * 188


def test_a_council_may_still_fix_the_school_days_a_year():
    fixed = RecoupmentRates(divisor="fixed", school_days_per_year=190)
    assert _year_of_lines(fixed) == fixed.daily_rate(KeyStage.KS2) * 188 == Decimal("26.08") * 188


def test_part_time_attendance_reduces_the_charge_only_when_the_council_says_so():
    from domain.case_state import ReintegrationPlan
    from domain.recoupment_charges import settlement_lines

    def settled(rates: RecoupmentRates) -> list:
        state = new_case(date(2030, 1, 7), decision=c.DecisionOutcome.LA_PROVISION,
                         provision_started_on=date(2030, 1, 21),
                         school_spells=[SchoolSpell(school_urn="120001", from_date=date(2030, 1, 21))],
                         reintegration=ReintegrationPlan(start_date=date(2030, 3, 4), end_date=date(2030, 3, 15),
                                                         original_end_date=date(2030, 3, 15), hours_per_week=10))
        return settlement_lines(state, context(date(2030, 3, 29), rates=rates), until=date(2030, 3, 29))

    full = settled(RecoupmentRates())
    assert len(full) == 1 and full[0].school_days == 45
    pro_rata = settled(RecoupmentRates(part_time_attendance="pro_rata"))
    assert [line.school_days for line in pro_rata] == [25, 10, 10]
    daily = RecoupmentRates().daily_rate(pro_rata[1].key_stage, 188)
    # Ten days at school 10 of 25 full-time hours: the school is charged 15/25 of those days.
    assert pro_rata[1].amount == (daily * 10 * Decimal("0.6")).quantize(Decimal("0.01"))
    assert sum(line.amount for line in pro_rata) < sum(line.amount for line in full)


# --- each school its own calendar ------------------------------------------------------------------

ACADEMY = """
council = "Test academy trust"

[[term]]
name = "2029-30 autumn"
start = 2029-09-04
end = 2029-12-20
half_term = [2029-10-29, 2029-11-02]

[[term]]
name = "2029-30 spring"
start = 2030-01-09
end = 2030-03-29
half_term = [2030-02-25, 2030-03-01]
inset_days = [2030-01-10]

[[term]]
name = "2029-30 summer"
start = 2030-04-23
end = 2030-07-19
half_term = [2030-05-27, 2030-05-31]
"""


def _academy_rules(tmp_path: Path, *urns: str):
    from activities.case_rules import CaseRulesActivities
    from domain.case_rules import CaseRulesRequest
    from infra.settings import Settings

    folder = tmp_path / "schools"
    folder.mkdir()
    (folder / "120009.toml").write_text(ACADEMY, encoding="utf-8")
    settings = Settings(_env_file=None, environment="test", school_calendar_file=TERMS,  # type: ignore[call-arg]
                        school_calendars_dir=folder, outbox_dir=tmp_path / "o", document_dir=tmp_path / "d")
    return CaseRulesActivities(settings).load_case_rules(
        CaseRulesRequest(first_year=2028, last_year=2031, school_urns=list(urns)))


def test_a_school_with_its_own_term_dates_gets_its_own_calendar_and_others_the_councils(tmp_path):
    rules = _academy_rules(tmp_path, "120001", "120009")
    assert set(rules.school_calendars) == {"120009"}  # 120001 has no file: the council's dates
    academy = SchoolCalendar(rules.school_calendars["120009"])
    council = SchoolCalendar(rules.calendar)
    assert council.is_school_day(date(2030, 1, 7)) and not academy.is_school_day(date(2030, 1, 7))
    assert not academy.is_school_day(date(2030, 1, 10))  # its own INSET day
    assert academy.is_school_day(date(2030, 2, 19)) and not council.is_school_day(date(2030, 2, 19))
    assert council.is_school_day(date(2030, 7, 22)) and not academy.is_school_day(date(2030, 7, 22))
    # A year its file does not list follows the council's dates.
    autumn = council.school_days_in(date(2030, 9, 1), date(2030, 12, 31))
    assert autumn and academy.school_days_in(date(2030, 9, 1), date(2030, 12, 31)) == autumn


def test_every_clock_and_charge_of_a_case_at_a_school_uses_that_schools_calendar(tmp_path):
    rules = _academy_rules(tmp_path, "120009")
    academy = SchoolCalendar(rules.school_calendars["120009"])
    ctx = CaseContext(academy, ClockSettings(), RecoupmentRates(), datetime(2030, 1, 9, 9, tzinfo=UTC),
                      calendars_by_school={"120009": academy}, council_calendar=CALENDAR)
    state = new_case(date(2030, 1, 9), school_urn="120009")
    refresh_threshold(state, ctx)
    # Wed 9 Jan, INSET Thu 10 Jan: the 15th school day at the academy is Wed 30 January.
    assert state.threshold_date == academy.add_school_days(date(2030, 1, 8), 15) == date(2030, 1, 30)
    # A charge after a change of school: each school's days by its own calendar.
    lines = recoupment_lines(
        case_ref="MN-30-AAAAAA", provision_from=date(2030, 2, 11), provision_to=date(2030, 3, 8),
        spells=[SchoolSpell(school_urn="120001", from_date=date(2030, 1, 7), to_date=date(2030, 2, 24)),
                SchoolSpell(school_urn="120009", from_date=date(2030, 2, 25))],
        key_stage=KeyStage.KS2, rates=RecoupmentRates(), calendar=CALENDAR, period="p",
        calendar_for=ctx.calendar_of)
    # 120001 (council): 11-15 Feb (half-term 18-22 Feb) = 5; 120009: its half-term 25 Feb-1 Mar, 4-8 Mar = 5.
    assert [(line.school_urn, line.school_days) for line in lines] == [("120001", 5), ("120009", 5)]


def test_the_shipped_council_file_lists_five_inset_days_a_year():
    import tomllib

    from domain.school_calendar import DEFAULT_TERMS_FILE, academic_year_of

    raw = tomllib.loads(DEFAULT_TERMS_FILE.read_text(encoding="utf-8"))
    by_year: dict[int, int] = {}
    for term in raw["term"]:
        by_year[academic_year_of(term["start"])] = by_year.get(academic_year_of(term["start"]), 0) + len(
            term.get("inset_days", []))
    assert by_year and set(by_year.values()) == {5}, by_year
    calendar = SchoolCalendar(load_calendar_data(None, 2025, 2027))
    assert not calendar.is_school_day(date(2026, 9, 2)) and calendar.is_school_day(date(2026, 9, 3))


# --- sessions --------------------------------------------------------------------------------------


def test_half_days_count_as_half_days_toward_the_threshold():
    # Back on Monday 28 January after missing 7-25 January... except ten afternoons only.
    days = CALENDAR.school_days_in(date(2030, 1, 7), date(2030, 1, 25))  # 15 school days
    whole, half = days[:5], days[5:]
    state = new_case(date(2030, 1, 7), date(2030, 1, 28), absence_days=whole, absence_half_days=half,
                     expected_return=date(2030, 1, 28))
    refresh_threshold(state, context(date(2030, 1, 28)))
    assert state.threshold_date is None  # 5 + 10 halves = 10 days, not 15

    # Ten more half days in February reach 15 days on the tenth.
    february = CALENDAR.school_days_in(date(2030, 2, 4), date(2030, 2, 15))
    state.absence_half_days += february
    refresh_threshold(state, context(date(2030, 2, 15)))
    assert state.threshold_date == date(2030, 2, 15)


def test_a_school_records_half_days_and_a_whole_day_overrides_a_half():
    state = new_case(date(2030, 1, 7), date(2030, 1, 7), absence_days=[date(2030, 1, 7)])
    ctx = context(date(2030, 1, 10))
    transitions.apply(state, Action.RECORD_ABSENCE_DAYS, c.RecordAbsenceDays(
        actor=OFFICER, half_days=[date(2030, 1, 8), date(2030, 1, 9)], expected_return=date(2030, 1, 10)), ctx)
    assert state.absence_half_days == [date(2030, 1, 8), date(2030, 1, 9)]
    assert "2 half day(s)" in state.timeline[-1].summary
    transitions.apply(state, Action.RECORD_ABSENCE_DAYS, c.RecordAbsenceDays(actor=OFFICER, days=[date(2030, 1, 9)]),
                      ctx)
    assert state.absence_days == [date(2030, 1, 7), date(2030, 1, 9)]
    assert state.absence_half_days == [date(2030, 1, 8)]
    with pytest.raises(transitions.CommandRejected, match="not a school day"):
        transitions.apply(state, Action.RECORD_ABSENCE_DAYS,
                          c.RecordAbsenceDays(actor=OFFICER, half_days=[date(2030, 1, 5)]), ctx)
