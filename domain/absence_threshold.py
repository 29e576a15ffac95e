"""When a child's absence reaches the point at which the LA must arrange education: the 15th school
day missed in the school year, consecutive or cumulative, counting recorded days and the expected
absence still to come.

An absence does not stop at 31 August. Its school year is that of its first school day (an absence
that begins in the summer holiday belongs to the autumn term that follows); one that runs on over
the summer, or is expected to, keeps counting into the autumn term, together with the days recorded
before the summer. Days of an earlier school year that this absence did not run on from do not count."""

from datetime import date, timedelta

from domain.case_context import CaseContext
from domain.case_state import CaseState
from domain.school_calendar import SchoolCalendar, academic_year_of


def absence_days_in_year(
    *,
    recorded: list[date],
    first_day_of_absence: date,
    expected_return: date | None,
    calendar: SchoolCalendar,
    threshold: int,
) -> list[date]:
    """Recorded and projected school days of absence in the academic year of the first day, sorted.

    The current spell of absence is projected from the day after the last recorded day (or from the
    first day, if none is recorded) to the day before the expected return; with no expected return it
    runs on until the threshold is reached (the school said the absence is open-ended). Earlier spells
    count only by their recorded days: a child who came back in between was not absent.
    """
    year = academic_year_of(first_day_of_absence)
    days = {d for d in recorded if academic_year_of(d) == year and calendar.is_school_day(d)}
    day = max([first_day_of_absence - timedelta(days=1), *days])
    while True:
        try:
            day = calendar.add_school_days(day, 1)
        except ValueError:  # beyond the calendar we hold: project no further
            break
        if academic_year_of(day) != year:
            break
        if expected_return is not None and day >= expected_return:
            break
        days.add(day)
        if expected_return is None and len(days) >= threshold:
            break
    return sorted(days)


def absence_sessions(
    *,
    recorded: list[date],
    half_days: list[date],
    first_day_of_absence: date,
    expected_return: date | None,
    calendar: SchoolCalendar,
    threshold: int,
) -> dict[date, int]:
    """The sessions missed on each school day of this absence (2: the whole day, 1: half of it),
    recorded and projected, counted across 31 August.

    Registers are marked twice a day: a half day recorded counts as half a day toward the threshold
    (so does a day of a part-time timetable the child half attended). Like `absence_days_in_year`, the
    current spell is projected, as whole days, from the day after the last recorded day (or from the
    first day) to the day before the expected return, or on until the threshold is reached; the
    projection does not stop at the end of the school year. Recorded days count from the absence's
    school year; those of the next school year count only when the absence runs on over the summer
    (its school year's last school day is missed)."""
    try:
        start = calendar.next_school_day(first_day_of_absence)
    except ValueError:  # no school day left in the calendar held
        start = first_day_of_absence
    year = academic_year_of(start)
    missed: dict[int, dict[date, int]] = {year: {}, year + 1: {}}
    for days, sessions in ((half_days, 1), (recorded, 2)):  # a whole day overrides a half
        for d in days:
            if academic_year_of(d) in missed and calendar.is_school_day(d):
                missed[academic_year_of(d)][d] = sessions
    counted, later = missed[year], missed[year + 1]
    needed = 2 * threshold
    day = max([first_day_of_absence - timedelta(days=1), *counted])
    while True:
        try:
            day = calendar.add_school_days(day, 1)
        except ValueError:  # beyond the calendar we hold: project no further
            break
        if expected_return is not None and day >= expected_return:
            break
        if academic_year_of(day) > year + 1:
            break
        counted[day] = 2
        if expected_return is None and sum(counted.values()) >= needed:
            break
    year_days = [d for d in calendar.school_days if academic_year_of(d) == year]
    if year_days and year_days[-1] in counted:  # the absence runs on over the summer
        counted = {**later, **counted}
    return dict(sorted(counted.items()))


def threshold_from_sessions(sessions: dict[date, int], threshold: int) -> date | None:
    """The school day on which the `threshold`-th day (twice as many sessions) of absence is reached."""
    total = 0
    for day, missed in sorted(sessions.items()):
        total += missed
        if total >= 2 * threshold:
            return day
    return None


def threshold_date(days: list[date], threshold: int) -> date | None:
    """The school day on which the `threshold`-th day of absence falls, or None if it is not reached."""
    return days[threshold - 1] if len(days) >= threshold else None


def refresh_threshold(state: CaseState, ctx: CaseContext) -> None:
    """Recompute the case's 15-day point from the recorded and expected absence."""
    threshold = ctx.clocks.absence_threshold_days
    if ctx.legacy_rules:
        days = absence_days_in_year(recorded=state.absence_days, first_day_of_absence=state.first_day_of_absence,
                                    expected_return=state.expected_return, calendar=ctx.calendar,
                                    threshold=threshold)
        state.threshold_date = threshold_date(days, threshold)
        return
    sessions = absence_sessions(recorded=state.absence_days, half_days=state.absence_half_days,
                                first_day_of_absence=state.first_day_of_absence,
                                expected_return=state.expected_return, calendar=ctx.calendar, threshold=threshold)
    state.threshold_date = threshold_from_sessions(sessions, threshold)
