"""One place per action: declaring an action's rule (`@rule(Action.X, check)` on the function that
makes its change) registers its command type (the type of that function's `cmd`), its change and its
check. Filled as `domain.case_transitions` declares its rules, which then requires a rule for every
`Action`: read the registry through that module."""

from collections.abc import Callable
from typing import get_type_hints

from domain import case_commands as c
from domain.case_context import CaseContext
from domain.case_effects import Effects
from domain.case_state import CaseState
from domain.stages import Action

Check = Callable[[CaseState, c.Command, CaseContext], None]
Apply = Callable[[CaseState, c.Command, CaseContext], tuple[str | None, Effects]]

COMMAND_TYPES: dict[Action, type[c.Command]] = {}
CHECKS: dict[Action, Check] = {}
APPLIES: dict[Action, Apply] = {}


def rule(action: Action, check: Check | None = None):
    """Declare the change an action makes (the decorated function, whose `cmd` annotation names the
    action's command type) and, optionally, the check that refuses a command that does not fit."""

    def register(apply: Apply) -> Apply:
        if action in APPLIES:
            raise TypeError(f"two rules for '{action.value}'")
        command_type = _command_type(apply)
        if check is not None and not issubclass(command_type, _command_type(check)):
            raise TypeError(f"'{action.value}': {check.__name__} checks a different command than "
                            f"{apply.__name__} applies")
        COMMAND_TYPES[action] = command_type
        APPLIES[action] = apply
        if check is not None:
            CHECKS[action] = check
        return apply

    return register


def require_every_action() -> None:
    """Fail (at import) if an action has no rule."""
    missing = [a.value for a in Action if a not in APPLIES]
    if missing:
        raise TypeError(f"no rule for: {', '.join(missing)}")


def _command_type(function: Callable) -> type[c.Command]:
    command_type = get_type_hints(function).get("cmd")
    if not (isinstance(command_type, type) and issubclass(command_type, c.Command)):
        raise TypeError(f"{function.__name__}: annotate `cmd` with the action's command type")
    return command_type
