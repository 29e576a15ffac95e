"""The clocks on the time-skipping server: a case follows its school's own term dates, including
after a change to a school that sets its own."""

from datetime import date, timedelta

import pytest
from temporalio.client import WorkflowUpdateFailedError

from domain.case_commands import ChangeSchool, RecordAbsenceDays, RecordHospitalAdmission
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


async def test_a_late_notification_is_overdue_from_the_first_view(tmp_path):
    from domain import search_attributes as sa

    async with case_world(tmp_path) as world:
        await travel_to(world.env, date(2030, 3, 4))
        missed = [date(2030, 1, 7) + timedelta(days=n) for n in range(40) if (date(2030, 1, 7) + timedelta(
            days=n)).weekday() < 5][:20]
        case = await world.open_case(notification(date(2030, 1, 7), absence_days=missed))
        view = await case.view()
        assert view.state.threshold_date == date(2030, 1, 25)
        assert view.overdue and ("provision-due", date(2030, 1, 25)) in [(t.id, t.due_on) for t in view.pending_tasks]
        assert (await case.handle.describe()).typed_search_attributes.get(sa.OVERDUE) is True


async def test_a_hospital_referral_is_raised_the_day_a_long_stay_is_recorded(tmp_path):
    async with case_world(tmp_path) as world:
        await travel_to(world.env, date(2030, 1, 7))
        case = await world.open_case(notification(date(2030, 1, 7)))
        await case.do("record_hospital_admission", RecordHospitalAdmission(
            actor=OFFICER, admitted_on=date(2030, 1, 7), hospital="General", expected_discharge=date(2030, 2, 15)))
        await case.go_to(date(2030, 1, 8))
        view = await case.view()
        assert [a.kind for a in view.state.alerts] == ["hospital_referral_due"]
        assert "expected in hospital until 2030-02-15" in view.state.alerts[0].detail
