"""What a case charges the school for the education the LA arranges: each ended term, from where the
last charge stopped, and at closure everything not yet charged."""

from datetime import date, timedelta
from decimal import Decimal

from domain.case_commands import DecisionOutcome
from domain.case_context import CaseContext
from domain.case_state import CaseState
from domain.recoupment import RecoupmentLine, key_stage_on, recoupment_lines, to_pence


def recoups(state: CaseState) -> bool:
    """The LA recoups from the school only for education it arranges itself."""
    return state.decision is DecisionOutcome.LA_PROVISION and state.provision_started_on is not None


def charged_until(state: CaseState) -> date | None:
    return max((line.to_date for line in state.recoupment_lines), default=None)


def term_lines(state: CaseState, ctx: CaseContext, term_name: str) -> list[RecoupmentLine]:
    """The charges for one ended term, from where the last charge stopped."""
    if not recoups(state):
        return []
    term = next(t for t in ctx.calendar.data.terms if t.name == term_name)
    start = max(term.start, state.provision_started_on, _after(charged_until(state)))
    return _lines(state, ctx, start, term.end, term.name)


def settlement_lines(state: CaseState, ctx: CaseContext, *, until: date) -> list[RecoupmentLine]:
    """At closure: everything not yet charged, up to the last day of provision."""
    if not recoups(state):
        return []
    start = max(state.provision_started_on, _after(charged_until(state)))
    return _lines(state, ctx, start, until, "settlement")


def _lines(state: CaseState, ctx: CaseContext, start: date, end: date, period: str) -> list[RecoupmentLine]:
    """The charges for `start`..`end`. With `part_time_attendance = "pro_rata"`, the days of a part-time
    timetable are charged less the share of full-time hours the child spends back at school."""
    plan = state.reintegration
    if ctx.rates.part_time_attendance != "pro_rata" or plan is None:
        return _charge(state, ctx, start, end, period)
    at_school = Decimal(str(plan.hours_per_week)) / Decimal(str(ctx.clocks.full_time_hours_per_week))
    share = max(Decimal(0), 1 - at_school)
    plan_from, plan_to = max(start, plan.start_date), min(end, plan.end_date)
    lines = _charge(state, ctx, start, min(end, plan.start_date - timedelta(days=1)), period)
    lines += [line.model_copy(update={"amount": to_pence(line.amount * share)})
              for line in _charge(state, ctx, plan_from, plan_to, period)]
    lines += _charge(state, ctx, max(start, plan.end_date + timedelta(days=1)), end, period)
    return lines


def _charge(state: CaseState, ctx: CaseContext, start: date, end: date, period: str) -> list[RecoupmentLine]:
    if end < start:
        return []
    return recoupment_lines(
        case_ref=state.case_ref,
        spells=state.school_spells,
        provision_from=start,
        provision_to=end,
        key_stage=key_stage_on(state.child.date_of_birth, start),
        # A run begun before the patch keeps charging as it began: a fixed divisor.
        rates=ctx.rates.model_copy(update={"divisor": "fixed"}) if ctx.legacy_rules else ctx.rates,
        calendar=ctx.calendar,
        period=period,
        calendar_for=ctx.calendar_of,
    )


def _after(day: date | None) -> date:
    return date.min if day is None else day + timedelta(days=1)
