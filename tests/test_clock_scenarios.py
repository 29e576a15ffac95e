"""The clocks on the time-skipping server: a case follows its school's own term dates, including
after a change to a school that sets its own."""

from datetime import date

import pytest
from temporalio.client import WorkflowUpdateFailedError

from domain.case_commands import ChangeSchool, RecordAbsenceDays
from tests.case_harness import OFFICER, case_world, notification, travel_to
from tests.test_rules_clocks import ACADEMY


async def test_a_case_follows_the_term_dates_of_the_school_it_moves_to(tmp_path):
    folder = tmp_path / "schools"
    folder.mkdir()
    (folder / "120009.toml").write_text(ACADEMY, encoding="utf-8")
    async with case_world(tmp_path, school_calendars_dir=folder) as world:
        await travel_to(world.env, date(2030, 2, 19))
        case = await world.open_case(notification(date(2030, 2, 11)))
        # Tuesday 19 February is half-term at the council's schools...
        with pytest.raises(WorkflowUpdateFailedError):
            await case.do("record_absence_days", RecordAbsenceDays(actor=OFFICER, days=[date(2030, 2, 19)]))
        await case.do("change_school", ChangeSchool(actor=OFFICER, new_school_urn="120009",
                                                    effective_on=date(2030, 2, 18)))
        # ... but a school day at the academy, whose half-term is the week after.
        view = await case.do("record_absence_days", RecordAbsenceDays(actor=OFFICER, days=[date(2030, 2, 19)]))
        assert date(2030, 2, 19) in view.state.absence_days
