"""The actions a case offers now: those its stage allows (`domain.stages`) whose preconditions on the
rest of the case hold, so that every action listed in a case view can succeed with a sensible command.
The rules' checks (`domain.case_transitions`) refuse the same cases with a reason."""

from collections.abc import Callable, Iterable
from datetime import date

from domain.case_context import CaseContext
from domain.case_state import CaseState, ConsentStatus
from domain.people import Role
from domain.stages import ALLOWED_ACTIONS, Action, Stage

#: What must hold, besides the stage, for an action to be able to succeed.
PRECONDITIONS: dict[Action, Callable[[CaseState], bool]] = {
    Action.REQUEST_EVIDENCE: lambda s: s.consent is ConsentStatus.GRANTED and bool(s.professionals),
    Action.RECORD_REVIEW_OUTCOME: lambda s: s.next_review is not None,
    Action.RECORD_HOSPITAL_ADMISSION: lambda s: not s.in_hospital,
    Action.RECORD_HOSPITAL_DISCHARGE: lambda s: s.in_hospital,
    Action.EXTEND_REINTEGRATION: lambda s: s.reintegration is not None,
    Action.CONFIRM_FULL_TIME_RETURN: lambda s: s.reintegration is not None,
}


def reopen_until(state: CaseState, ctx: CaseContext) -> date | None:
    """The last day a supervisor may reopen the closed case (`reopen_within` school days after the
    closure was recorded), or None when it cannot be reopened at all."""
    if state.stage is not Stage.CLOSED or state.closed_at is None or ctx.clocks.reopen_within == 0:
        return None
    try:
        return ctx.after(state.closed_at.date(), ctx.clocks.reopen_within)
    except ValueError:  # beyond the calendar held
        return None


def can(state: CaseState, action: Action, ctx: CaseContext | None = None) -> bool:
    """Whether the case offers `action` now (the reopening window needs `ctx`: without it, no)."""
    if action not in ALLOWED_ACTIONS[state.stage]:
        return False
    if action is Action.REOPEN:
        last = None if ctx is None else reopen_until(state, ctx)
        return last is not None and ctx.today <= last
    if action is Action.AGREE_REINTEGRATION_PLAN and state.reintegration is not None and ctx is not None:
        # A plan agreed again may not end later (that is an extension), and must end in the future.
        return state.reintegration.end_date > ctx.today
    precondition = PRECONDITIONS.get(action)
    return precondition is None or precondition(state)


def open_actions(state: CaseState, ctx: CaseContext | None = None) -> list[str]:
    """The actions the case offers now, sorted, as users see them in the case view and in errors."""
    return sorted(a.value for a in ALLOWED_ACTIONS[state.stage] if can(state, a, ctx))


#: Actions only a supervisor may take: the rule refuses anyone else, so nobody else is offered them.
SUPERVISOR_ONLY: frozenset[Action] = frozenset({Action.REOPEN})


def offered_to(role: Role, actions: Iterable[str]) -> list[str]:
    """Of the actions a case allows now, those this kind of person may take."""
    return [a for a in actions if role is Role.SUPERVISOR or a not in SUPERVISOR_ONLY]
