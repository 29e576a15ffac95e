"""Properties of the school-day calendar and the clocks built on it, for any council's term dates.

`tests/test_school_calendar.py` checks the shipped calendar; here hypothesis draws whole calendars
(random terms, half-terms, INSET days and bank holidays, gaps of any length between terms) and checks
what every clock of a case relies on:

- counting: n school days after a day, counted back, is n; counting is additive over adjacent spans;
  a school day is exactly a weekday in term that is not closed; `CaseContext.before` finds the n-th
  school day before a date however long the holiday in between;
- deadlines: every clock of a case (pending tasks, reminders, chasers, escalations) falls on a school
  day, on or after the day it started, whatever the clock settings and whenever things happen;
- the 15-day point: from any set of recorded days it is a school day of the absence's school year,
  exactly the threshold-th day of absence, after every recorded day while fewer than the threshold are
  recorded, and never later for recording an earlier missed day;
- recoupment: charging a provision in two parts (a term, then the rest) comes to the same school days
  and the same money as charging it whole, across any school changes.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from domain import case_transitions as transitions
from domain.absence_threshold import absence_days_in_year, threshold_date
from domain.case_alarms import unfired_alarms
from domain.case_commands import (
    CommissionProvision,
    ConsentDecision,
    Decide,
    DecisionOutcome,
    RecordConsent,
    RecordHospitalAdmission,
    RequestConsent,
    RequestEvidence,
    ScheduleReview,
)
from domain.case_context import CaseContext
from domain.case_state import CaseState
from domain.pending_tasks import pending_tasks
from domain.people import Actor, HealthProfessional, Role
from domain.provision import Provision, ProvisionKind
from domain.recoupment import KeyStage, RecoupmentRates, SchoolSpell, recoupment_lines
from domain.school_calendar import CalendarData, SchoolCalendar, Term, academic_year_of, default_terms
from domain.stages import Action, Stage
from domain.statutory_clocks import ClockSettings
from tests.case_harness import notification

PROPERTY = settings(
    max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
OFFICER = Actor(role=Role.CASEWORKER, name="officer-jb")
ONE_DAY = timedelta(days=1)


# -- calendars any council could publish ----------------------------------------------------------


def _council_terms(draw: st.DrawFn, year: int) -> list[Term]:
    """One to four terms anywhere in an academic year (so holidays of any length between them)."""
    n = draw(st.integers(1, 4))
    bounds = sorted(draw(st.lists(st.integers(0, 364), min_size=2 * n, max_size=2 * n, unique=True)))
    start_of_year = date(year, 9, 1)
    return [
        Term(
            name=f"{year} term {i + 1}",
            start=start_of_year + timedelta(days=bounds[2 * i]),
            end=start_of_year + timedelta(days=bounds[2 * i + 1]),
        )
        for i in range(n)
    ]


def _calendar(draw: st.DrawFn, terms: list[Term], closures: list[date]) -> SchoolCalendar:
    """The terms, those closures and random closures and bank holidays anywhere."""
    first, last = academic_year_of(terms[0].start), academic_year_of(terms[-1].end)
    span = st.dates(min_value=date(first, 9, 1), max_value=date(last + 1, 8, 31))
    data = CalendarData(
        terms=terms,
        closures=closures + draw(st.lists(span, max_size=40)),
        bank_holidays=draw(st.lists(span, max_size=12)),
    )
    return SchoolCalendar(data)


@st.composite
def calendars(draw: st.DrawFn, *, min_years: int = 1, max_years: int = 3) -> SchoolCalendar:
    """Consecutive academic years of any council's terms, closures and bank holidays."""
    first = draw(st.integers(2024, 2032))
    years = draw(st.integers(min_years, max_years))
    terms = [t for year in range(first, first + years) for t in _council_terms(draw, year)]
    calendar = _calendar(draw, terms, [])
    assume(len(calendar.school_days) >= 2)
    return calendar


@st.composite
def case_calendars(draw: st.DrawFn) -> tuple[SchoolCalendar, int]:
    """What a case holds, and the case's year: a year before it, the case's year (any council's
    terms) and two years after (the workflow loads those too), those with the usual English terms."""
    year = draw(st.integers(2024, 2032))
    terms: list[Term] = []
    closures: list[date] = []
    for y in (year - 1, year, year + 1, year + 2):
        if y == year:
            terms += _council_terms(draw, y)
        else:
            usual, closed = default_terms(y, set())
            terms += usual
            closures += closed
    calendar = _calendar(draw, terms, closures)
    assume(sum(1 for d in calendar.school_days if academic_year_of(d) == year) >= 10)
    return calendar, year


