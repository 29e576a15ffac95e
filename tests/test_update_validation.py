"""A command given at the wrong stage is refused by the update's validator: the caller gets
ActionNotAllowed with the case's stage and what is allowed now, and the refusal leaves no trace in
the case's history (no admitted, accepted or completed update), so refused commands never grow it."""

from datetime import date

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from domain.case_commands import AddNote, CommissionProvision
from domain.case_state import CaseView
from domain.provision import Provision, ProvisionKind
from domain.stages import Stage
from tests.case_harness import OFFICER, case_world, notification, travel_to

_UPDATE_EVENTS = {
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ADMITTED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_REJECTED,
}


def update_ids_in(history) -> dict[str, list[str]]:
    """update id -> the update event types recorded for it."""
    seen: dict[str, list[str]] = {}
    for event in history.events:
        if event.event_type not in _UPDATE_EVENTS:
            continue
        if event.HasField("workflow_execution_update_accepted_event_attributes"):
            update_id = event.workflow_execution_update_accepted_event_attributes.accepted_request.meta.update_id
        elif event.HasField("workflow_execution_update_completed_event_attributes"):
            update_id = event.workflow_execution_update_completed_event_attributes.meta.update_id
        elif event.HasField("workflow_execution_update_admitted_event_attributes"):
            update_id = event.workflow_execution_update_admitted_event_attributes.request.meta.update_id
        else:
            update_id = event.workflow_execution_update_rejected_event_attributes.rejected_request.meta.update_id
        seen.setdefault(update_id, []).append(EventType.Name(event.event_type).removeprefix("EVENT_TYPE_"))
    return seen


async def test_wrong_stage_command_is_refused_before_it_enters_history(tmp_path):
    async with case_world(tmp_path, smtp=False) as world:
        await travel_to(world.env, date(2030, 1, 7))
        case = await world.open_case(notification(date(2030, 1, 7)))
        before = await case.view()
        assert before.state.stage is Stage.NOTIFIED

        commission = CommissionProvision(actor=OFFICER, officer="officer-jb", provisions=[
            Provision(kind=ProvisionKind.HOME_TUITION, provider="County tuition", hours_per_week=25,
                      start_date=date(2030, 1, 8), weekly_cost="500.00")])
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await case.handle.execute_update("commission_provision", commission, id="too-early",
                                             result_type=CaseView)
        cause = refused.value.cause
        assert isinstance(cause, ApplicationError)
        assert cause.type == "ActionNotAllowed"
        assert cause.non_retryable
        # The refusal lists what the case view offers: the stage's actions that can succeed now.
        assert cause.details == ({"stage": "notified", "allowed_actions": before.allowed_actions},)
        assert "record_hospital_discharge" not in before.allowed_actions
        assert "commission_provision" not in cause.details[0]["allowed_actions"]

        # An accepted command, for contrast: it is recorded, accepted and completed.
        await case.handle.execute_update("add_note", AddNote(actor=OFFICER, text="Phoned the school"),
                                         id="a-note", result_type=CaseView)

        recorded = update_ids_in(await case.handle.fetch_history())
        assert recorded["a-note"] == ["WORKFLOW_EXECUTION_UPDATE_ACCEPTED", "WORKFLOW_EXECUTION_UPDATE_COMPLETED"]
        assert "too-early" not in recorded, recorded["too-early"]

        after = await case.view()
        assert after.state.stage is Stage.NOTIFIED
        assert after.state.provisions == [] and after.state.officer is None
        assert [e.action for e in after.state.timeline] == [e.action for e in before.state.timeline] + ["add_note"]
