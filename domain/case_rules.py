"""The rules a case runs under, loaded once by an activity so that the workflow stays deterministic:
a change to the calendar file or the settings reaches a case at its next continue-as-new."""

from pydantic import BaseModel, Field, field_validator

from domain.recoupment import RecoupmentRates
from domain.school_calendar import CalendarData, shared_calendar_data
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

    # Every case of a worker loads its rules: cases on the same term dates hold one copy of them.
    @field_validator("calendar")
    @classmethod
    def _one_copy_of_the_calendar(cls, calendar: CalendarData) -> CalendarData:
        return shared_calendar_data(calendar)

    @field_validator("school_calendars")
    @classmethod
    def _one_copy_of_each_school_calendar(cls, calendars: dict[str, CalendarData]) -> dict[str, CalendarData]:
        return {urn: shared_calendar_data(calendar) for urn, calendar in calendars.items()}