def covered(calendar: SchoolCalendar) -> st.SearchStrategy[date]:
    return st.dates(min_value=calendar.data.first_day(), max_value=calendar.data.last_day())


# -- counting school days --------------------------------------------------------------------------


@PROPERTY
@given(data=st.data(), calendar=calendars(), n=st.integers(1, 120))
def test_adding_n_school_days_then_counting_back_gives_n(
    data: st.DataObject, calendar: SchoolCalendar, n: int
) -> None:
    start = data.draw(covered(calendar))
    after = [d for d in calendar.school_days if d > start]
    if len(after) < n:  # not enough school days left in the calendar: refused, never guessed
        try:
            calendar.add_school_days(start, n)
        except ValueError:
            return
        raise AssertionError("a date beyond the calendar was answered")
    end = calendar.add_school_days(start, n)
    assert end == after[n - 1]
    assert calendar.is_school_day(end)
    assert calendar.school_days_between(start, end) == n
    assert calendar.school_days_between(start, end - ONE_DAY) == n - 1


@PROPERTY
@given(data=st.data(), calendar=calendars())
def test_counting_is_additive_over_adjacent_spans(data: st.DataObject, calendar: SchoolCalendar) -> None:
    a, b, c = sorted(data.draw(st.lists(covered(calendar), min_size=3, max_size=3)))
    between = calendar.school_days_between
    assert between(a, b) + between(b, c) == between(a, c)
    assert between(a, c) == len(calendar.school_days_in(a + ONE_DAY, c)) if a < c else between(a, c) == 0


@PROPERTY
@given(data=st.data(), calendar=calendars())
def test_a_school_day_is_a_weekday_in_term_that_is_not_closed(
    data: st.DataObject, calendar: SchoolCalendar
) -> None:
    day = data.draw(covered(calendar))
    in_term = any(t.start <= day <= t.end for t in calendar.data.terms)
    closed = day in calendar.data.closures or day in calendar.data.bank_holidays
    assert calendar.is_school_day(day) == (day.weekday() < 5 and in_term and not closed)
    term = calendar.term_of(day)
    assert (term is not None) == in_term


@PROPERTY
@given(data=st.data(), calendar=calendars(min_years=2), n=st.integers(1, 20))
def test_n_school_days_before_a_date_is_found_across_any_holiday(
    data: st.DataObject, calendar: SchoolCalendar, n: int
) -> None:
    end = data.draw(covered(calendar))
    ctx = CaseContext(calendar, ClockSettings(), RecoupmentRates(), datetime.combine(end, time(9), UTC))
    earlier = [d for d in calendar.school_days if d < end]
    if len(earlier) < n:
        try:
            ctx.before(end, n)
        except ValueError:
            return
        raise AssertionError("a date before the calendar was answered")
    day = ctx.before(end, n)
    assert day == earlier[-n]
    assert calendar.is_school_day(day) and day < end
    assert calendar.school_days_between(day, end - ONE_DAY) == n - 1


# -- the clocks of a case ----------------------------------------------------------------------------

#: Alarms due on a school day (the others fire the day after a deadline, or after a term ends).
SCHOOL_DAY_ALARMS = {
    "consent-reminder",
    "consent-follow-up",
    "evidence-chase",
    "evidence-deadline",
    "review-reminder",
    "review-escalation",
    "hospital-referral",
    "stalled",
}
#: Tasks due on a date a person gave (a part-time timetable's end) rather than a counted one.
GIVEN_DATE_TASKS = {"confirm-return"}

clock_settings = st.builds(
    ClockSettings,
    absence_threshold_days=st.integers(1, 30),
    consent_parent_reminder_after=st.integers(1, 15),
    consent_officer_task_after=st.integers(1, 15),
    evidence_chase_after=st.integers(1, 15),
    evidence_decide_after=st.integers(1, 20),
    decision_due_after=st.integers(1, 15),
    review_interval_school_weeks=st.integers(1, 12),
    review_reminder_before=st.integers(1, 10),
    review_escalate_after=st.integers(1, 10),
    stalled_after=st.integers(1, 20),
    hospital_referral_after=st.integers(1, 20),
)

#: What happens to a case, in order; a run stops at a random point.
STEPS = (
    Action.RECORD_HOSPITAL_ADMISSION,
    Action.REQUEST_CONSENT,
    Action.RECORD_CONSENT,
    Action.REQUEST_EVIDENCE,
    Action.DECIDE,
    Action.COMMISSION_PROVISION,
    Action.SCHEDULE_REVIEW,
)
GP = HealthProfessional(id="gp-1", name="Dr A GP", role="gp", email="gp@nhs.example")


