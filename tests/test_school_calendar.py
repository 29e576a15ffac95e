"""Tests for the school-day calendar: term boundaries, closures, bank holidays, defaults and bad files."""

from datetime import date, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.school_calendar import (
    DEFAULT_TERMS_FILE,
    CalendarData,
    SchoolCalendar,
    Term,
    academic_year_of,
    load_calendar_data,
)

DATA = load_calendar_data(None, 2025, 2027)
CAL = SchoolCalendar(DATA)

# Dates the hypothesis properties draw from: well inside the covered span (1 Sep 2025 - 31 Aug 2028).
SPAN = st.dates(min_value=date(2025, 9, 1), max_value=date(2027, 6, 30))


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "terms.toml"
    path.write_text(text, encoding="utf-8")
    return path


# --- shipped file -------------------------------------------------------------------------------


def test_shipped_file_is_the_default() -> None:
    assert DEFAULT_TERMS_FILE.is_file()
    assert [t.name for t in DATA.terms][:3] == ["2025-26 autumn", "2025-26 spring", "2025-26 summer"]
    assert len(DATA.terms) == 9
    assert DATA.first_day() == date(2025, 9, 1)
    assert DATA.last_day() == date(2028, 8, 31)


def test_2026_27_terms_as_published() -> None:
    autumn, spring, summer = (t for t in DATA.terms if t.name.startswith("2026-27"))
    assert (autumn.start, autumn.end) == (date(2026, 9, 3), date(2026, 12, 18))
    assert (spring.start, spring.end) == (date(2027, 1, 4), date(2027, 3, 25))
    assert (summer.start, summer.end) == (date(2027, 4, 12), date(2027, 7, 21))


def test_school_days_per_term_and_year() -> None:
    # autumn 2026: 77 weekdays - half-term (5) - INSET 23 Oct (1)
    assert CAL.school_days_between(date(2026, 9, 2), date(2026, 12, 18)) == 71
    # spring 2027: 59 weekdays - half-term (5) - INSET 22 Feb (1)
    assert CAL.school_days_between(date(2027, 1, 3), date(2027, 3, 25)) == 53
    # summer 2027: 73 weekdays - May Day - half-term incl. spring bank holiday (5) - INSET 7 Jun
    assert CAL.school_days_between(date(2027, 4, 11), date(2027, 7, 21)) == 66
    assert CAL.school_days_between(date(2026, 8, 31), date(2027, 8, 31)) == 190


# --- term boundaries and closures ---------------------------------------------------------------


def test_last_day_of_autumn_plus_one_is_first_day_of_spring() -> None:
    assert CAL.add_school_days(date(2026, 12, 18), 1) == date(2027, 1, 4)
    assert CAL.add_school_days(date(2025, 12, 19), 1) == date(2026, 1, 5)
    # 3 Jan 2028 is the New Year substitute bank holiday; spring 2028 starts on the 4th
    assert CAL.add_school_days(date(2027, 12, 17), 1) == date(2028, 1, 4)
    assert not CAL.is_school_day(date(2028, 1, 3))


def test_may_day_inside_term_is_not_a_school_day() -> None:
    assert date(2027, 5, 3) in DATA.bank_holidays
    assert not CAL.is_school_day(date(2027, 5, 3))
    assert CAL.is_school_day(date(2027, 4, 30))
    assert CAL.add_school_days(date(2027, 4, 30), 1) == date(2027, 5, 4)
    assert CAL.school_days_between(date(2027, 4, 30), date(2027, 5, 7)) == 4


def test_half_term_and_inset_days() -> None:
    assert CAL.is_school_day(date(2026, 10, 22))
    assert not CAL.is_school_day(date(2026, 10, 23))  # INSET
    for d in range(26, 31):
        assert not CAL.is_school_day(date(2026, 10, d))  # half-term
    assert CAL.add_school_days(date(2026, 10, 22), 1) == date(2026, 11, 2)
    assert CAL.school_days_in(date(2026, 10, 21), date(2026, 11, 3)) == [
        date(2026, 10, 21),
        date(2026, 10, 22),
        date(2026, 11, 2),
        date(2026, 11, 3),
    ]
    assert CAL.next_school_day(date(2026, 10, 24)) == date(2026, 11, 2)


