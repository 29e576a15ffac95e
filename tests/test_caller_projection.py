"""Commands sent as the API sends them (`caller_writes_read_model`): the API writes the answer to the
read model itself, so the case schedules no projection per command; it writes the read model once
more ten minutes after a burst of such commands (in case the API died before its commit), and at
once when the API signals that its write failed. Time-skipping server, real activities."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, timedelta

from temporalio.api.enums.v1 import EventType

from domain.case_commands import AddNote, ReadModelWriteFailed, RequestConsent
from readmodel.tables import CaseRow
from tests.case_harness import OFFICER, CaseDriver, case_world, notification, travel_to
from tests.support import eventually


def stored_version(case: CaseDriver) -> int | None:
    with case.read_model() as session:
        row = session.get(CaseRow, case.handle.id)
        return None if row is None else row.version


def count(events: list, event_type: int, activity: str | None = None) -> int:
    found = [e for e in events if e.event_type == event_type]
    if activity is not None:
        found = [e for e in found if e.activity_task_scheduled_event_attributes.activity_type.name == activity]
    return len(found)


@asynccontextmanager
async def case_opened_by_the_api(tmp_path) -> AsyncIterator[CaseDriver]:
    """A case opened on Monday 7 January 2030 and projected, whose commands go as the API sends them."""
    async with case_world(tmp_path) as world:
        world.as_the_api = True
        await travel_to(world.env, date(2030, 1, 7))
        case = await world.open_case(notification(date(2030, 1, 7)))
        await case.settle()  # the first projection is written
        yield case


async def test_a_burst_of_commands_is_projected_once_ten_minutes_later(tmp_path):
    async with case_opened_by_the_api(tmp_path) as case:
        opened_at = stored_version(case)
        before = (await case.handle.fetch_history()).events

        view = await case.do("request_consent", RequestConsent(actor=OFFICER))
        for n in range(3):
            view = await case.do("add_note", AddNote(actor=OFFICER, text=f"Called the parent ({n})"))
        after = (await case.handle.fetch_history()).events[len(before):]

        # Nobody stands in for the API here, so the read model still shows the case as opened: the
        # case itself wrote nothing for these four commands, and the notes did not restart its timer.
        assert stored_version(case) == opened_at < view.state.version
        assert count(after, EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED, "project_case_by_reference") == 0
        assert count(after, EventType.EVENT_TYPE_TIMER_STARTED) <= 1  # once, for the check itself

        await case.env.sleep(timedelta(minutes=9))
        await case.settle()
        assert stored_version(case) == opened_at  # not yet
        await case.env.sleep(timedelta(minutes=2))
        await case.settle()
        assert stored_version(case) == view.state.version  # one write covered all four
        after = (await case.handle.fetch_history()).events[len(before):]
        assert count(after, EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED, "project_case_by_reference") == 1


async def test_a_failed_write_signalled_by_the_api_is_made_good_at_once(tmp_path):
    async with case_opened_by_the_api(tmp_path) as case:
        view = await case.do("request_consent", RequestConsent(actor=OFFICER))
        assert stored_version(case) < view.state.version

        await case.handle.signal("read_model_write_failed", ReadModelWriteFailed(version=view.state.version))
        await eventually(lambda: stored_version(case) == view.state.version, timeout=5, what="the case rewritten")
        assert stored_version(case) == view.state.version
