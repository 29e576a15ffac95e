"""Loads the rules a case runs under (school calendar, clocks, recoupment rates) from configuration."""

import threading
from pathlib import Path

from temporalio import activity

from domain.case_rules import CaseRules, CaseRulesRequest
from domain.school_calendar import DEFAULT_TERMS_FILE, CalendarData, load_calendar_data
from infra.settings import Settings

# Every case loads its rules when it starts (and at each continue-as-new): the same term dates for
# nearly all of them. A calendar read is kept while its files stay as they were (same size and
# modification time), so a changed file is read again by the next case that asks.
_KEPT_CALENDARS = 64


def _stamp(path: Path | None) -> tuple[str, int, int] | None:
    if path is None:
        return None
    found = path.stat()
    return str(path), found.st_mtime_ns, found.st_size


class CaseRulesActivities:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._calendars: dict[tuple, CalendarData] = {}
        self._lock = threading.Lock()  # sync activities run on several threads

    def _calendar(self, first_year: int, last_year: int, school_file: Path | None = None) -> CalendarData:
        council = self._settings.school_calendar_file
        try:
            key = (_stamp(council or DEFAULT_TERMS_FILE), _stamp(school_file), first_year, last_year)
        except OSError:  # let the loader say what is wrong with the file
            return load_calendar_data(council, first_year, last_year, school_file=school_file)
        with self._lock:
            found = self._calendars.get(key)
        if found is None:
            found = load_calendar_data(council, first_year, last_year, school_file=school_file)
            with self._lock:
                if len(self._calendars) >= _KEPT_CALENDARS:
                    self._calendars.clear()
                self._calendars[key] = found
        return found

    @activity.defn
    def load_case_rules(self, request: CaseRulesRequest) -> CaseRules:
        calendar = self._calendar(request.first_year, request.last_year)
        schools: dict[str, CalendarData] = {}
        for urn in sorted(set(request.school_urns)):
            own = self._settings.own_calendar_file(urn)
            if own is not None:
                schools[urn] = self._calendar(request.first_year, request.last_year, school_file=own)
        return CaseRules(calendar=calendar, clocks=self._settings.clocks, rates=self._settings.recoupment,
                         school_calendars=schools, schools_asked=sorted(set(request.school_urns)))
