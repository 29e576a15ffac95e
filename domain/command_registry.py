"""Which command type, check and change each `Action` has. Filled as `domain.case_transitions`
declares its rules: read it through that module, which is imported whole before any command runs."""

from collections.abc import Callable

from domain import case_commands as c
from domain.case_context import CaseContext
from domain.case_effects import Effects
from domain.case_state import CaseState
from domain.stages import Action

Check = Callable[[CaseState, c.Command, CaseContext], None]
Apply = Callable[[CaseState, c.Command, CaseContext], tuple[str | None, Effects]]

CHECKS: dict[Action, Check] = {}
APPLIES: dict[Action, Apply] = {}

COMMAND_TYPES: dict[Action, type[c.Command]] = {
    Action.RECORD_ABSENCE_DAYS: c.RecordAbsenceDays,
    Action.REQUEST_CONSENT: c.RequestConsent,
    Action.RECORD_CONSENT: c.RecordConsent,
    Action.REQUEST_EVIDENCE: c.RequestEvidence,
    Action.RECORD_EVIDENCE: c.RecordEvidence,
    Action.DECIDE: c.Decide,
    Action.COMMISSION_PROVISION: c.CommissionProvision,
    Action.ASSIGN_OFFICER: c.AssignOfficer,
    Action.SCHEDULE_REVIEW: c.ScheduleReview,
    Action.RECORD_REVIEW_OUTCOME: c.RecordReviewOutcome,
    Action.RECORD_HOSPITAL_ADMISSION: c.RecordHospitalAdmission,
    Action.RECORD_HOSPITAL_DISCHARGE: c.RecordHospitalDischarge,
    Action.AGREE_REINTEGRATION_PLAN: c.AgreeReintegrationPlan,
    Action.EXTEND_REINTEGRATION: c.ExtendReintegration,
    Action.CONFIRM_FULL_TIME_RETURN: c.ConfirmFullTimeReturn,
    Action.CHANGE_SCHOOL: c.ChangeSchool,
    Action.ADD_NOTE: c.AddNote,
    Action.CLOSE: c.CloseCase,
}


def rule(action: Action, check: Check | None = None):
    """Declare the change an action makes (the decorated function) and, optionally, its check."""

    def register(apply: Apply) -> Apply:
        APPLIES[action] = apply
        if check is not None:
            CHECKS[action] = check
        return apply

    return register
