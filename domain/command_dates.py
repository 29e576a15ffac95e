"""The dates a command may carry: inside the school calendar the case holds, and not too far ahead;
a date that names a school day on one; what has happened not in the future; what is planned not in
the past beyond a short grace (`ClockSettings.planned_date_grace_days`); a part-time timetable
part-time and inside one school year. Each refusal names the field at fault."""

import functools
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterator
from datetime import date, timedelta

from pydantic import BaseModel

from domain import case_commands as c
from domain.case_context import CaseContext
from domain.case_state import CaseState
from domain.command_rejection import CommandRejected, invalid
from domain.school_calendar import academic_year_of
from domain.stages import Stage

#: How far after today a command may date anything (a review, a plan's end, an expected return).
DATE_HORIZON = timedelta(days=366)


def command_dates(value: object, name: str = "") -> Iterator[tuple[str, date]]:
    """Every date a command carries, with its field's name (`provisions[0].start_date`)."""
    if isinstance(value, date):
        yield name, value
    elif isinstance(value, dict):
        for field, item in value.items():
            yield from command_dates(item, f"{name}.{field}" if name else field)
    elif isinstance(value, BaseModel):
        for field in type(value).model_fields:
            yield from command_dates(getattr(value, field), f"{name}.{field}" if name else field)
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            yield from command_dates(item, f"{name}[{i}]")


def _check_range(state: CaseState, value: object, ctx: CaseContext) -> None:
    first = ctx.calendar.data.first_day()
    last = min(ctx.today + DATE_HORIZON, ctx.calendar.data.last_day())
    for name, day in command_dates(value):
        if not first <= day <= last:
            raise invalid(state, f"{name} {day.isoformat()} is outside the dates this case can take "
                          f"({first.isoformat()} to {last.isoformat()})", name)


def check_dates(state: CaseState, cmd: c.Command, ctx: CaseContext) -> None:
    """A date outside the school calendar the case holds cannot be counted in school days: refuse it
    here, or a clock computed from it later (a task's due date, a charge) would fail the case; and a
    provision that ends before it starts, before anything is counted from it."""
    _check_range(state, cmd, ctx)
    if isinstance(cmd, c.CommissionProvision):
        for i, p in enumerate(cmd.provisions):
            if p.end_date is not None and p.end_date < p.start_date:
                raise invalid(state, f"provisions[{i}].end_date {p.end_date.isoformat()} is before its "
                              f"start_date {p.start_date.isoformat()}", f"provisions[{i}].end_date")


def check_date_rules(state: CaseState, cmd: c.Command, ctx: CaseContext) -> None:
    """The rules of a command's own dates (after the command's other checks): school days, the grace
    for planned dates, what may not be in the future, a part-time timetable's hours and year."""
    rule = _DATE_RULES.get(type(cmd))
    if rule is not None and ctx.strict:
        rule(state, cmd, ctx)


def require_school_day(state: CaseState, ctx: CaseContext, day: date, what: str, field: str | None = None) -> None:
    """Refuse a day that is not a school day, naming the school days either side of it."""
    try:
        ok = ctx.calendar.is_school_day(day)
    except ValueError:
        ok = False
    if not ok:
        raise invalid(state, f"{what} {day.isoformat()} is not a school day{_nearest(ctx, day)}", field)


@functools.cache
def _notifying() -> CaseState:
    """The case a notification would open, as far as its refusal needs one (its stage), built once:
    only read, never changed (building a CaseState took a millisecond or more on every notification)."""
    return CaseState.model_construct(stage=Stage.NOTIFIED)


def check_notification(notification: c.AbsenceNotification, ctx: CaseContext) -> None:
    """Everything a case checks of the notification that opens it, before anything starts: a refused
    notification leaves no trace. Raises CommandRejected naming the field."""
    state = _notifying()
    _check_range(state, notification.model_dump(include={"first_day_of_absence", "expected_return",
                                                         "absence_days"}), ctx)
    require_school_day(state, ctx, notification.first_day_of_absence, "first_day_of_absence",
                       "first_day_of_absence")
    if notification.expected_return is not None:
        if notification.expected_return <= notification.first_day_of_absence:
            raise invalid(state, "expected_return must be after first_day_of_absence", "expected_return")
        require_school_day(state, ctx, notification.expected_return, "expected_return", "expected_return")
    for i, day in enumerate(notification.absence_days):
        name = f"absence_days[{i}]"
        require_school_day(state, ctx, day, f"absence day ({name})", name)
        if day > ctx.today:
            raise invalid(state, f"absence day ({name}) {day.isoformat()} is in the future; give expected_return "
                          "instead", name)


