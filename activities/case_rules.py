"""Loads the rules a case runs under (school calendar, clocks, recoupment rates) from configuration."""

from temporalio import activity

from domain.case_rules import CaseRules, CaseRulesRequest
from domain.school_calendar import load_calendar_data
from infra.settings import Settings


class CaseRulesActivities:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    @activity.defn
    def load_case_rules(self, request: CaseRulesRequest) -> CaseRules:
        calendar = load_calendar_data(self._settings.school_calendar_file, request.first_year, request.last_year)
        return CaseRules(calendar=calendar, clocks=self._settings.clocks, rates=self._settings.recoupment)
