"""A school that sets its own term dates is held to them before any case starts: the notification's
school-day checks and the days-to-provision report use the school's calendar, not the council's."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path

import pytest

from tests.api_without_temporal.stub_api import URN_A, URN_B, Api, assert_problem, seeded_api
from tests.support import free_port, make_settings

# School A's half-term is the week after the council's (26-30 October 2026).
OWN_DATES = """
council = "Test academy trust"

[[term]]
name = "2026-27 autumn"
start = 2026-09-03
end = 2026-12-18
half_term = [2026-11-02, 2026-11-06]

[[term]]
name = "2026-27 spring"
start = 2027-01-04
end = 2027-03-25

[[term]]
name = "2026-27 summer"
start = 2027-04-12
end = 2027-07-21
"""


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    folder = tmp_path / "schools"
    folder.mkdir()
    (folder / f"{URN_A}.toml").write_text(OWN_DATES, encoding="utf-8")
    settings = make_settings(tmp_path, temporal_address=f"127.0.0.1:{free_port()}", school_calendars_dir=folder)
    async with seeded_api(settings) as api:
        yield api


def _notification(urn: str, first_day: str) -> dict:
    return {
        "school_urn": urn,
        "child": {"given_name": "Ada", "family_name": "Byron", "date_of_birth": "2013-05-04"},
        "parent": {"name": "Anne Byron"},
        "first_day_of_absence": first_day,
        "reason": "physical_illness",
    }


async def test_a_notification_is_checked_against_the_schools_own_term_dates(api: Api) -> None:
    # Tuesday 27 October 2026 is half-term at the council's schools, a school day at school A.
    council = assert_problem(await api.client.post(
        "/cases", headers=api.h("school_b"), json=_notification(URN_B, "2026-10-27")), 422)
    assert "first_day_of_absence 2026-10-27 is not a school day" in council["detail"]
    # School A's notification passes the date checks and reaches Temporal (unreachable here: 503).
    own = await api.client.post("/cases", headers=api.h("school_a"), json=_notification(URN_A, "2026-10-27"))
    assert own.status_code == 503, own.text
    # ... and school A's own half-term is refused, naming its school days either side.
    refused = assert_problem(await api.client.post(
        "/cases", headers=api.h("school_a"), json=_notification(URN_A, "2026-11-03")), 422)
    assert "2026-11-03 is not a school day" in refused["detail"]
    assert "2026-10-30" in refused["detail"] and "2026-11-09" in refused["detail"]


def test_each_school_has_the_calendar_it_follows(api: Api) -> None:
    svc = api.app.state.services
    own, council = svc.calendar(URN_A), svc.calendar(URN_B)
    assert own.is_school_day(date(2026, 10, 27)) and not own.is_school_day(date(2026, 11, 3))
    assert not council.is_school_day(date(2026, 10, 27)) and council.is_school_day(date(2026, 11, 3))
    assert svc.calendar() is council  # loaded once, shared by every school on the council's dates


async def test_a_school_given_its_own_dates_while_the_api_runs_is_held_to_them_at_once(api: Api) -> None:
    # The council adds school B's own term dates without restarting anything (the worker's rules
    # read a new file at the next case too): B's next notification is checked against them.
    before = assert_problem(await api.client.post(
        "/cases", headers=api.h("school_b"), json=_notification(URN_B, "2026-10-27")), 422)
    assert "2026-10-27 is not a school day" in before["detail"]
    (api.settings.school_calendars_dir / f"{URN_B}.toml").write_text(OWN_DATES, encoding="utf-8")
    after = await api.client.post("/cases", headers=api.h("school_b"), json=_notification(URN_B, "2026-10-27"))
    assert after.status_code == 503, after.text  # past the date checks, to Temporal (unreachable here)