def _nearest(ctx: CaseContext, day: date) -> str:
    days = ctx.calendar.school_days
    i = bisect_left(days, day)
    before = days[i - 1].isoformat() if i > 0 else None
    after = days[i].isoformat() if i < len(days) and days[i] != day else None
    if before and after:
        return f": the nearest school days are {before} and {after}"
    if before or after:
        return f": the nearest school day is {before or after}"
    return ""


def _planned(state: CaseState, ctx: CaseContext, day: date, field: str) -> None:
    """A planned date may lie a few school days back (recorded after the event), no further."""
    grace = ctx.clocks.planned_date_grace_days
    try:
        earliest = ctx.before(ctx.today, grace) if grace else ctx.today
    except ValueError:
        earliest = ctx.calendar.data.first_day()
    if day < earliest:
        raise invalid(state, f"{field} {day.isoformat()} is in the past: a planned date may be at most {grace} "
                      f"school days before today ({earliest.isoformat()} at the earliest)", field)


def _happened(state: CaseState, ctx: CaseContext, day: date, field: str) -> None:
    if day > ctx.today:
        raise invalid(state, f"{field} is in the future", field)


def _one_school_year(state: CaseState, ctx: CaseContext, start: date, end: date, field: str) -> None:
    """A part-time timetable never runs over the summer holiday into the next school year."""
    year = academic_year_of(start)
    if academic_year_of(end) != year:
        days = ctx.calendar.school_days
        i = bisect_right(days, date(year + 1, 8, 31)) - 1
        last = days[i].isoformat() if i >= 0 else f"31 August {year + 1}"
        raise invalid(state, f"{field} {end.isoformat()} is after the summer holiday: a part-time timetable ends "
                      f"within the school year it starts in (by {last}); agree a new plan for the new year", field)


def _plan_dates(state: CaseState, cmd: c.AgreeReintegrationPlan, ctx: CaseContext) -> None:
    require_school_day(state, ctx, cmd.start_date, "start_date", "start_date")
    require_school_day(state, ctx, cmd.end_date, "end_date", "end_date")
    _planned(state, ctx, cmd.start_date, "start_date")
    _one_school_year(state, ctx, cmd.start_date, cmd.end_date, "end_date")
    full_time = ctx.clocks.full_time_hours_per_week
    if cmd.hours_per_week >= full_time:
        raise invalid(state, f"hours_per_week {cmd.hours_per_week:g} is not part-time: a part-time timetable is "
                      f"fewer hours than full time ({full_time:g} a week)", "hours_per_week")
    plan = state.reintegration
    if plan is not None and cmd.end_date > plan.end_date:
        raise invalid(state, f"the part-time timetable ends {plan.end_date.isoformat()}: to move its end later, "
                      "extend it (extend_reintegration) with a reason", "end_date")


def _extension_dates(state: CaseState, cmd: c.ExtendReintegration, ctx: CaseContext) -> None:
    require_school_day(state, ctx, cmd.new_end_date, "new_end_date", "new_end_date")
    if cmd.new_end_date <= ctx.today:
        raise invalid(state, f"new_end_date {cmd.new_end_date.isoformat()} must be in the future", "new_end_date")
    if state.reintegration is not None:
        _one_school_year(state, ctx, state.reintegration.start_date, cmd.new_end_date, "new_end_date")


def _provision_dates(state: CaseState, cmd: c.CommissionProvision, ctx: CaseContext) -> None:
    for i, p in enumerate(cmd.provisions):
        name = f"provisions[{i}].start_date"
        require_school_day(state, ctx, p.start_date, name, name)
        if p.start_date < state.first_day_of_absence:
            raise invalid(state, f"{name} {p.start_date.isoformat()} is before the absence began "
                          f"(first_day_of_absence {state.first_day_of_absence.isoformat()})", name)
        _planned(state, ctx, p.start_date, name)


def _return_dates(state: CaseState, cmd: c.ConfirmFullTimeReturn, ctx: CaseContext) -> None:
    require_school_day(state, ctx, cmd.returned_on, "returned_on", "returned_on")
    _happened(state, ctx, cmd.returned_on, "returned_on")


def _absence_dates(state: CaseState, cmd: c.RecordAbsenceDays, ctx: CaseContext) -> None:
    if cmd.expected_return is not None:
        require_school_day(state, ctx, cmd.expected_return, "expected_return", "expected_return")


_DATE_RULES: dict[type, Callable[[CaseState, c.Command, CaseContext], None]] = {
    c.AgreeReintegrationPlan: _plan_dates,
    c.ExtendReintegration: _extension_dates,
    c.CommissionProvision: _provision_dates,
    c.ConfirmFullTimeReturn: _return_dates,
    c.RecordAbsenceDays: _absence_dates,
}

__all__ = ["DATE_HORIZON", "CommandRejected", "check_date_rules", "check_dates", "check_notification",
           "command_dates", "require_school_day"]
