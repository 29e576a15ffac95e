"""A worker holds about a thousand cases in memory, nearly all on the same term dates: they share one
copy of the calendar, and a shared calendar answers exactly as the term dates say."""

from __future__ import annotations

import gc
from datetime import date, timedelta

from domain.case_rules import CaseRules
from domain.recoupment import RecoupmentRates
from domain.school_calendar import (
    CalendarData,
    SchoolCalendar,
    Term,
    load_calendar_data,
    shared_calendar_data,
)
from domain.statutory_clocks import ClockSettings

URN = "120001"


def rules_as_a_case_decodes_them(calendar: CalendarData, school: CalendarData | None = None) -> CaseRules:
    """What a case's workflow gets from the `load_case_rules` activity: the rules decoded from JSON."""
    sent = CaseRules(calendar=calendar, clocks=ClockSettings(), rates=RecoupmentRates(),
                     school_calendars={URN: school} if school else {}, schools_asked=[URN])
    return CaseRules.model_validate_json(sent.model_dump_json())


def test_two_cases_on_the_same_term_dates_share_one_calendar() -> None:
    first = rules_as_a_case_decodes_them(load_calendar_data(None, 2025, 2028))
    second = rules_as_a_case_decodes_them(load_calendar_data(None, 2025, 2028))
    assert first.calendar is second.calendar
    one, other = SchoolCalendar(first.calendar), SchoolCalendar(second.calendar)
    assert one.school_days is other.school_days
    assert one.data is other.data


def test_a_school_that_sets_its_own_dates_keeps_its_own_calendar() -> None:
    council = load_calendar_data(None, 2025, 2028)
    own_terms = [t.model_copy(update={"end": t.end - timedelta(days=7)}) if t.name == "2026-27 summer" else t
                 for t in council.terms]
    school = CalendarData(terms=own_terms, closures=council.closures, bank_holidays=council.bank_holidays)
    rules = rules_as_a_case_decodes_them(council, school)
    assert rules.school_calendars[URN] is not rules.calendar
    council_days, school_days = SchoolCalendar(rules.calendar), SchoolCalendar(rules.school_calendars[URN])
    summer_end = next(t.end for t in council.terms if t.name == "2026-27 summer")
    assert council_days.is_school_day(summer_end)
    assert not school_days.is_school_day(summer_end)
    # and another case of that school shares the school's copy
    again = rules_as_a_case_decodes_them(council, school)
    assert again.school_calendars[URN] is rules.school_calendars[URN]


def test_a_shared_calendar_answers_every_day_as_its_terms_say() -> None:
    data = load_calendar_data(None, 2025, 2027)
    calendar, equal = SchoolCalendar(data), SchoolCalendar(load_calendar_data(None, 2025, 2027))
    closed = set(data.closures) | set(data.bank_holidays)
    day, counted = data.first_day(), 0
    while day <= data.last_day():
        in_term = any(t.start <= day <= t.end for t in data.terms)
        expected = in_term and day.weekday() < 5 and day not in closed
        assert calendar.is_school_day(day) is expected, day
        assert equal.is_school_day(day) is expected, day
        counted += expected
        day += timedelta(days=1)
    assert counted == len(calendar.school_days) > 3 * 180


def test_term_dates_no_case_uses_any_more_are_let_go() -> None:
    """A changed term-dates file reaches each case at its next continue-as-new: the old calendar
    must not stay in memory for ever."""
    unique = CalendarData(terms=[Term(name="probe autumn", start=date(2031, 9, 3), end=date(2031, 12, 19))],
                          closures=[date(2031, 10, 29)])
    kept = shared_calendar_data(unique)
    assert kept is unique
    calendar = SchoolCalendar(unique)
    assert calendar.is_school_day(date(2031, 9, 3)) and not calendar.is_school_day(date(2031, 10, 29))
    del kept, calendar, unique
    gc.collect()
    fresh = CalendarData(terms=[Term(name="probe autumn", start=date(2031, 9, 3), end=date(2031, 12, 19))],
                         closures=[date(2031, 10, 29)])
    assert shared_calendar_data(fresh) is fresh  # nothing was held on to


def test_the_rules_activity_reads_a_changed_term_dates_file_again(tmp_path) -> None:
    """The activity keeps what it read while the file stays as it was: a council's new dates still
    reach the next case that loads its rules."""
    from activities.case_rules import CaseRulesActivities
    from domain.case_rules import CaseRulesRequest
    from infra.settings import Settings

    terms = tmp_path / "terms.toml"
    terms.write_text('[[term]]\nname = "2030-31 autumn"\nstart = 2030-09-03\nend = 2030-12-19\n', encoding="utf-8")
    settings = Settings(_env_file=None, environment="test", school_calendar_file=terms,  # type: ignore[call-arg]
                        outbox_dir=tmp_path / "o", document_dir=tmp_path / "d")
    activities = CaseRulesActivities(settings)
    request = CaseRulesRequest(first_year=2030, last_year=2030, school_urns=[URN])
    before = SchoolCalendar(activities.load_case_rules(request).calendar)
    assert before.is_school_day(date(2030, 10, 1))
    assert activities.load_case_rules(request).calendar is before.data
    terms.write_text('[[term]]\nname = "2030-31 autumn"\nstart = 2030-09-03\nend = 2030-12-19\n'
                     "inset_days = [2030-10-01]\n", encoding="utf-8")
    after = SchoolCalendar(activities.load_case_rules(request).calendar)
    assert not after.is_school_day(date(2030, 10, 1))
