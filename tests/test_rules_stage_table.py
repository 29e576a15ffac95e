"""The stage x action table (`ALLOWED_ACTIONS`), checked against a copy written out here by hand from
the domain brief (/work/shared/domain.md, "The case, step by step"), cell by cell.

A change to the table must change this copy too: that is the point. Cells where the hand-written
reading of the brief and the code disagree are listed in `QUESTIONED`, each with why; they are
reported, not decided here. When the code is changed to agree, the test fails until the cell is
removed from `QUESTIONED`.
"""

from datetime import date

import pytest

from domain.case_actions import open_actions
from domain.case_transitions import COMMAND_TYPES, CommandRejected, check
from domain.stages import ALLOWED_ACTIONS, Action, Stage
from tests.rule_fixtures import CASEWORKER, case_in, ctx, sample_command

A, S = Action, Stage

_OPEN = [S.NOTIFIED, S.AWAITING_CONSENT, S.GATHERING_EVIDENCE, S.DECIDING, S.COMMISSIONING, S.IN_PROVISION,
         S.REINTEGRATING]
_BEFORE_DECISION = [S.NOTIFIED, S.AWAITING_CONSENT, S.GATHERING_EVIDENCE, S.DECIDING]
_RUNNING = [S.IN_PROVISION, S.REINTEGRATING]

#: For each action, the stages in which the brief lets it happen.
EXPECTED_STAGES: dict[Action, list[Stage]] = {
    # Days accumulate until provision is running; a reintegrating child's part-time absence is not
    # illness (register code C2), so no more illness days are recorded then.
    A.RECORD_ABSENCE_DAYS: [*_BEFORE_DECISION, S.COMMISSIONING, S.IN_PROVISION],
    # Consent is asked (and asked again) before anyone has answered.
    A.REQUEST_CONSENT: [S.NOTIFIED, S.AWAITING_CONSENT],
    # The parent may answer, or withdraw, at any time until the decision is made.
    A.RECORD_CONSENT: _BEFORE_DECISION,
    # Professionals are contacted only once consent names them; more evidence may be asked while deciding.
    A.REQUEST_EVIDENCE: [S.GATHERING_EVIDENCE, S.DECIDING],
    # Other evidence (GP letters, appointment cards) is taken whenever it comes, until the decision.
    A.RECORD_EVIDENCE: _BEFORE_DECISION,
    # The officer may always decide on the evidence held: silence or refusal never stalls a case.
    A.DECIDE: _BEFORE_DECISION,
    # Commissioning after the decision; provision may change while it runs (and while reintegrating,
    # when a review says "change provision").
    A.COMMISSION_PROVISION: [S.COMMISSIONING, *_RUNNING],
    A.SCHEDULE_REVIEW: _RUNNING,
    A.RECORD_REVIEW_OUTCOME: _RUNNING,
    A.AGREE_REINTEGRATION_PLAN: _RUNNING,
    A.EXTEND_REINTEGRATION: [S.REINTEGRATING],
    A.CONFIRM_FULL_TIME_RETURN: [S.REINTEGRATING],
    # A child may be admitted to or discharged from hospital at any point of an open case.
    A.RECORD_HOSPITAL_ADMISSION: _OPEN,
    A.RECORD_HOSPITAL_DISCHARGE: _OPEN,
    A.ASSIGN_OFFICER: _OPEN,
    A.CHANGE_SCHOOL: _OPEN,
    A.ADD_NOTE: _OPEN,
    A.CLOSE: _OPEN,
    # A closure made in error (an automatic one is easy to trigger) is undone by a supervisor.
    A.REOPEN: [S.CLOSED],
}

#: Cells where the code differs from the reading above: (stage, action) -> (allowed in code, why questioned).
QUESTIONED: dict[tuple[Stage, Action], tuple[bool, str]] = {
    (S.NOTIFIED, A.RECORD_EVIDENCE): (
        False,
        "evidence the school or parent already holds (a GP letter) cannot be recorded until consent has "
        "been requested, though it is allowed once consent is awaited; the brief says to use such evidence "
        "so that provision is not delayed",
    ),
    (S.REINTEGRATING, A.COMMISSION_PROVISION): (
        False,
        "a TAS review while reintegrating may record 'change_provision', but the provision cannot then be "
        "changed (commission_provision is refused while reintegrating)",
    ),
}


