"""Every `Action` is declared in one place: a command type, a rule (the change it makes) and where
it leaves the stage a closed case is said to have reached."""

import pytest

from domain import case_transitions as transitions
from domain.case_commands import Command
from domain.command_registry import APPLIES, CHECKS
from domain.stages import ACTIONS_NOT_ADVANCING_STAGE, ALLOWED_ACTIONS, STAGE_AFTER_ACTION, Action, Stage


@pytest.mark.parametrize("action", list(Action), ids=lambda a: a.value)
def test_every_action_has_a_command_type_and_a_rule(action: Action) -> None:
    assert issubclass(transitions.COMMAND_TYPES[action], Command)
    assert callable(APPLIES[action])
    if action in CHECKS:
        assert callable(CHECKS[action])


@pytest.mark.parametrize("action", list(Action), ids=lambda a: a.value)
def test_every_action_has_a_stage_mapping_or_an_exemption(action: Action) -> None:
    assert (action in STAGE_AFTER_ACTION) != (action in ACTIONS_NOT_ADVANCING_STAGE)
    if action in STAGE_AFTER_ACTION:
        assert STAGE_AFTER_ACTION[action] is not Stage.CLOSED


@pytest.mark.parametrize("action", list(Action), ids=lambda a: a.value)
def test_every_action_is_allowed_somewhere(action: Action) -> None:
    assert any(action in allowed for allowed in ALLOWED_ACTIONS.values())


def test_a_command_type_belongs_to_one_action() -> None:
    types = list(transitions.COMMAND_TYPES.values())
    assert len(types) == len(set(types))


def test_timeline_actions_look_up_by_their_string_value() -> None:
    """The timeline records actions as strings; the stage mapping answers for them."""
    assert STAGE_AFTER_ACTION["decide"] is Stage.DECIDING
    assert "notified" not in STAGE_AFTER_ACTION