def _command(action: Action, day: date, calendar: SchoolCalendar) -> object:
    if action is Action.RECORD_HOSPITAL_ADMISSION:
        return RecordHospitalAdmission(admitted_on=day, hospital="County Hospital", actor=OFFICER)
    if action is Action.REQUEST_CONSENT:
        return RequestConsent(actor=OFFICER)
    if action is Action.RECORD_CONSENT:
        return RecordConsent(decision=ConsentDecision.GRANTED, professionals=[GP], actor=OFFICER)
    if action is Action.REQUEST_EVIDENCE:
        return RequestEvidence(professional_ids=["gp-1"], actor=OFFICER)
    if action is Action.DECIDE:
        return Decide(outcome=DecisionOutcome.LA_PROVISION, reason="GP letter", actor=OFFICER)
    if action is Action.COMMISSION_PROVISION:
        provision = Provision(
            kind=ProvisionKind.HOME_TUITION,
            provider="County Home Tuition",
            hours_per_week=Decimal(25),
            start_date=day,
            weekly_cost=Decimal(450),
        )
        return CommissionProvision(provisions=[provision], officer="officer-jb", actor=OFFICER)
    return ScheduleReview(on=calendar.add_school_days(day, 10), actor=OFFICER)


def _check_clocks(state: CaseState, ctx: CaseContext, started: date) -> None:
    for task in pending_tasks(state, ctx):
        if task.id not in GIVEN_DATE_TASKS:
            assert ctx.calendar.is_school_day(task.due_on), f"{task.id} due on {task.due_on}"
            assert task.due_on >= started, f"{task.id} due on {task.due_on}, before the case began"
    for alarm in unfired_alarms(state, ctx):
        if alarm.kind in SCHOOL_DAY_ALARMS:
            assert ctx.calendar.is_school_day(alarm.fires_on), f"{alarm.id} fires on {alarm.fires_on}"
            assert alarm.fires_on > started, f"{alarm.id} fires on {alarm.fires_on}"


@settings(PROPERTY, max_examples=60)
@given(
    data=st.data(),
    held=case_calendars(),
    clocks=clock_settings,
    steps=st.integers(0, len(STEPS)),
    gaps=st.lists(st.integers(0, 12), min_size=len(STEPS), max_size=len(STEPS)),
)
def test_every_deadline_of_a_case_falls_on_a_school_day(
    data: st.DataObject,
    held: tuple[SchoolCalendar, int],
    clocks: ClockSettings,
    steps: int,
    gaps: list[int],
) -> None:
    # A case opened on a school day of the council's year, with some absence already recorded.
    calendar, year = held
    in_year = [d for d in calendar.school_days if academic_year_of(d) == year]
    opened_on = data.draw(st.sampled_from(in_year))
    recorded = data.draw(st.lists(st.sampled_from([d for d in in_year if d <= opened_on]), max_size=10))
    started = min([opened_on, *recorded])
    case = notification(opened_on, absence_days=recorded)
    state = CaseState(
        case_ref=case.case_ref,
        opened_at=datetime.combine(opened_on, time(9), UTC),
        school_urn=case.school_urn,
        child=case.child,
        parent=case.parent,
        reason=case.reason,
        first_day_of_absence=opened_on,
        absence_days=sorted(set(recorded)),
        last_progress_on=opened_on,
    )
    rates = RecoupmentRates()
    ctx = CaseContext(calendar, clocks, rates, datetime.combine(opened_on, time(9), UTC))
    transitions.refresh_threshold(state, ctx)
    _check_clocks(state, ctx, started)

    day = opened_on
    for action, gap in zip(STEPS[:steps], gaps, strict=False):
        day = calendar.add_school_days(day, gap)
        ctx = CaseContext(calendar, clocks, rates, datetime.combine(day, time(9), UTC))
        transitions.apply(state, action, _command(action, day, calendar), ctx)
        _check_clocks(state, ctx, started)
    if steps >= STEPS.index(Action.COMMISSION_PROVISION) + 1:
        assert state.stage is Stage.IN_PROVISION


# -- the 15-day point ----------------------------------------------------------------------------------