def test_weekends_and_good_friday() -> None:
    assert not CAL.is_school_day(date(2026, 11, 7))  # Saturday
    assert CAL.next_school_day(date(2026, 11, 7)) == date(2026, 11, 9)
    assert CAL.next_school_day(date(2026, 11, 9)) == date(2026, 11, 9)
    assert not CAL.is_school_day(date(2027, 3, 26))  # Good Friday, after spring term ends


def test_fifteen_school_days_clock() -> None:
    # absence from Mon 12 Oct 2026: 9 school days, then INSET + half-term, then 2-9 Nov
    assert CAL.add_school_days(date(2026, 10, 11), 15) == date(2026, 11, 9)


def test_add_zero_and_negative() -> None:
    assert CAL.add_school_days(date(2026, 12, 19), 0) == date(2027, 1, 4)
    assert CAL.add_school_days(date(2027, 1, 4), 0) == date(2027, 1, 4)
    with pytest.raises(ValueError, match="negative"):
        CAL.add_school_days(date(2027, 1, 4), -1)


def test_between_is_zero_when_end_not_after_start() -> None:
    assert CAL.school_days_between(date(2027, 1, 5), date(2027, 1, 5)) == 0
    assert CAL.school_days_between(date(2027, 1, 8), date(2027, 1, 5)) == 0
    assert CAL.school_days_in(date(2027, 1, 8), date(2027, 1, 5)) == []


# --- academic years and terms -------------------------------------------------------------------


def test_academic_year_rollover() -> None:
    assert academic_year_of(date(2026, 8, 31)) == 2025
    assert academic_year_of(date(2026, 9, 1)) == 2026
    assert CAL.academic_year_of(date(2027, 8, 31)) == 2026
    assert CAL.next_school_day(date(2026, 8, 31)) == date(2026, 9, 3)
    assert CAL.add_school_days(date(2026, 7, 21), 1) == date(2026, 9, 3)
    assert CAL.school_days_between(date(2026, 7, 21), date(2026, 9, 3)) == 1


def test_term_of_and_terms_overlapping() -> None:
    def name_on(d: date) -> str | None:
        term = CAL.term_of(d)
        return None if term is None else term.name

    assert name_on(date(2026, 10, 28)) == "2026-27 autumn"  # half-term is still inside the term
    assert name_on(date(2026, 12, 25)) is None
    assert name_on(date(2027, 1, 4)) == "2026-27 spring"
    assert name_on(date(2027, 3, 25)) == "2026-27 spring"
    assert CAL.term_of(date(2027, 3, 26)) is None
    names = [t.name for t in CAL.terms_overlapping(date(2026, 12, 1), date(2027, 1, 15))]
    assert names == ["2026-27 autumn", "2026-27 spring"]
    assert CAL.terms_overlapping(date(2026, 12, 20), date(2027, 1, 3)) == []


# --- beyond the covered span --------------------------------------------------------------------


def test_dates_outside_the_calendar_raise() -> None:
    with pytest.raises(ValueError, match="calendar does not cover 2028-09-01"):
        CAL.is_school_day(date(2028, 9, 1))
    with pytest.raises(ValueError, match="calendar does not cover 2025-08-31"):
        CAL.next_school_day(date(2025, 8, 31))
    with pytest.raises(ValueError, match="calendar does not cover"):
        CAL.next_school_day(date(2028, 7, 21))  # summer holiday after the last term
    with pytest.raises(ValueError, match="calendar does not cover"):
        CAL.add_school_days(date(2028, 7, 18), 5)
    assert CAL.add_school_days(date(2028, 7, 18), 2) == date(2028, 7, 20)
    # the exclusive start of school_days_between may be the day before the span
    assert CAL.school_days_between(date(2025, 8, 31), date(2025, 9, 3)) == 1


