"""Loads the rules a case runs under (school calendar, clocks, recoupment rates) from configuration."""

from temporalio import activity

from domain.case_rules import CaseRules, CaseRulesRequest
from domain.school_calendar import CalendarData, load_calendar_data
from infra.settings import Settings


class CaseRulesActivities:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    @activity.defn
    def load_case_rules(self, request: CaseRulesRequest) -> CaseRules:
        council = self._settings.school_calendar_file
        calendar = load_calendar_data(council, request.first_year, request.last_year)
        schools: dict[str, CalendarData] = {}
        for urn in sorted(set(request.school_urns)):
            own = self._settings.own_calendar_file(urn)
            if own is not None:
                schools[urn] = load_calendar_data(council, request.first_year, request.last_year, school_file=own)
        return CaseRules(calendar=calendar, clocks=self._settings.clocks, rates=self._settings.recoupment,
                         school_calendars=schools, schools_asked=sorted(set(request.school_urns)))
