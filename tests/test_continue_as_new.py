"""A long-lived case continues as new when its history grows, and nobody notices: the whole case is
carried into the new run, commands keep answering across the switch, none is lost or doubled, and
supervisors still find the case by its search attributes.

On the real dev server with `limit.historyCount.suggestContinueAsNew` (a namespace dynamic config
key of the Temporal server, default 4096 events) set low, so a few dozen commands cross it. Email
goes to an SMTP server that takes half a second a message (and can hold mail), so mail is still
being sent when a run hands over: the run waits for it, and for any command that arrives meanwhile."""

import asyncio
import threading
import uuid
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import pytest
from aiosmtpd.controller import Controller
from sqlmodel import SQLModel, create_engine
from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

import readmodel.tables  # noqa: F401  (registers the tables)
from activities.catalog import build_activities
from domain import search_attributes as sa
from domain.case_change import ProjectionRequest
from domain.case_commands import (
    AddNote,
    AssignOfficer,
    CommissionProvision,
    ConsentDecision,
    Decide,
    DecisionOutcome,
    RecordConsent,
    RequestConsent,
)
from domain.case_state import CaseView
from domain.provision import Provision, ProvisionKind
from domain.school_calendar import SchoolCalendar, load_calendar_data
from domain.stages import Stage
from domain.statutory_clocks import ClockSettings
from infra.temporal_client import build_data_converter
from tests.case_harness import OFFICER, notification, open_activities, workflow_task_done
from tests.support import dev_server_path, eventually, free_port, make_settings, utc_today
from workflows.case_workflow import CaseWorkflow

SUGGEST_CONTINUE_AS_NEW_AFTER = 200  # events; Temporal's default is 4096. A case in provision has ~100.
BATCH = 8  # notes sent at once, so some are in flight when the server suggests continuing as new
SMTP_SECONDS = 0.5


