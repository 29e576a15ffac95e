"""Closures on the time-skipping server: a case closed in error is reopened by a supervisor within
the window and carries on; a case nobody reopens ends when the window does."""

import asyncio
from datetime import date

import pytest
from temporalio.client import WorkflowUpdateFailedError

from domain.case_commands import (
    CloseCase,
    CloseOutcome,
    ConsentDecision,
    Decide,
    DecisionOutcome,
    RecordConsent,
    ReopenCase,
    RequestConsent,
)
from domain.people import Actor, Role
from domain.stages import Stage
from tests.case_harness import OFFICER, case_world, notification, travel_to

SUPERVISOR = Actor(role=Role.SUPERVISOR, name="supervisor-ab")


async def _eventually(probe, within: float = 10.0):
    """The probe's first truthy answer, polling until `within` seconds have passed."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        value = probe()
        if value or loop.time() > deadline:
            return value
        await asyncio.sleep(0.05)


async def test_a_case_closed_in_error_is_reopened_and_carries_on(tmp_path):
    async with case_world(tmp_path) as world:
        await travel_to(world.env, date(2030, 1, 7))
        case = await world.open_case(notification(date(2030, 1, 7)))
        await case.do("request_consent", RequestConsent(actor=OFFICER))
        await case.go_to(date(2030, 1, 9))
        await case.do("record_consent", RecordConsent(actor=OFFICER, decision=ConsentDecision.REFUSED))
        view = await case.do("decide", Decide(actor=OFFICER, outcome=DecisionOutcome.NOT_ELIGIBLE,
                                              reason="Expected back within the week"))
        assert view.state.stage is Stage.CLOSED and view.allowed_actions == ["reopen"]
        assert view.state.timeline[-1].action == "closed"

        await case.go_to(date(2030, 1, 14))
        with pytest.raises(WorkflowUpdateFailedError):  # a caseworker may not
            await case.do("reopen", ReopenCase(actor=OFFICER, reason="decided on the wrong case"))
        view = await case.do("reopen", ReopenCase(actor=SUPERVISOR, reason="decided on the wrong case"))
        assert view.state.stage is Stage.DECIDING
        assert "decide" in view.allowed_actions and view.state.reopenings[0].reason == "decided on the wrong case"
        assert await _eventually(lambda: world.mail.with_subject("case reopened")), "parent and school not told"

        # It carries on as a case: its clocks run again and it can be decided and closed.
        view = await case.do("decide", Decide(actor=OFFICER, outcome=DecisionOutcome.LA_PROVISION,
                                              reason="Consultant letter now held"))
        assert view.state.stage is Stage.COMMISSIONING
        await case.do("close", CloseCase(actor=OFFICER, outcome=CloseOutcome.LEFT_AREA))
        result = await case.handle.result()  # the window passes (time skips) and the case ends
        assert result.outcome is CloseOutcome.LEFT_AREA and result.closed_on == date(2030, 1, 14)


async def test_a_closed_case_nobody_reopens_ends_with_its_window(tmp_path):
    async with case_world(tmp_path) as world:
        await travel_to(world.env, date(2030, 1, 7))
        case = await world.open_case(notification(date(2030, 1, 7)))
        await case.do("close", CloseCase(actor=OFFICER, outcome=CloseOutcome.WITHDRAWN))
        # Ten school days after Monday 7 January: reopening is possible until Monday 21 January.
        await case.go_to(date(2030, 1, 21), hour=20)
        assert (await case.view()).allowed_actions == ["reopen"]
        result = await case.handle.result()
        assert result.outcome is CloseOutcome.WITHDRAWN
        with pytest.raises(Exception):  # noqa: B017 (the workflow has ended: no update reaches it)
            await case.do("reopen", ReopenCase(actor=SUPERVISOR, reason="too late"))
