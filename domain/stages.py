"""The stages a medical-absence case moves through, the actions each stage allows, and the stage
each action shows a case has reached.

This table is the single source of truth for "what may happen now": the workflow's update
validators, the API's 409 answers and the documentation all read it.
"""

from enum import StrEnum


class Stage(StrEnum):
    NOTIFIED = "notified"
    AWAITING_CONSENT = "awaiting_consent"
    GATHERING_EVIDENCE = "gathering_evidence"
    DECIDING = "deciding"
    COMMISSIONING = "commissioning"
    IN_PROVISION = "in_provision"
    REINTEGRATING = "reintegrating"
    CLOSED = "closed"


class Action(StrEnum):
    """Every command a person can give a case. The value is the workflow update's name."""

    RECORD_ABSENCE_DAYS = "record_absence_days"
    REQUEST_CONSENT = "request_consent"
    RECORD_CONSENT = "record_consent"
    REQUEST_EVIDENCE = "request_evidence"
    RECORD_EVIDENCE = "record_evidence"
    DECIDE = "decide"
    COMMISSION_PROVISION = "commission_provision"
    ASSIGN_OFFICER = "assign_officer"
    SCHEDULE_REVIEW = "schedule_review"
    RECORD_REVIEW_OUTCOME = "record_review_outcome"
    RECORD_HOSPITAL_ADMISSION = "record_hospital_admission"
    RECORD_HOSPITAL_DISCHARGE = "record_hospital_discharge"
    AGREE_REINTEGRATION_PLAN = "agree_reintegration_plan"
    EXTEND_REINTEGRATION = "extend_reintegration"
    CONFIRM_FULL_TIME_RETURN = "confirm_full_time_return"
    CHANGE_SCHOOL = "change_school"
    ADD_NOTE = "add_note"
    CLOSE = "close"
    REOPEN = "reopen"


_ALWAYS_OPEN = {Action.ADD_NOTE, Action.ASSIGN_OFFICER, Action.CHANGE_SCHOOL, Action.CLOSE}
_HOSPITAL = {Action.RECORD_HOSPITAL_ADMISSION, Action.RECORD_HOSPITAL_DISCHARGE}
# The officer may always decide on the evidence held: refused consent or silence never stalls a case.
_BEFORE_DECISION = _ALWAYS_OPEN | _HOSPITAL | {Action.RECORD_ABSENCE_DAYS, Action.DECIDE}

ALLOWED_ACTIONS: dict[Stage, frozenset[Action]] = {
    Stage.NOTIFIED: frozenset(_BEFORE_DECISION | {Action.REQUEST_CONSENT, Action.RECORD_CONSENT}),
    Stage.AWAITING_CONSENT: frozenset(
        _BEFORE_DECISION | {Action.REQUEST_CONSENT, Action.RECORD_CONSENT, Action.RECORD_EVIDENCE}
    ),
    Stage.GATHERING_EVIDENCE: frozenset(
        _BEFORE_DECISION
        | {Action.RECORD_CONSENT, Action.REQUEST_EVIDENCE, Action.RECORD_EVIDENCE}
    ),
    Stage.DECIDING: frozenset(
        _BEFORE_DECISION
        | {Action.RECORD_CONSENT, Action.REQUEST_EVIDENCE, Action.RECORD_EVIDENCE}
    ),
    Stage.COMMISSIONING: frozenset(
        _ALWAYS_OPEN | _HOSPITAL | {Action.RECORD_ABSENCE_DAYS, Action.COMMISSION_PROVISION}
    ),
    Stage.IN_PROVISION: frozenset(
        _ALWAYS_OPEN
        | _HOSPITAL
        | {
            Action.RECORD_ABSENCE_DAYS,
            Action.COMMISSION_PROVISION,
            Action.SCHEDULE_REVIEW,
            Action.RECORD_REVIEW_OUTCOME,
            Action.AGREE_REINTEGRATION_PLAN,
        }
    ),
    Stage.REINTEGRATING: frozenset(
        _ALWAYS_OPEN
        | _HOSPITAL
        | {
            Action.SCHEDULE_REVIEW,
            Action.RECORD_REVIEW_OUTCOME,
            Action.AGREE_REINTEGRATION_PLAN,
            Action.EXTEND_REINTEGRATION,
            Action.CONFIRM_FULL_TIME_RETURN,
        }
    ),
    # A supervisor may reopen a case closed in error, within the reopening window.
    Stage.CLOSED: frozenset({Action.REOPEN}),
}


#: The stage a case has reached once it has seen an action (the furthest one counts): what the
#: erasure tombstone records as the stage a closed case reached.
STAGE_AFTER_ACTION: dict[Action, Stage] = {
    Action.REQUEST_CONSENT: Stage.AWAITING_CONSENT,
    Action.RECORD_CONSENT: Stage.AWAITING_CONSENT,
    Action.REQUEST_EVIDENCE: Stage.GATHERING_EVIDENCE,
    Action.RECORD_EVIDENCE: Stage.GATHERING_EVIDENCE,
    Action.DECIDE: Stage.DECIDING,
    Action.COMMISSION_PROVISION: Stage.IN_PROVISION,
    Action.SCHEDULE_REVIEW: Stage.IN_PROVISION,
    Action.RECORD_REVIEW_OUTCOME: Stage.IN_PROVISION,
    Action.AGREE_REINTEGRATION_PLAN: Stage.REINTEGRATING,
    Action.EXTEND_REINTEGRATION: Stage.REINTEGRATING,
    Action.CONFIRM_FULL_TIME_RETURN: Stage.REINTEGRATING,
}
#: The actions that say nothing about how far a case got (closing ends it at whatever stage it
#: reached).
ACTIONS_NOT_ADVANCING_STAGE: frozenset[Action] = frozenset({
    Action.RECORD_ABSENCE_DAYS,
    Action.ASSIGN_OFFICER,
    Action.RECORD_HOSPITAL_ADMISSION,
    Action.RECORD_HOSPITAL_DISCHARGE,
    Action.CHANGE_SCHOOL,
    Action.ADD_NOTE,
    Action.CLOSE,
    Action.REOPEN,
})
_placed = STAGE_AFTER_ACTION.keys()
if _placed & ACTIONS_NOT_ADVANCING_STAGE or _placed | ACTIONS_NOT_ADVANCING_STAGE != set(Action):
    raise TypeError("each Action has a STAGE_AFTER_ACTION entry or is in ACTIONS_NOT_ADVANCING_STAGE, not both")


def allowed_actions(stage: Stage) -> list[str]:
    """The actions open in a stage, sorted, as users see them in errors and in the case view."""
    return sorted(a.value for a in ALLOWED_ACTIONS[stage])


def is_allowed(stage: Stage, action: Action) -> bool:
    return action in ALLOWED_ACTIONS[stage]
