"""Drives real case workflows on Temporal's time-skipping test server, with the real activities, a
real SMTP server (aiosmtpd) and a SQLite read model, on a fixed test calendar (tests/data)."""

import uuid
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from sqlmodel import Session, SQLModel, create_engine, select
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

import readmodel.tables  # noqa: F401  (registers the tables)
from activities.catalog import build_activities
from domain import search_attributes as sa
from domain.case_change import CaseChange
from domain.case_commands import AbsenceReason, OpenCase
from domain.case_state import CaseView
from domain.people import Actor, Child, Parent, Role
from infra.settings import Settings
from infra.temporal_client import build_data_converter
from tests.support import dev_server_path, eventually, free_port, make_settings, test_server_path
from workflows.case_workflow import CaseWorkflow
from workflows.retention_sweep import RetentionSweepWorkflow

TEST_TERMS = Path(__file__).parent / "data" / "test_terms.toml"
SCHOOL = Actor(role=Role.SCHOOL, name="school-120001")
OFFICER = Actor(role=Role.CASEWORKER, name="officer-jb")
PARENT_EMAIL = "parent@family.example"
CONSULTANT_EMAIL = "consultant@nhs.example"


class _Inbox:
    """An aiosmtpd handler that keeps every message it receives. A message of a template in
    `hang_up_on` is received whole and then the connection is dropped without a reply, as a mail
    server that dies mid-DATA does: the sender cannot know whether it was taken."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.hang_up_on: set[str] = set()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's hook name)
        msg = message_from_bytes(envelope.content)
        msg["X-Envelope-To"] = ", ".join(envelope.rcpt_tos)
        self.messages.append(msg)
        if msg["X-Casework-Template"] in self.hang_up_on:
            server.transport.close()
            return "250 never seen by the client"
        return "250 OK"


@dataclass
class MailCatcher:
    inbox: _Inbox = field(default_factory=_Inbox)

    @property
    def messages(self) -> list[Message]:
        return self.inbox.messages

    def subjects_to(self, address: str) -> list[str]:
        return [m["Subject"] for m in self.messages if address in m["X-Envelope-To"]]

    def with_subject(self, words: str) -> list[Message]:
        return [m for m in self.messages if words.lower() in m["Subject"].lower()]

    def hang_up_after_data(self, template: str) -> None:
        """From now on, drop the connection after receiving a message of `template`, before replying."""
        self.inbox.hang_up_on.add(template)


@asynccontextmanager
async def smtp_server() -> AsyncIterator[tuple[MailCatcher, int]]:
    catcher = MailCatcher()
    port = free_port()
    controller = Controller(catcher.inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield catcher, port
    finally:
        controller.stop()


def case_settings(tmp: Path, smtp_port: int | None, **overrides: Any) -> Settings:
    """The shared test settings on the test calendar, mail to `smtp_port` (else the outbox), no
    encryption key unless given one."""
    values: dict[str, Any] = {
        "encryption_keys": None,
        "smtp_host": "127.0.0.1" if smtp_port else None,
        "smtp_port": smtp_port or 25,
        "school_calendar_file": TEST_TERMS,
        **overrides,
    }
    return make_settings(tmp, **values)


def new_case_ref() -> str:
    alphabet = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"
    return "MN-30-" + "".join(alphabet[b % len(alphabet)] for b in uuid.uuid4().bytes[:6])


def notification(first_day: date, *, expected_return: date | None = None, absence_days: list[date] | None = None,
                 case_ref: str | None = None) -> OpenCase:
    return OpenCase(
        case_ref=case_ref or new_case_ref(),
        school_urn="120001",
        child=Child(given_name="Amelia", family_name="Testcase", date_of_birth=date(2018, 5, 14)),
        parent=Parent(name="Jordan Testcase", email=PARENT_EMAIL),
        first_day_of_absence=first_day,
        expected_return=expected_return,
        reason=AbsenceReason.PHYSICAL_ILLNESS,
        health_summary="Post-operative recovery, leukaemia treatment",
        absence_days=absence_days or [],
        actor=SCHOOL,
    )


@dataclass
class CaseDriver:
    env: WorkflowEnvironment
    client: Client
    handle: WorkflowHandle
    settings: Settings
    as_the_api: bool = False  # send commands as the API does: it writes the answer to the read model

    async def do(self, action: str, command: Any) -> CaseView:
        """Send a command; the case as it left it. Sent as the API sends it, the answer is only what
        the command changed (`CaseChange`), and the whole case is read with the `view` query."""
        if self.as_the_api and "caller_writes_read_model" in type(command).model_fields:
            command = command.model_copy(update={"caller_writes_read_model": True})
        answer = await self.handle.execute_update(action, command, result_type=CaseView | CaseChange)
        return answer if isinstance(answer, CaseView) else await self.view()

    async def view(self) -> CaseView:
        return await self.handle.query("view", result_type=CaseView)

    async def now(self) -> datetime:
        return await self.env.get_current_time()

    async def go_to(self, day: date, hour: int = 9) -> None:
        """Let time pass until `hour` o'clock UTC on `day`; every timer on the way fires."""
        target = datetime.combine(day, time(hour), tzinfo=UTC)
        now = await self.now()
        if target > now:
            await self.env.sleep(target - now)
        await self.settle()  # the worker has finished what the timers started

    async def settle(self) -> None:
        """Wait until the worker has finished what the last timer, signal or command started."""
        await eventually(lambda: is_idle(self.handle), what=f"{self.handle.id} idle")

    def read_model(self):
        engine = create_engine(self.settings.database_url)
        return Session(engine)

    def ledger(self) -> list:
        from readmodel.tables import LedgerEntry

        with self.read_model() as session:
            return list(session.exec(select(LedgerEntry).order_by(LedgerEntry.from_date, LedgerEntry.school_urn)))


