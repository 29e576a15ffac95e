"""The case's story in the Temporal UI: current details a supervisor can read at a glance, and a
summary in business terms on every activity and timer (decoded through the codec, as the UI does)."""

from __future__ import annotations

from datetime import date

from temporalio.api.enums.v1 import EventType
from temporalio.api.sdk.v1 import WorkflowMetadata

from domain.case_commands import RequestConsent
from domain.case_state import CaseState, CaseView, PendingTask, SupervisorAlert, TaskKind
from domain.email_models import EmailRequest, EmailTemplate, MailRecipient, RecipientRole
from domain.people import Role
from domain.stages import Stage
from tests.case_harness import OFFICER, case_world, notification, travel_to
from workflows.case_story import current_details, email_summary

MONDAY = date(2030, 1, 7)


def _task(kind: TaskKind, description: str, due: date, *, overdue: bool = False) -> PendingTask:
    return PendingTask(id=kind.value, kind=kind, description=description, assignee_role=Role.CASEWORKER,
                       due_on=due, overdue=overdue)


def _view(**state: object) -> CaseView:
    base = CaseState.model_construct(
        case_ref="MN-30-STORY1", stage=Stage.AWAITING_CONSENT, officer=None, alerts=[], stalled=False,
        last_progress_on=MONDAY, threshold_date=None, provision_started_on=None, closed_on=None,
    )
    return CaseView(state=base.model_copy(update=state), pending_tasks=[], allowed_actions=[],
                    next_deadline=None, overdue=False)


def test_current_details_lead_with_the_stage_and_officer_and_name_what_is_overdue() -> None:
    view = _view(officer="officer-jb").model_copy(update={"pending_tasks": [
        _task(TaskKind.FOLLOW_UP_CONSENT, "Follow up the parent's consent", date(2030, 1, 9), overdue=True),
        _task(TaskKind.DECIDE, "Decide the referral", date(2030, 1, 21)),
    ]})
    details = current_details(view, date(2030, 1, 10))
    assert details.splitlines()[0] == "**Stage:** awaiting consent · **Officer:** officer-jb"
    assert "**Overdue (1):** Follow up the parent's consent (due Wed 9 Jan 2030)" in details
    assert "**Waiting for:** Decide the referral (caseworker, by Mon 21 Jan 2030)" in details


def test_current_details_name_alerts_stalls_and_a_passed_15_day_point_without_personal_detail() -> None:
    alert = SupervisorAlert(kind="email_failed", raised_on=date(2030, 1, 8),
                            detail="consent_request could not be sent: 550 no such user anne@family.example")
    view = _view(alerts=[alert], stalled=True, threshold_date=date(2030, 1, 25))
    details = current_details(view, date(2030, 1, 28))
    assert "**Alerts (1):** latest Tue 8 Jan 2030, an email could not be sent" in details
    assert "**Stalled:** no progress since Mon 7 Jan 2030" in details
    assert "**15-day point** passed on Fri 25 Jan 2030; no provision yet" in details
    assert "anne@" not in details  # an alert's detail may carry an address: the UI gets the kind only


def test_an_email_is_summarised_by_template_and_recipient_role_never_by_address() -> None:
    mail = EmailRequest(idempotency_key="k", case_ref="MN-30-STORY1", template=EmailTemplate.CONSENT_REQUEST,
                        recipients=[MailRecipient(role=RecipientRole.PARENT, address="anne@family.example")])
    assert email_summary(mail) == "Email the consent request to the parent"


async def test_the_ui_shows_current_details_and_activity_summaries(tmp_path) -> None:
    async with case_world(tmp_path) as world:
        await travel_to(world.env, MONDAY, hour=8)
        case = await world.open_case(notification(MONDAY))
        await case.do("request_consent", RequestConsent(actor=OFFICER))
        await case.settle()

        # What `temporal workflow metadata` and the UI's "Current Details" show.
        metadata = await case.handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
        details = metadata.current_details
        assert details.startswith("**Stage:** awaiting consent")
        assert "**Waiting for:** " in details and "(parent, by " in details

        history = await case.handle.fetch_history()
        converter = world.env.client.data_converter
        summaries = [
            (await converter.decode([e.user_metadata.summary], [str]))[0]
            for e in history.events
            if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        ]
        assert "Load the term dates and the council's case rules" in summaries
        assert "Email the consent request to the parent" in summaries
        assert any(s.startswith("Write the case to the read model (version ") for s in summaries)
        timers = [
            (await converter.decode([e.user_metadata.summary], [str]))[0]
            for e in history.events
            if e.event_type == EventType.EVENT_TYPE_TIMER_STARTED and e.user_metadata.HasField("summary")
        ]
        assert any(t.startswith("Until ") for t in timers), timers
        # In history the summaries are ciphertext, like every payload.
        scheduled = next(e for e in history.events if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED)
        assert scheduled.user_metadata.summary.metadata["encoding"] == b"binary/encrypted"
