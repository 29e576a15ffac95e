"""The dates a command may carry: inside the school calendar the case holds, and not too far ahead."""

from collections.abc import Iterator
from datetime import date, timedelta

from pydantic import BaseModel

from domain.case_commands import Command
from domain.case_context import CaseContext
from domain.case_state import CaseState
from domain.command_rejection import invalid

#: How far after today a command may date anything (a review, a plan's end, an expected return).
DATE_HORIZON = timedelta(days=366)


def command_dates(value: object, name: str = "") -> Iterator[tuple[str, date]]:
    """Every date a command carries, with its field's name (`provisions[0].start_date`)."""
    if isinstance(value, date):
        yield name, value
    elif isinstance(value, BaseModel):
        for field in type(value).model_fields:
            yield from command_dates(getattr(value, field), f"{name}.{field}" if name else field)
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            yield from command_dates(item, f"{name}[{i}]")


def check_dates(state: CaseState, cmd: Command, ctx: CaseContext) -> None:
    """A date outside the school calendar the case holds cannot be counted in school days: refuse it
    here, or a clock computed from it later (a task's due date, a charge) would fail the case."""
    first = ctx.calendar.data.first_day()
    last = min(ctx.today + DATE_HORIZON, ctx.calendar.data.last_day())
    for name, day in command_dates(cmd):
        if not first <= day <= last:
            raise invalid(state, f"{name} {day.isoformat()} is outside the dates this case can take "
                          f"({first.isoformat()} to {last.isoformat()})")


def require_school_day(state: CaseState, ctx: CaseContext, day: date, what: str) -> None:
    try:
        ok = ctx.calendar.is_school_day(day)
    except ValueError:
        ok = False
    if not ok:
        raise invalid(state, f"{what} {day.isoformat()} is not a school day")
