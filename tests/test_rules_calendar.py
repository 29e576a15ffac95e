"""The school-day calendar the clocks count in, at the edges the other calendar tests leave open: the
default English terms (Easter, half-terms, a term starting on a weekend), England's bank holidays, and
what a council's term-dates file is refused for, message by message (a council fixes its file from
these messages, so they must name the term, the key and the value).

Pure: the files are written to a temporary folder; bank holidays come from the `holidays` package.
"""

from datetime import date, timedelta
from pathlib import Path

import pytest
from dateutil.easter import easter

from domain.school_calendar import (
    CalendarData,
    SchoolCalendar,
    Term,
    default_terms,
    england_bank_holidays,
    load_calendar_data,
)
from tests.rule_fixtures import calendar

AUTUMN_2026 = "name = 'a'\nstart = 2026-09-03\nend = 2026-12-18\n"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "terms.toml"
    path.write_text(text)
    return path


def refusal(tmp_path: Path, text: str) -> str:
    path = write(tmp_path, text)
    with pytest.raises(ValueError) as caught:
        load_calendar_data(path, 2026, 2026)
    prefix = f"calendar file {path}: "
    assert str(caught.value).startswith(prefix)
    return str(caught.value)[len(prefix):]


# --- default terms ---------------------------------------------------------------------------------


def test_default_spring_and_summer_terms_turn_on_easter():
    # Every Gregorian Easter dateutil knows (1583-4099): the computus's century terms differ only there.
    wrong = []
    for year in range(1583, 4099):
        sunday = easter(year + 1)
        autumn, spring, summer = default_terms(year, set())[0]
        if spring.end != sunday - timedelta(days=3) or summer.start != sunday + timedelta(days=15):
            wrong.append(year)  # Maundy Thursday; the Monday a fortnight after Easter Monday
    assert wrong == []


def test_default_half_terms_and_term_ends():
    (autumn, spring, summer), closures = default_terms(2030, set())
    # 27 October 2030 is a Sunday: the last full week of October is 21-25 October.
    assert closures[:5] == [date(2030, 10, 21) + timedelta(days=k) for k in range(5)]
    # 12 February 2031 is a Wednesday: half-term from the Monday after, 17 February.
    assert closures[5:10] == [date(2031, 2, 17) + timedelta(days=k) for k in range(5)]
    assert len(closures) == 15 and all(d.weekday() < 5 for d in closures)
    assert summer.end == date(2031, 7, 21)  # a Monday: the last weekday on or before 21 July
    assert (autumn.name, spring.name, summer.name) == ("2030-31 autumn", "2030-31 spring", "2030-31 summer")


def test_a_default_autumn_term_never_starts_on_a_weekend():
    (autumn, _, _), _ = default_terms(2022, set())  # 3 September 2022 was a Saturday
    assert autumn.start == date(2022, 9, 5)
    (autumn, _, _), _ = default_terms(2023, set())  # a Sunday
    assert autumn.start == date(2023, 9, 4)


def test_englands_bank_holidays_not_the_uks():
    days = england_bank_holidays(2030, 2031)
    assert {date(2030, 4, 22), date(2030, 8, 26)} <= set(days)  # Easter Monday, August: England only
    assert date(2030, 1, 2) not in days  # Scotland's
    assert min(days).year == 2030 and max(days).year == 2031


def test_a_loaded_calendar_has_bank_holidays_to_the_end_of_its_last_academic_year(tmp_path):
    data = load_calendar_data(write(tmp_path, "[[term]]\n" + AUTUMN_2026), 2026, 2026)
    assert max(data.bank_holidays).year == 2027
    assert date(2027, 5, 31) in data.bank_holidays


# --- school-day questions at the edges -------------------------------------------------------------


def test_adding_past_the_calendar_says_where_its_school_days_end():
    with pytest.raises(ValueError) as caught:
        calendar().add_school_days(date(2030, 12, 17), 5)
    assert str(caught.value) == ("calendar does not cover 5 school days after 2030-12-17: it has school days only "
                                 "up to 2030-12-19")
    weekend_only = SchoolCalendar(CalendarData(terms=[Term(name="w", start=date(2030, 1, 5), end=date(2030, 1, 6))]))
    with pytest.raises(ValueError) as caught:
        weekend_only.add_school_days(date(2030, 1, 1), 1)
    assert str(caught.value).endswith("it has school days only up to 2030-08-31")


def test_a_term_s_first_and_last_days_are_school_days():
    cal = calendar()
    assert cal.is_school_day(date(2030, 1, 7)) and cal.is_school_day(date(2030, 3, 29))
    assert cal.school_days_between(date(2030, 1, 6), date(2030, 3, 29)) == 55