def _table_from_expected() -> dict[Stage, frozenset[Action]]:
    table: dict[Stage, set[Action]] = {stage: set() for stage in Stage}
    for action, stages in EXPECTED_STAGES.items():
        for stage in stages:
            table[stage].add(action)
    for (stage, action), (allowed_in_code, _) in QUESTIONED.items():
        (table[stage].add if allowed_in_code else table[stage].discard)(action)
    return {stage: frozenset(actions) for stage, actions in table.items()}


def test_the_copy_names_every_action_and_every_stage():
    assert set(EXPECTED_STAGES) == set(Action)
    assert set(ALLOWED_ACTIONS) == set(Stage)
    assert set(COMMAND_TYPES) == set(Action)


def test_the_table_matches_the_copy_cell_by_cell():
    expected = _table_from_expected()
    wrong = sorted(
        (stage.value, action.value, action in ALLOWED_ACTIONS[stage])
        for stage in Stage
        for action in Action
        if (action in ALLOWED_ACTIONS[stage]) != (action in expected[stage])
    )
    assert wrong == [], "cells (stage, action, allowed in code) that differ from the copy"


@pytest.mark.parametrize(("stage", "action"), sorted(QUESTIONED), ids=lambda v: v.value)
def test_questioned_cells_still_differ_from_the_brief(stage, action):
    """Reported disagreements: this fails once the code agrees with the brief (then drop the entry)."""
    in_brief = stage in EXPECTED_STAGES[action]
    assert (action in ALLOWED_ACTIONS[stage]) != in_brief, QUESTIONED[(stage, action)][1]


def test_a_closed_case_allows_only_a_supervisors_reopening():
    assert ALLOWED_ACTIONS[S.CLOSED] == frozenset({A.REOPEN})


def _cells():
    expected = _table_from_expected()
    for stage in Stage:
        for action in Action:
            yield pytest.param(stage, action, action in expected[stage], id=f"{stage.value}-{action.value}")


@pytest.mark.parametrize(("stage", "action", "allowed"), list(_cells()))
def test_check_answers_each_cell(stage, action, allowed):
    """`check` (what the workflow's validators and the API's 409s use) follows the table for every cell:
    an action outside its stages is refused as ActionNotAllowed, naming the stage and what is open."""
    state = case_in(stage)
    if allowed:
        check(state, action, sample_command(action), None)  # no context yet: stage and command type only
        return
    with pytest.raises(CommandRejected) as rejected:
        check(state, action, sample_command(action), None)
    assert rejected.value.kind == "ActionNotAllowed"
    assert rejected.value.stage is stage
    # What the refusal lists is what the case offers now: the stage's actions that can succeed.
    assert rejected.value.allowed_actions == open_actions(state)
    assert set(rejected.value.allowed_actions) <= {a.value for a in ALLOWED_ACTIONS[stage]}
    message = str(rejected.value)
    assert f"'{action.value}' is not allowed while the case is {stage.value}" in message
    if stage is S.CLOSED:
        assert message.endswith("allowed now: none (the case is closed)")
    else:
        assert message.endswith("allowed now: " + ", ".join(rejected.value.allowed_actions))


def test_an_allowed_action_given_the_wrong_command_is_an_invalid_command():
    from domain.case_commands import AddNote

    state = case_in(S.NOTIFIED)
    with pytest.raises(CommandRejected) as rejected:
        check(state, A.DECIDE, AddNote(actor=CASEWORKER, text="hello"), ctx(date(2030, 1, 8)))
    assert rejected.value.kind == "InvalidCommand"
    assert str(rejected.value) == "'decide' takes a Decide"
    assert rejected.value.allowed_actions == open_actions(state, ctx(date(2030, 1, 8)))