# --- default terms for years not in the file ----------------------------------------------------


def test_year_missing_from_file_gets_default_terms() -> None:
    data = load_calendar_data(None, 2027, 2028)
    cal = SchoolCalendar(data)
    default = [t for t in data.terms if t.name.startswith("2028-29")]
    assert [(t.name, t.start, t.end) for t in default] == [
        ("2028-29 autumn", date(2028, 9, 4), date(2028, 12, 20)),
        ("2028-29 spring", date(2029, 1, 4), date(2029, 3, 29)),  # Easter Sunday 1 Apr 2029
        ("2028-29 summer", date(2029, 4, 16), date(2029, 7, 20)),
    ]
    assert not cal.is_school_day(date(2028, 10, 23))  # October half-term 23-27 Oct
    assert not cal.is_school_day(date(2029, 2, 12))  # February half-term 12-16 Feb
    assert not cal.is_school_day(date(2029, 5, 7))  # early May bank holiday
    assert not cal.is_school_day(date(2029, 5, 30))  # late-May half-term
    assert cal.is_school_day(date(2029, 6, 4))
    assert 185 <= cal.school_days_between(date(2028, 8, 31), date(2029, 8, 31)) <= 195
    # the file's own year is still used as written
    assert [t.start for t in data.terms][:3] == [date(2027, 9, 2), date(2028, 1, 4), date(2028, 4, 24)]