@PROPERTY
@given(
    data=st.data(),
    calendar=calendars(min_years=2, max_years=2),
    threshold=st.integers(1, 20),
    open_ended=st.booleans(),
)
def test_the_threshold_is_a_school_day_and_the_thresholdth_day_of_absence(
    data: st.DataObject, calendar: SchoolCalendar, threshold: int, open_ended: bool
) -> None:
    first_day = data.draw(st.sampled_from(calendar.school_days))
    year = academic_year_of(first_day)
    in_year = [d for d in calendar.school_days if academic_year_of(d) == year]
    # Recorded days: any school days of the year, plus days the count must ignore (weekends,
    # holidays, other years).
    recorded = data.draw(st.lists(st.sampled_from(in_year), max_size=25)) + data.draw(
        st.lists(covered(calendar), max_size=5)
    )
    expected_return = None if open_ended else data.draw(st.dates(first_day + ONE_DAY, date(year + 1, 8, 31)))

    def absence(days: list[date]) -> list[date]:
        return absence_days_in_year(
            recorded=days,
            first_day_of_absence=first_day,
            expected_return=expected_return,
            calendar=calendar,
            threshold=threshold,
        )

    days = absence(recorded)
    counted = {d for d in recorded if academic_year_of(d) == year and calendar.is_school_day(d)}
    assert days == sorted(set(days)) and counted <= set(days)
    assert all(calendar.is_school_day(d) and academic_year_of(d) == year for d in days)

    point = threshold_date(days, threshold)
    if point is None:
        assert len(days) < threshold
        return
    assert calendar.is_school_day(point) and academic_year_of(point) == year
    assert len([d for d in days if d <= point]) == threshold
    if len(counted) < threshold:  # reached by the absence still to come, after every recorded day
        assert point > max(counted, default=first_day - ONE_DAY) and point >= first_day
    else:  # reached by the recorded days themselves
        assert point == sorted(counted)[threshold - 1]

    # Recording one more day missed before the latest one never puts the point later.
    earlier = [d for d in in_year if d < max(counted, default=first_day) and d not in counted]
    if earlier:
        extra = data.draw(st.sampled_from(earlier))
        later_point = threshold_date(absence([*recorded, extra]), threshold)
        assert later_point is not None and later_point <= point


# -- recoupment -------------------------------------------------------------------------------------------


@PROPERTY
@given(
    data=st.data(),
    calendar=calendars(min_years=2, max_years=3),
    key_stage=st.sampled_from(list(KeyStage)),
    annual=st.decimals(min_value=0, max_value=20000, places=2),
    per_year=st.integers(150, 200),
)
def test_charging_a_provision_in_two_parts_equals_charging_it_whole(
    data: st.DataObject, calendar: SchoolCalendar, key_stage: KeyStage, annual: Decimal, per_year: int
) -> None:
    rates = RecoupmentRates(annual_per_pupil=dict.fromkeys(KeyStage, annual), school_days_per_year=per_year)
    start, split, end = sorted(data.draw(st.lists(covered(calendar), min_size=3, max_size=3)))
    assume(start < end)
    split = min(split, end - ONE_DAY)
    # The child on one school's roll, then maybe another's, then maybe a third's (no overlap).
    changes = sorted(set(data.draw(st.lists(st.dates(start + ONE_DAY, end), max_size=2))))
    froms = [calendar.data.first_day(), *changes]
    spells = [
        SchoolSpell(
            school_urn=f"12000{i}",
            from_date=f,
            to_date=froms[i + 1] - ONE_DAY if i + 1 < len(froms) else None,
        )
        for i, f in enumerate(froms)
    ]

    def charge(a: date, b: date) -> list:
        return recoupment_lines(
            case_ref="MN-30-ABCDEF",
            spells=spells,
            provision_from=a,
            provision_to=b,
            key_stage=key_stage,
            rates=rates,
            calendar=calendar,
            period="p",
        )

    whole = charge(start, end)
    parts = charge(start, split) + charge(split + ONE_DAY, end)
    assert sum(line.school_days for line in parts) == sum(line.school_days for line in whole)
    assert sum(line.school_days for line in whole) == calendar.school_days_between(start - ONE_DAY, end)
    assert sum((line.amount for line in parts), Decimal(0)) == sum(
        (line.amount for line in whole), Decimal(0)
    )
    for line in whole + parts:
        assert line.school_days > 0
        # Each line lies inside one school year, and is charged at that year's daily rate.
        year = academic_year_of(line.from_date)
        assert academic_year_of(line.to_date) == year
        in_year = len(calendar.school_days_in(date(year, 9, 1), date(year + 1, 8, 31)))
        assert line.amount == rates.daily_rate(key_stage, in_year) * line.school_days
        assert line.amount == line.amount.quantize(Decimal("0.01"))
    # Per school, too: a school change splits what is owed, never adds to it.
    for spell in spells:
        owed_whole = sum(line.school_days for line in whole if line.school_urn == spell.school_urn)
        owed_parts = sum(line.school_days for line in parts if line.school_urn == spell.school_urn)
        assert owed_whole == owed_parts
