"""How a rule refuses a command that does not fit the case."""

from domain.case_actions import open_actions
from domain.case_context import CaseContext
from domain.case_state import CaseState
from domain.stages import Stage, allowed_actions


class CommandRejected(Exception):
    """A command that does not fit the case. `kind` is `ActionNotAllowed` (wrong stage) or
    `InvalidCommand` (bad for this case); `field` names the command's field at fault, if one is.
    Messages never carry personal data."""

    def __init__(
        self, message: str, *, kind: str, stage: Stage, field: str | None = None, allowed: list[str] | None = None
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.stage = stage
        self.field = field
        self.allowed_actions = allowed_actions(stage) if allowed is None else allowed


def invalid(
    state: CaseState, message: str, field: str | None = None, *, ctx: CaseContext | None = None
) -> CommandRejected:
    """A command that is bad for this case (not merely at the wrong stage)."""
    return CommandRejected(
        message, kind="InvalidCommand", stage=state.stage, field=field, allowed=open_actions(state, ctx)
    )