_WORKFLOW_TASK_EVENTS = {
    EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT,
}
_ACTIVITY_CLOSED = {
    EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED: "activity_task_completed_event_attributes",
    EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED: "activity_task_failed_event_attributes",
    EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT: "activity_task_timed_out_event_attributes",
    EventType.EVENT_TYPE_ACTIVITY_TASK_CANCELED: "activity_task_canceled_event_attributes",
}


def open_activities(events: Sequence[HistoryEvent]) -> list[str]:
    """The activity types scheduled in a history and not (yet) completed, failed, timed out or cancelled."""
    closed = {getattr(e, _ACTIVITY_CLOSED[e.event_type]).scheduled_event_id
              for e in events if e.event_type in _ACTIVITY_CLOSED}
    return [e.activity_task_scheduled_event_attributes.activity_type.name for e in events
            if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED and e.event_id not in closed]


def workflow_task_done(events: Sequence[HistoryEvent]) -> bool:
    """True when the last workflow task in a history has completed (none is scheduled or running)."""
    last_task = next((e.event_type for e in reversed(events) if e.event_type in _WORKFLOW_TASK_EVENTS), None)
    return last_task == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED


async def is_idle(handle: WorkflowHandle) -> bool:
    """True when the workflow has no workflow task outstanding and no activity open (its history
    says so), or has closed."""
    events = (await handle.fetch_history()).events
    return bool(events) and not open_activities(events) and workflow_task_done(events)


async def travel_to(env: WorkflowEnvironment, day: date, hour: int = 9) -> None:
    target = datetime.combine(day, time(hour), tzinfo=UTC)
    now = await env.get_current_time()
    assert now < target, f"the test clock is already past {target}"
    await env.sleep(target - now)


@asynccontextmanager
async def case_world(tmp: Path, *, smtp: bool = True, dev_server: bool = False,
                     **setting_overrides: Any) -> AsyncIterator[Any]:
    """A time-skipping Temporal server, a worker with the real workflows and activities, a read
    model and SMTP. With `dev_server`, the real dev server instead (real time, so the shipped
    calendar): for what the time-skipping server cannot do, such as describing or deleting a case."""
    async with smtp_server() as (mail, port):
        if dev_server:
            setting_overrides = {"school_calendar_file": None, **setting_overrides}
        settings = case_settings(tmp, port if smtp else None, **setting_overrides)
        SQLModel.metadata.create_all(create_engine(settings.database_url))
        converter = build_data_converter(settings)
        if dev_server:
            started = WorkflowEnvironment.start_local(
                dev_server_existing_path=dev_server_path(), data_converter=converter, ui=False,
                dev_server_log_level="error", dev_server_startup_timeout=timedelta(seconds=60),
                # Delete a closed workflow at once, not after the server's close-time processing.
                dev_server_extra_args=["--dynamic-config-value", "history.transferProcessorEnsureCloseBeforeDelete=false",
                                       "--dynamic-config-value", "history.visibilityProcessorEnsureCloseBeforeDelete=false"],
            )
        else:
            started = WorkflowEnvironment.start_time_skipping(
                test_server_existing_path=str(test_server_path()), data_converter=converter)
        async with await started as env:
            await env.client.operator_service.add_search_attributes(sa.add_request(env.client.namespace))
            task_queue = f"cases-{uuid.uuid4()}"
            with ThreadPoolExecutor(max_workers=8) as executor:
                async with Worker(
                    env.client,
                    task_queue=task_queue,
                    workflows=[CaseWorkflow, RetentionSweepWorkflow],
                    activities=build_activities(settings),
                    activity_executor=executor,
                ):
                    yield World(env=env, settings=settings, task_queue=task_queue, mail=mail)


@dataclass
class World:
    env: WorkflowEnvironment
    settings: Settings
    task_queue: str
    mail: MailCatcher
    as_the_api: bool = False  # see CaseDriver.as_the_api

    async def open_case(self, case: OpenCase) -> CaseDriver:
        handle = await self.env.client.start_workflow(
            CaseWorkflow.run, case, id=case.case_ref, task_queue=self.task_queue
        )
        driver = CaseDriver(self.env, self.env.client, handle, self.settings, as_the_api=self.as_the_api)
        # The case is live once its rules are loaded and the first view answers.
        async def live() -> bool:
            return bool((await driver.view()).pending_tasks)

        await eventually(live, what=f"{case.case_ref} answering with its tasks")
        return driver