def test_council_file_overrides_one_year_and_defaults_the_next(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[[term]]
name = "2026-27 autumn"
start = 2026-09-07
end = 2026-12-16
half_term = [2026-10-19, 2026-10-23]
closures = [2026-11-05]
""",
    )
    data = load_calendar_data(path, 2026, 2027)
    cal = SchoolCalendar(data)
    assert [t.name for t in data.terms] == [
        "2026-27 autumn",
        "2027-28 autumn",
        "2027-28 spring",
        "2027-28 summer",
    ]
    assert cal.next_school_day(date(2026, 9, 1)) == date(2026, 9, 7)
    assert not cal.is_school_day(date(2026, 11, 5))
    assert cal.term_of(date(2027, 2, 1)) is None  # the file lists only autumn for 2026-27
    assert cal.add_school_days(date(2026, 12, 16), 1) == date(2027, 9, 3)


# --- bad files ----------------------------------------------------------------------------------

BAD_FILES = [
    ("[[term]\nname = 'x'", "not valid TOML"),
    ("[[term]]\nname = '2026-27 autumn'\nstart = 2026-09-03\n", r"missing \['end'\]"),
    ("[[term]]\nname = 'a'\nstart = 2026-09-03\nend = 2026-09-01\n", "ends .* before it starts"),
    ("[[term]]\nname = 'a'\nstart = 2026-09-05\nend = 2026-12-18\n", "starts on Saturday 2026-09-05"),
    (
        "[[term]]\nname = 'a'\nstart = 2026-09-03\nend = 2026-12-18\ninset_days = [2027-01-04]\n",
        "outside the term",
    ),
    ("[[term]]\nname = 'a'\nstart = 2026-09-03\nend = 2026-12-18\nhalfterm = []\n", "unknown key"),
    ("[[term]]\nname = 'a'\nstart = 'soon'\nend = 2026-12-18\n", "start must be a date"),
    ("[[term]]\nname = 'a'\nstart = 2026-09-03T09:00:00\nend = 2026-12-18\n", "without a time"),
    ("[[term]]\nname = 'a'\nstart = 2026-09-03\nend = 2027-09-03\n", "two academic years"),
    ("[[term]]\nname = 'a'\nstart = 2026-09-03\nend = 2026-12-18\nhalf_term = [2026-10-30]\n", "half_term"),
    (
        (
            "[[term]]\nname = 'a'\nstart = 2026-09-03\nend = 2026-12-18\n"
            "[[term]]\nname = 'b'\nstart = 2026-12-14\nend = 2027-03-25\n"
        ),
        "overlap",
    ),
    (
        (
            "[[term]]\nname = 'a'\nstart = 2026-09-03\nend = 2026-12-18\n"
            "[[term]]\nname = 'a'\nstart = 2027-01-04\nend = 2027-03-25\n"
        ),
        "appears twice",
    ),
    ("terms = []\n", "unknown setting"),
]


@pytest.mark.parametrize(("text", "problem"), BAD_FILES)
def test_bad_file_names_file_and_problem(tmp_path: Path, text: str, problem: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ValueError, match=problem) as info:
        load_calendar_data(path, 2026, 2026)
    assert str(path) in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    with pytest.raises(ValueError, match="cannot be read") as info:
        load_calendar_data(path, 2026, 2026)
    assert str(path) in str(info.value)


def test_years_in_wrong_order() -> None:
    with pytest.raises(ValueError, match="before the first"):
        load_calendar_data(None, 2027, 2026)


# --- the data model -----------------------------------------------------------------------------


def test_calendar_data_round_trips_as_json() -> None:
    again = CalendarData.model_validate_json(DATA.model_dump_json())
    assert again == DATA
    assert SchoolCalendar(again).add_school_days(date(2026, 10, 22), 1) == date(2026, 11, 2)


def test_calendar_data_sorts_terms_and_rejects_overlap() -> None:
    a = Term(name="a", start=date(2026, 9, 3), end=date(2026, 12, 18))
    b = Term(name="b", start=date(2027, 1, 4), end=date(2027, 3, 25))
    assert [t.name for t in CalendarData(terms=[b, a], closures=[], bank_holidays=[]).terms] == ["a", "b"]
    with pytest.raises(ValueError, match="overlap"):
        CalendarData(terms=[a, Term(name="c", start=date(2026, 12, 1), end=date(2027, 1, 8))])
    with pytest.raises(ValueError, match="before it starts"):
        Term(name="x", start=date(2026, 9, 3), end=date(2026, 9, 2))


def test_bank_holidays_come_from_holidays_library() -> None:
    for d in (date(2026, 12, 25), date(2027, 3, 26), date(2027, 3, 29), date(2028, 1, 3), date(2028, 5, 29)):
        assert d in DATA.bank_holidays


# --- properties ---------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(start=SPAN, n=st.integers(min_value=1, max_value=150))
def test_adding_then_counting_back_gives_n(start: date, n: int) -> None:
    end = CAL.add_school_days(start, n)
    assert end > start
    assert CAL.is_school_day(end)
    assert CAL.school_days_between(start, end) == n
    assert CAL.school_days_between(start, end - timedelta(days=1)) == n - 1


@settings(max_examples=300, deadline=None)
@given(d=SPAN, n=st.integers(min_value=0, max_value=150))
def test_results_are_always_school_days(d: date, n: int) -> None:
    nxt = CAL.next_school_day(d)
    assert nxt >= d
    assert CAL.is_school_day(nxt)
    assert not any(CAL.is_school_day(d + timedelta(days=k)) for k in range((nxt - d).days))
    assert CAL.is_school_day(CAL.add_school_days(d, n))


@settings(max_examples=300, deadline=None)
@given(start=SPAN, length=st.integers(min_value=0, max_value=400))
def test_school_days_in_matches_between(start: date, length: int) -> None:
    end = start + timedelta(days=length)
    days = CAL.school_days_in(start, end)
    assert len(days) == CAL.school_days_between(start - timedelta(days=1), end)
    assert all(CAL.is_school_day(d) and start <= d <= end for d in days)
    assert days == sorted(set(days))


def test_add_school_days_is_fast() -> None:
    import time

    began = time.perf_counter()
    for i in range(20000):
        CAL.add_school_days(date(2025, 9, 1) + timedelta(days=i % 900), 15)
    assert time.perf_counter() - began < 2.0
