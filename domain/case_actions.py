"""The actions a case offers now: those its stage allows (`domain.stages`) whose preconditions on the
rest of the case hold, so that every action listed in a case view can succeed with a sensible command.
The rules' checks (`domain.case_transitions`) refuse the same cases with a reason."""

from collections.abc import Callable

from domain.case_state import CaseState, ConsentStatus
from domain.stages import ALLOWED_ACTIONS, Action

#: What must hold, besides the stage, for an action to be able to succeed.
PRECONDITIONS: dict[Action, Callable[[CaseState], bool]] = {
    Action.REQUEST_EVIDENCE: lambda s: s.consent is ConsentStatus.GRANTED and bool(s.professionals),
    Action.RECORD_REVIEW_OUTCOME: lambda s: s.next_review is not None,
    Action.RECORD_HOSPITAL_ADMISSION: lambda s: not s.in_hospital,
    Action.RECORD_HOSPITAL_DISCHARGE: lambda s: s.in_hospital,
    Action.EXTEND_REINTEGRATION: lambda s: s.reintegration is not None,
    Action.CONFIRM_FULL_TIME_RETURN: lambda s: s.reintegration is not None,
}


def can(state: CaseState, action: Action) -> bool:
    """Whether the case offers `action` now."""
    if action not in ALLOWED_ACTIONS[state.stage]:
        return False
    precondition = PRECONDITIONS.get(action)
    return precondition is None or precondition(state)


def open_actions(state: CaseState) -> list[str]:
    """The actions the case offers now, sorted, as users see them in the case view and in errors."""
    return sorted(a.value for a in ALLOWED_ACTIONS[state.stage] if can(state, a))
