"""The rules a case runs under, loaded once by an activity so that the workflow stays deterministic:
a change to the calendar file or the settings reaches a case at its next continue-as-new."""

from pydantic import BaseModel, Field

from domain.recoupment import RecoupmentRates
from domain.school_calendar import CalendarData
from domain.statutory_clocks import ClockSettings


class CaseRulesRequest(BaseModel):
    first_year: int
    last_year: int
    school_urns: list[str] = Field(default_factory=list, description="The schools whose own term dates to load")


class CaseRules(BaseModel):
    calendar: CalendarData = Field(description="The council's term dates")
    clocks: ClockSettings
    rates: RecoupmentRates
    school_calendars: dict[str, CalendarData] = Field(
        default_factory=dict, description="By URN, for the schools asked about that set their own dates")
    schools_asked: list[str] = Field(default_factory=list)