class _SlowSmtp:
    """Accepts every message, slowly, and holds it while the gate is closed (an aiosmtpd handler)."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.gate.set()

    # Slow at RCPT, before DATA: the email activity holds a read-model write while DATA runs.
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802 (aiosmtpd hook)
        await asyncio.sleep(SMTP_SECONDS)
        await asyncio.to_thread(self.gate.wait, 20)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        return "250 OK"


@dataclass
class Server:
    client: Client
    task_queue: str
    smtp_gate: threading.Event
    projection_gate: threading.Event


def _held_while_closed(activities: list[Callable], gate: threading.Event) -> list[Callable]:
    """The real activities; the read-model projection waits while `gate` is closed."""
    real = next(a for a in activities if a.__name__ == "project_case")
    by_reference = next(a for a in activities if a.__name__ == "project_case_by_reference")

    @activity.defn(name="project_case")
    def project_case(view: CaseView) -> None:
        gate.wait(20)
        return real(view)

    @activity.defn(name="project_case_by_reference")
    async def project_case_by_reference(request: ProjectionRequest) -> None:
        await asyncio.to_thread(gate.wait, 20)
        return await by_reference(request)

    held = {real: project_case, by_reference: project_case_by_reference}
    return [held.get(a, a) for a in activities]


@pytest.fixture(scope="module")
async def server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Server]:
    """A dev server that suggests continue-as-new early, and a worker with the real activities."""
    smtp_port = free_port()
    handler = _SlowSmtp()
    smtp = Controller(handler, hostname="127.0.0.1", port=smtp_port)
    smtp.start()
    # The cases here are recorded late (provision from 200 days ago): a council bringing existing cases
    # in sets a long grace for planned dates.
    settings = make_settings(tmp_path_factory.mktemp("continue-as-new"), smtp_host="127.0.0.1",
                             smtp_port=smtp_port, clocks=ClockSettings(planned_date_grace_days=200))
    projection_gate = threading.Event()
    projection_gate.set()
    SQLModel.metadata.create_all(create_engine(settings.database_url))
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=dev_server_path(),
        dev_server_extra_args=["--dynamic-config-value",
                               f"limit.historyCount.suggestContinueAsNew={SUGGEST_CONTINUE_AS_NEW_AFTER}"],
        data_converter=build_data_converter(settings),
        ui=False,
        dev_server_log_level="error",
        dev_server_startup_timeout=timedelta(seconds=60),
    )
    try:
        await env.client.operator_service.add_search_attributes(sa.add_request(env.client.namespace))
        task_queue = f"continue-as-new-{uuid.uuid4()}"
        with ThreadPoolExecutor(max_workers=8) as executor:
            async with Worker(env.client, task_queue=task_queue, workflows=[CaseWorkflow],
                              activities=_held_while_closed(build_activities(settings), projection_gate),
                              activity_executor=executor):
                yield Server(env.client, task_queue, handler.gate, projection_gate)
    finally:
        handler.gate.set()
        projection_gate.set()
        await env.shutdown()
        smtp.stop()


async def view_of(handle: WorkflowHandle) -> CaseView:
    return await handle.query(CaseWorkflow.view, result_type=CaseView)


async def note(handle: WorkflowHandle, text: str) -> CaseView:
    return await handle.execute_update("add_note", AddNote(actor=OFFICER, text=text), result_type=CaseView)


async def current_run_id(handle: WorkflowHandle) -> str:
    return (await handle.describe()).run_id


def _school_day_from(day: date) -> date:
    """The first school day on or after `day` (provision starts on a school day)."""
    year = day.year if day.month >= 9 else day.year - 1
    return SchoolCalendar(load_calendar_data(None, year - 1, year + 1)).next_school_day(day)


async def case_in_provision(server: Server, first_day: date) -> WorkflowHandle:
    """A case recorded late: absent since `first_day`, full-time tuition from a week later."""
    case = notification(first_day)
    handle = await server.client.start_workflow(CaseWorkflow.run, case, id=case.case_ref,
                                                task_queue=server.task_queue)
    await handle.execute_update("request_consent", RequestConsent(actor=OFFICER), result_type=CaseView)
    await handle.execute_update("record_consent", RecordConsent(actor=OFFICER, decision=ConsentDecision.REFUSED),
                                result_type=CaseView)
    await handle.execute_update("decide", Decide(actor=OFFICER, outcome=DecisionOutcome.LA_PROVISION,
                                                 reason="GP letter held"), result_type=CaseView)
    await handle.execute_update("commission_provision", CommissionProvision(
        actor=OFFICER, officer="officer-jb",
        provisions=[Provision(kind=ProvisionKind.HOME_TUITION, provider="County tuition",
                              hours_per_week=Decimal(25), start_date=_school_day_from(first_day + timedelta(days=7)),
                              weekly_cost=Decimal("500.00"))],
    ), result_type=CaseView)
    return handle


async def first_run_ended_cleanly(server: Server, handle: WorkflowHandle, first_run: str) -> WorkflowHandle:
    """The first run ended by continuing as new, with no update left half done and no failed task."""
    first = server.client.get_workflow_handle(handle.id, run_id=first_run)
    kinds = [e.event_type for e in (await first.fetch_history()).events]
    assert kinds[-1] == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW
    assert kinds.count(EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED) == kinds.count(
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED)
    # An update still running when the run continues as new fails the workflow task here (pytest
    # turns the SDK's UnfinishedUpdateHandlersWarning into an error, see pyproject.toml). In
    # production the caller would get an error for a command the case had already recorded.
    assert EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED not in kinds
    return first


@pytest.mark.slow
async def test_case_continues_as_new_with_its_whole_state(server: Server) -> None:
    # Absent since 200 days ago: at least one term has ended and been charged (recoupment lines), and
    # the first review is long overdue.
    handle = await case_in_provision(server, utc_today() - timedelta(days=200))
    async def alarms_fired() -> CaseView | None:  # the due alarms (term charges, overdue review) fire in the main loop
        view = await view_of(handle)
        return view if view.state.recoupment_lines and view.overdue else None

    settled = await eventually(alarms_fired, timeout=10, what="the term charges and the overdue review")
    assert settled.state.stage is Stage.IN_PROVISION
    assert settled.state.recoupment_lines and settled.state.reviews and settled.overdue

    first_run = await current_run_id(handle)
    sent: list[str] = []
    answers: list[CaseView] = []
    batches_after = 0
    for n in range(40):
        texts = [f"note {n}.{i}" for i in range(BATCH)]
        sent += texts
        answers += await asyncio.gather(*(note(handle, t) for t in texts))
        if await current_run_id(handle) != first_run:
            batches_after += 1
            if batches_after == 2:  # the new run has answered a full batch of its own
                break
    else:
        pytest.fail(f"no continue-as-new after {len(sent)} notes (limit {SUGGEST_CONTINUE_AS_NEW_AFTER} events)")
    first = await first_run_ended_cleanly(server, handle, first_run)

    # Every update answered with a case that has its note, and no note is lost or doubled.
    for text, answer in zip(sent, answers, strict=True):
        assert text in [n.text for n in answer.state.notes]
    now = await view_of(handle)
    assert sorted(n.text for n in now.state.notes) == sorted(sent)

    # The whole case carried over: the new run is the old one's final state plus the later notes.
    final_of_first = await view_of(first)  # a query on the closed run replays its history
    before, after = final_of_first.state, now.state
    carried_notes = len(before.notes)
    assert 0 < carried_notes < len(sent)
    assert after.notes[:carried_notes] == before.notes
    assert after.timeline[: len(before.timeline)] == before.timeline
    assert [e.action for e in after.timeline[len(before.timeline):]] == ["add_note"] * (len(sent) - carried_notes)
    for field in ("stage", "provisions", "reviews", "recoupment_lines", "alerts", "school_spells", "officer",
                  "consent", "decision", "threshold_date", "fired_alarms", "child", "parent"):
        assert getattr(after, field) == getattr(before, field), field
    assert now.pending_tasks == final_of_first.pending_tasks

    # Supervisors still find it: the new run has the search attributes.
    attributes = (await handle.describe()).typed_search_attributes
    assert attributes.get(sa.CASE_STAGE) == "in_provision"
    assert attributes.get(sa.SCHOOL_URN) == "120001"
    assert attributes.get(sa.EDUCATION_OFFICER) == "officer-jb"
    assert attributes.get(sa.OVERDUE) is True
    assert attributes.get(sa.PROVISION_KINDS) == ["home_tuition"]


async def first_run_history(server: Server, handle: WorkflowHandle, first_run: str):
    return await server.client.get_workflow_handle(handle.id, run_id=first_run).fetch_history()


@pytest.mark.slow
async def test_a_command_given_while_the_run_waits_for_mail_is_answered(server: Server) -> None:
    """The server suggests continuing as new while an email is still being sent, so the run waits for
    it; an officer's note arrives meanwhile and is still being written when the email goes. The run
    must wait for the note too, and then hand over: the note is answered and recorded once."""
    handle = await case_in_provision(server, utc_today() - timedelta(days=20))
    first_run = await current_run_id(handle)
    server.smtp_gate.clear()  # from now on mail is held at the SMTP server
    try:
        await handle.execute_update("assign_officer", AssignOfficer(actor=OFFICER, officer="officer-kt"),
                                    result_type=CaseView)  # emails the parent: held
        sent = []
        for i in range(60):
            sent.append(f"note {i}")
            await note(handle, sent[-1])
            events = (await first_run_history(server, handle, first_run)).events
            if any(e.workflow_task_started_event_attributes.suggest_continue_as_new for e in events):
                break
        else:
            pytest.fail(f"the server never suggested continue-as-new (limit {SUGGEST_CONTINUE_AS_NEW_AFTER})")
        async def waiting_only_for_the_email() -> bool:  # everything else the run had to do is done
            events = (await first_run_history(server, handle, first_run)).events
            return workflow_task_done(events) and set(open_activities(events)) == {"send_email"}

        await eventually(waiting_only_for_the_email, timeout=10, what="the first run waiting for the held email")
        assert await current_run_id(handle) == first_run, "the run must wait for the held email"

        server.projection_gate.clear()  # the next command is held while it writes the read model
        late = asyncio.create_task(handle.execute_update(
            "add_note", AddNote(actor=OFFICER, text="late note"), id="late-note", result_type=CaseView))
        async def late_note_accepted() -> bool:  # the run has accepted the note and is writing it
            history = await first_run_history(server, handle, first_run)
            return any(e.workflow_execution_update_accepted_event_attributes.accepted_request.meta.update_id
                       == "late-note" for e in history.events)

        await eventually(late_note_accepted, timeout=5, what="the late note accepted")
        server.smtp_gate.set()  # the email goes now, while the note is still being written

        async def email_sent() -> bool:
            events = (await first_run_history(server, handle, first_run)).events
            return "send_email" not in open_activities(events)

        await eventually(email_sent, timeout=10, what="the held email sent")
        server.projection_gate.set()
        answer = await late
    finally:
        server.smtp_gate.set()
        server.projection_gate.set()

    assert "late note" in [n.text for n in answer.state.notes]
    async def continued() -> bool:
        return await current_run_id(handle) != first_run

    await eventually(continued, timeout=5, what="the case continuing as new")
    await first_run_ended_cleanly(server, handle, first_run)
    texts = [n.text for n in (await view_of(handle)).state.notes]
    assert texts == [*sent, "late note"]  # every note exactly once, in order