def test_terms_overlapping_counts_a_shared_first_or_last_day():
    cal = calendar()
    assert [t.name for t in cal.terms_overlapping(date(2030, 3, 29), date(2030, 4, 1))] == ["2029-30 spring"]
    assert [t.name for t in cal.terms_overlapping(date(2030, 4, 1), date(2030, 4, 23))] == ["2029-30 summer"]


# --- the council's file ----------------------------------------------------------------------------


def test_half_term_inset_days_and_closures_all_close_the_school(tmp_path):
    text = ("[[term]]\n" + AUTUMN_2026 + "half_term = [2026-10-26, 2026-10-30]\ninset_days = [2026-09-04]\n"
            "closures = [2026-12-17]\n")
    data = load_calendar_data(write(tmp_path, text), 2026, 2026)
    assert [d for d in data.closures if d.year == 2026] == [
        date(2026, 9, 4), *(date(2026, 10, 26) + timedelta(days=k) for k in range(5)), date(2026, 12, 17)]


def test_a_one_day_half_term_and_a_one_day_term_are_taken(tmp_path):
    text = ("[[term]]\n" + AUTUMN_2026 + "half_term = [2026-10-26, 2026-10-26]\n"
            "[[term]]\nname = 'b'\nstart = 2027-01-04\nend = 2027-01-04\n")
    data = load_calendar_data(write(tmp_path, text), 2026, 2026)
    assert [d for d in data.closures if d.year == 2026] == [date(2026, 10, 26)]
    assert data.terms[1] == Term(name="b", start=date(2027, 1, 4), end=date(2027, 1, 4))


def test_a_file_with_no_terms_gives_default_terms(tmp_path):
    data = load_calendar_data(write(tmp_path, "council = 'Test'\n"), 2026, 2026)
    assert [t.name for t in data.terms] == ["2026-27 autumn", "2026-27 spring", "2026-27 summer"]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[[term]]\n" + AUTUMN_2026 + "half_term = '2026-10-26'\n",
         "term 'a' half_term must be a list of dates, got '2026-10-26'"),
        ("[[term]]\n" + AUTUMN_2026 + "half_term = [2026-10-30, 2026-10-26]\n",
         "term 'a' half_term must be [first day, last day] of the break"),
        ("[[term]]\n" + AUTUMN_2026 + "inset_days = [2026-09-04, 'soon']\n",
         "term 'a' inset_days[1] must be a date like 2026-09-03, got 'soon'"),
        ("[[term]]\n" + AUTUMN_2026 + "closures = ['x']\n", "term 'a' closures[0] must be a date like 2026-09-03, got 'x'"),
        ("[[term]]\n" + AUTUMN_2026 + "closures = [2027-01-04]\n",
         "term 'a' closure 2027-01-04 is outside the term (2026-09-03 to 2026-12-18)"),
        ("[[term]]\n" + AUTUMN_2026 + "inset_days = [2026-09-03]\n",
         "term 'a' starts on Thursday 2026-09-03, which is not a school day (weekend, bank holiday or closure)"),
        ("[[term]]\n" + AUTUMN_2026 + "inset_days = [2026-12-18]\n",
         "term 'a' ends on Friday 2026-12-18, which is not a school day (weekend, bank holiday or closure)"),
        ("[[term]]\nname = 'a'\nstart = 2026-09-03\nend = 'x'\n", "term 'a' end must be a date like 2026-09-03, got 'x'"),
        ("[[term]]\nname = 5\nstart = 2026-09-03\nend = 2026-12-18\n", "term #1 needs a non-empty name"),
        ("[[term]]\n" + AUTUMN_2026 + "[[term]]\nname = '  '\nstart = 2027-01-04\nend = 2027-03-25\n",
         "term #2 needs a non-empty name"),
        ("[[term]]\n" + AUTUMN_2026 + "[[term]]\n" + AUTUMN_2026, "term 'a' appears twice"),
        ("term = 5\n", "'term' must be a list of [[term]] tables"),
        ("term = [1, 2]\n", "'term' must be a list of [[term]] tables"),
    ],
)
def test_a_bad_file_is_refused_naming_the_term_the_key_and_the_value(tmp_path, text, problem):
    assert refusal(tmp_path, text) == problem


def test_a_missing_file_says_why_it_cannot_be_read(tmp_path):
    path = tmp_path / "nope.toml"
    with pytest.raises(ValueError) as caught:
        load_calendar_data(path, 2026, 2026)
    assert str(caught.value) == f"calendar file {path}: cannot be read (No such file or directory)"
