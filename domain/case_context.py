"""What a rule needs besides the case itself: the calendar, the clocks, the rates and the time now."""

from bisect import bisect_left
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from domain.case_rules import CaseRules
from domain.recoupment import RecoupmentRates
from domain.school_calendar import SchoolCalendar
from domain.statutory_clocks import ClockSettings


@dataclass(frozen=True)
class CaseContext:
    calendar: SchoolCalendar
    clocks: ClockSettings
    rates: RecoupmentRates
    now: datetime
    #: False only while a case applies again a command it accepted before the school-day, grace and
    #: part-time rules (`domain.command_dates`); the workflow sets it (patch `school-day-and-plan-rules`).
    strict: bool = True
    #: True only for a workflow run begun before the patch `case-rules-2026-12` (see
    #: `CaseWorkflow`): the clocks as they were then, so that its history replays. Everything else,
    #: including every new case, runs the current rules.
    legacy_rules: bool = False
    #: The calendars of the schools a case has been at that set their own dates, by URN; `calendar`
    #: is the current school's. `council_calendar` is the council's (None: `calendar` is it).
    calendars_by_school: Mapping[str, SchoolCalendar] = field(default_factory=dict)
    council_calendar: SchoolCalendar | None = None

    @classmethod
    def from_rules(cls, rules: CaseRules, now: datetime, *, legacy_rules: bool = False) -> "CaseContext":
        return cls(SchoolCalendar(rules.calendar), rules.clocks, rules.rates, now, legacy_rules=legacy_rules)

    def calendar_of(self, school_urn: str) -> SchoolCalendar:
        """The calendar a school follows: its own, else the council's."""
        return self.calendars_by_school.get(school_urn) or self.council_calendar or self.calendar

    @property
    def today(self) -> date:
        return self.now.date()

    def after(self, start: date, school_days: int) -> date:
        """The school day `school_days` school days after `start`."""
        return self.calendar.add_school_days(start, school_days)

    def before(self, end: date, school_days: int) -> date:
        """The school day `school_days` school days before `end`, however long the holidays between
        (ValueError when the calendar does not cover the day before `end`, or has too few days)."""
        self.calendar.is_school_day(end - timedelta(days=1))  # raises for a day the calendar lacks
        days = self.calendar.school_days
        i = bisect_left(days, end) - school_days
        if school_days < 1 or i < 0:
            raise ValueError(f"no school day {school_days} school days before {end}")
        return days[i]
