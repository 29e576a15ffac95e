"""The case rules on their own, without Temporal: what a command does to a case and its timeline."""

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from domain import case_transitions as transitions
from domain.case_commands import ChangeSchool, CloseCase, CloseOutcome, RecordAbsenceDays
from domain.case_context import CaseContext
from domain.case_state import CaseState
from domain.people import Actor, Role
from domain.recoupment import RecoupmentRates, SchoolSpell
from domain.school_calendar import SchoolCalendar, load_calendar_data
from domain.stages import Action, Stage
from domain.statutory_clocks import ClockSettings
from tests.case_harness import notification

TERMS = Path(__file__).parent / "data" / "test_terms.toml"
OFFICER = Actor(role=Role.CASEWORKER, name="officer-jb")


def context(day: date) -> CaseContext:
    calendar = SchoolCalendar(load_calendar_data(TERMS, 2028, 2031))
    return CaseContext(calendar, ClockSettings(), RecoupmentRates(), datetime.combine(day, datetime.min.time(), UTC))


def new_case(day: date) -> CaseState:
    opened = notification(day, absence_days=[day])
    return CaseState(case_ref=opened.case_ref, opened_at=datetime.combine(day, datetime.min.time(), UTC),
                     school_urn=opened.school_urn, child=opened.child, parent=opened.parent,
                     reason=opened.reason, first_day_of_absence=day, absence_days=[day], last_progress_on=day)


def test_a_notification_sent_again_with_nothing_new_leaves_no_trace():
    state = new_case(date(2030, 1, 7))
    later = context(date(2030, 1, 14))
    transitions.apply(state, Action.RECORD_ABSENCE_DAYS,
                      RecordAbsenceDays(actor=OFFICER, days=[date(2030, 1, 7)]), later)
    assert state.timeline == []
    assert state.last_progress_on == date(2030, 1, 7)  # not progress either

    transitions.apply(state, Action.RECORD_ABSENCE_DAYS,
                      RecordAbsenceDays(actor=OFFICER, days=[date(2030, 1, 8)]), later)
    # No return date known: the absence is projected on, so the 15th school day is Friday 25 January.
    assert [e.summary for e in state.timeline] == [
        "1 absence day(s) recorded; 2 recorded in all; 15-day point 2030-01-25"]
    assert state.last_progress_on == date(2030, 1, 14)


def test_a_school_change_ends_the_old_school_spell_the_day_before():
    state = new_case(date(2030, 1, 7))
    state.stage = Stage.IN_PROVISION
    state.school_spells = [SchoolSpell(school_urn="120001", from_date=date(2030, 1, 21), to_date=None)]
    transitions.apply(state, Action.CHANGE_SCHOOL,
                      ChangeSchool(actor=OFFICER, new_school_urn="120002", effective_on=date(2030, 2, 25)),
                      context(date(2030, 2, 25)))
    assert [(s.school_urn, s.from_date, s.to_date) for s in state.school_spells] == [
        ("120001", date(2030, 1, 21), date(2030, 2, 24)),
        ("120002", date(2030, 2, 25), None),
    ]
    assert state.school_urn == "120002"


def test_a_closed_case_refuses_every_command_naming_its_stage():
    state = new_case(date(2030, 1, 7))
    transitions.apply(state, Action.CLOSE, CloseCase(actor=OFFICER, outcome=CloseOutcome.WITHDRAWN),
                      context(date(2030, 1, 8)))
    with pytest.raises(transitions.CommandRejected) as rejected:
        transitions.check(state, Action.ADD_NOTE, None, None)
    assert rejected.value.kind == "ActionNotAllowed"
    assert "closed" in str(rejected.value) and rejected.value.allowed_actions == []
