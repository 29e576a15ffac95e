"""What a case charges the school for the education the LA arranges: each ended term, from where the
last charge stopped, and at closure everything not yet charged."""

from datetime import date, timedelta

from domain.case_commands import DecisionOutcome
from domain.case_context import CaseContext
from domain.case_state import CaseState
from domain.recoupment import RecoupmentLine, key_stage_on, recoupment_lines


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
    if end < start:
        return []
    return recoupment_lines(
        case_ref=state.case_ref,
        spells=state.school_spells,
        provision_from=start,
        provision_to=end,
        key_stage=key_stage_on(state.child.date_of_birth, start),
        rates=ctx.rates,
        calendar=ctx.calendar,
        period=period,
    )


def _after(day: date | None) -> date:
    return date.min if day is None else day + timedelta(days=1)
