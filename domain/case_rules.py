"""The rules a case runs under, loaded once by an activity so that the workflow stays deterministic:
a change to the calendar file or the settings reaches a case at its next continue-as-new."""

from pydantic import BaseModel

from domain.recoupment import RecoupmentRates
from domain.school_calendar import CalendarData
from domain.statutory_clocks import ClockSettings


class CaseRulesRequest(BaseModel):
    first_year: int
    last_year: int


class CaseRules(BaseModel):
    calendar: CalendarData
    clocks: ClockSettings
    rates: RecoupmentRates
