"""Retention, end to end on the real dev server with the real worker process code (`worker.run_worker`).

With the retention age set to 10 years: a closed case whose child turned 10 years ago is erased by
the daily sweep everywhere (its workflow history, read-model rows, stored documents, outbox emails,
access records), leaving only a statistical tombstone; a closed case whose child is not yet 10 and
a still-open case of an older child are untouched. The sweep runs from the `retention-sweep`
Temporal Schedule the worker creates at start (triggered now rather than waiting for 02:00).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import structlog
from sqlmodel import select
from temporalio import workflow
from temporalio.client import Client, ScheduleActionStartWorkflow
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from activities.email import outbox_file_for
from activities.retention import RetentionActivities, case_run_ids, stage_reached
from api.notification_routes import new_case_ref
from domain.case_commands import AbsenceReason, CloseCase, CloseOutcome, OpenCase
from domain.case_state import CaseResult, CaseView
from domain.people import Actor, Child, Parent, Role
from domain.search_attributes import ALL_KEYS
from domain.stages import Stage
from infra.document_store import PLAIN_TEXT, DocumentStore
from infra.encryption import Keyring
from infra.settings import Settings
from infra.temporal_client import build_data_converter
from readmodel.database import make_engine, session_scope
from readmodel.migrate import upgrade
from readmodel.tables import (
    AccessRecord,
    CaseRow,
    DocumentRow,
    ErasureTombstone,
    SentEmail,
    TaskRow,
    TimelineRow,
)
from tests.fault_support import CLOSURES_FINAL
from tests.support import dev_server_path, eventually, make_settings, recent_school_days, utc_today
from worker import run_worker
from workflows.retention_sweep import SCHEDULE_ID, SweepReport, ensure_retention_schedule

pytestmark = pytest.mark.slow

SCHOOL = Actor(role=Role.SCHOOL, name="school-120001")
OFFICER = Actor(role=Role.CASEWORKER, name="officer-retention")
RETENTION_YEARS = 10


async def open_case(client: Client, settings: Settings, *, given: str, born: date) -> str:
    days = recent_school_days(3)
    ref = new_case_ref()
    await client.start_workflow(
        "CaseWorkflow",
        OpenCase(
            case_ref=ref,
            school_urn="120001",
            child=Child(given_name=given, family_name="Retentionson", date_of_birth=born),
            parent=Parent(name="A Parent", email=f"{given.lower()}.parent@family.example"),
            first_day_of_absence=days[0],
            reason=AbsenceReason.PHYSICAL_ILLNESS,
            health_summary=f"{given} has a long-term condition",
            absence_days=days,
            actor=SCHOOL,
        ),
        id=ref,
        task_queue=settings.task_queue,
    )
    return ref


async def close_case(client: Client, ref: str) -> None:
    handle = client.get_workflow_handle(ref, result_type=CaseResult)
    await handle.execute_update(
        "close", CloseCase(outcome=CloseOutcome.WITHDRAWN, actor=OFFICER), result_type=CaseView
    )
    await handle.result()  # the final projection and the closing email are done


async def history_exists(client: Client, ref: str) -> bool:
    try:
        await client.get_workflow_handle(ref).describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


@pytest.fixture(scope="module")
async def dev_server(test_settings: Settings) -> AsyncIterator[WorkflowEnvironment]:
    """A dev server of this module's own. The server carries out a deletion only once its own
    close-time processing has been acknowledged (about 30 s on the dev server); these flags let it
    delete at once, so the test need not wait. Everything else is the server `make run` starts."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=dev_server_path(),
        search_attributes=ALL_KEYS,
        data_converter=build_data_converter(test_settings),
        ui=False,
        dev_server_log_level="error",
        dev_server_startup_timeout=timedelta(seconds=60),
        dev_server_extra_args=[
            "--dynamic-config-value",
            "history.transferProcessorEnsureCloseBeforeDelete=false",
            "--dynamic-config-value",
            "history.visibilityProcessorEnsureCloseBeforeDelete=false",
        ],
    )
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture
async def worker_world(
    dev_server: WorkflowEnvironment, database_url: str, tmp_path: Path
) -> AsyncIterator[Settings]:
    """The worker process's own code (`worker.run_worker`) against the read model on SQLite and on
    PostgreSQL; the schedule it creates is removed afterwards, so each run starts from none."""
    client = dev_server.client
    settings = make_settings(
        tmp_path,
        database_url=database_url,
        temporal_address=client.service_client.config.target_host,
        task_queue=f"retention-{uuid.uuid4().hex}",
        retention_years_after_birth=RETENTION_YEARS,
        clocks=CLOSURES_FINAL,  # a closed case's workflow ends at once: only then may it be erased
    )
    upgrade(settings.database_url)
    stop = asyncio.Event()
    running = asyncio.create_task(run_worker(settings, stop))
    try:
        yield settings
    finally:
        stop.set()
        await asyncio.wait_for(running, 60)
        try:
            await client.get_schedule_handle(SCHEDULE_ID).delete()
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise


def test_stage_reached_is_the_furthest_stage_of_the_timeline() -> None:
    assert stage_reached(["notified", "add_note"], None) is Stage.NOTIFIED
    assert stage_reached(["request_consent", "decide", "record_consent"], None) is Stage.DECIDING
    assert stage_reached(["decide"], date(2026, 1, 5)) is Stage.IN_PROVISION
    assert (
        stage_reached(["commission_provision", "agree_reintegration_plan", "close"], None)
        is Stage.REINTEGRATING
    )


@workflow.defn(name="RetentionTestLongCase")
class LongCase:
    """Stands in for a case that continued as new twice (three runs under one workflow id)."""

    @workflow.run
    async def run(self, runs_left: int) -> int:
        if runs_left > 0:
            workflow.continue_as_new(runs_left - 1)
        return runs_left


async def test_every_run_of_a_continued_case_is_deleted(
    dev_server: WorkflowEnvironment, tmp_path: Path
) -> None:
    client = dev_server.client
    ref = new_case_ref()
    queue = f"retention-long-{uuid.uuid4().hex}"
    async with Worker(
        client, task_queue=queue, workflows=[LongCase], workflow_runner=UnsandboxedWorkflowRunner()
    ):
        await client.execute_workflow(LongCase.run, 2, id=ref, task_queue=queue)
    runs = await case_run_ids(client, ref)
    assert len(runs) == 3 and len({run_id for run_id, _ in runs}) == 3

    activities = RetentionActivities(make_settings(tmp_path))
    deleted = await ActivityEnvironment(client=client).run(activities.delete_case_histories, ref)
    assert deleted == 3
    for run_id, _ in runs:
        handle = client.get_workflow_handle(ref, run_id=run_id)
        assert await eventually(lambda h=handle: _not(_describes(h)), timeout=20), f"run {run_id} still there"


async def _describes(handle) -> bool:  # noqa: ANN001
    try:
        await handle.describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


async def test_sweep_erases_closed_cases_past_retention_and_nothing_else(
    worker_world: Settings, dev_server: WorkflowEnvironment
) -> None:
    settings = worker_world
    client = dev_server.client
    schedule = client.get_schedule_handle(SCHEDULE_ID)

    # The worker created the schedule at start, for its task queue; starting again changes nothing.
    async def schedule_is_ours() -> bool:
        try:
            action = (await schedule.describe()).schedule.action
        except RPCError:
            return False
        return isinstance(action, ScheduleActionStartWorkflow) and action.task_queue == settings.task_queue

    assert await eventually(schedule_is_ours), "the worker did not create the retention-sweep schedule"
    described = await schedule.describe()
    assert described.schedule.action.workflow == "RetentionSweepWorkflow"
    assert [c.hour[0].start for c in described.schedule.spec.calendars] == [2]
    assert await ensure_retention_schedule(client, settings.task_queue) == "unchanged"
    # A worker on another task queue takes the schedule over; an operator's pause is kept.
    await schedule.pause(note="maintenance")
    assert await ensure_retention_schedule(client, "elsewhere") == "updated"
    moved = await schedule.describe()
    assert moved.schedule.action.task_queue == "elsewhere" and moved.schedule.state.paused
    assert await ensure_retention_schedule(client, settings.task_queue) == "updated"
    await schedule.unpause()

    # Three cases: closed and past retention (10th birthday in 2023), closed but not yet (2030),
    # and open although the child is past the retention age.
    erased_ref = await open_case(client, settings, given="Eustacia", born=date(2013, 5, 4))
    young_ref = await open_case(client, settings, given="Bathsheba", born=date(2020, 3, 1))
    open_ref = await open_case(client, settings, given="Tamsin", born=date(2013, 6, 1))
    await close_case(client, erased_ref)
    await close_case(client, young_ref)

    engine = make_engine(settings.database_url)
    store = DocumentStore(settings.document_dir, Keyring.from_settings(settings))
    own = {
        ref: store.put(f"GP letter for {ref}".encode(), content_type=PLAIN_TEXT).doc_ref
        for ref in (erased_ref, young_ref, open_ref)
    }
    shared = store.put(b"Leaflet given to both families", content_type=PLAIN_TEXT).doc_ref

    async def all_projected() -> bool:
        with session_scope(engine) as s:
            return len(s.exec(select(CaseRow)).all()) == 3

    assert await eventually(all_projected)
    with session_scope(engine) as s:
        for ref in (erased_ref, young_ref, open_ref):
            for doc_ref in (own[ref], shared):
                s.add(
                    DocumentRow(
                        doc_ref=doc_ref,
                        case_ref=ref,
                        content_type=PLAIN_TEXT,
                        size_bytes=1,
                        kind="gp_letter",
                        stored_by="officer-retention",
                        stored_at=datetime.now(UTC),
                    )
                )
            s.add(
                AccessRecord(
                    at=datetime.now(UTC),
                    actor_role="caseworker",
                    actor_name="officer-retention",
                    case_ref=ref,
                    what="case view",
                )
            )
    with session_scope(engine) as s:
        mails = {
            ref: [m.message_id for m in s.exec(select(SentEmail).where(SentEmail.case_ref == ref))]
            for ref in (erased_ref, young_ref)
        }
    outbox = {ref: [outbox_file_for(settings.outbox_dir, m) for m in ids] for ref, ids in mails.items()}
    assert outbox[erased_ref] and all(p.is_file() for p in outbox[erased_ref]), (
        "the closing email was not kept"
    )

    # The daily sweep, now.
    with structlog.testing.capture_logs() as logs:
        await schedule.trigger()

        async def finished_sweep() -> SweepReport | None:
            actions = (await schedule.describe()).info.recent_actions
            if not actions:
                return None
            run = actions[-1].action
            handle = client.get_workflow_handle(
                run.workflow_id, run_id=run.first_execution_run_id, result_type=SweepReport
            )
            return await handle.result()

        report = await eventually(finished_sweep)
    assert report is not None and report.erased == 1 and report.skipped == 0

    # The erased case: history gone, rows gone, its own files gone, a tombstone left.
    assert await eventually(lambda: _not(history_exists(client, erased_ref)), timeout=20)
    with session_scope(engine) as s:
        assert s.get(CaseRow, erased_ref) is None
        for table in (TimelineRow, TaskRow, DocumentRow, SentEmail, AccessRecord):
            assert not s.exec(select(table).where(table.case_ref == erased_ref)).all(), table.__tablename__
        tombstone = s.get(ErasureTombstone, erased_ref)
        assert tombstone is not None
        assert (tombstone.school_urn, tombstone.stage_reached, tombstone.close_outcome) == (
            "120001",
            "notified",
            "withdrawn",
        )
        today = utc_today()
        assert tombstone.closed_month == f"{today:%Y-%m}" and len(tombstone.opened_month) == 7
        assert "Eustacia" not in repr(tombstone) and "2013" not in repr(tombstone)
    assert not store.exists(own[erased_ref])
    assert not any(p.exists() for p in outbox[erased_ref])
    erasures = [e for e in logs if e["event"] == "case_erased"]
    assert [e["case_ref"] for e in erasures] == [erased_ref]
    assert "Eustacia" not in repr(logs)

    # The others are untouched: histories, rows, documents (the shared one too), emails. The closed
    # case's retention date now follows the setting (10th birthday), not the 25-year default.
    with session_scope(engine) as s:
        assert s.get(CaseRow, young_ref).retain_until == date(2030, 4, 1)
    for ref in (young_ref, open_ref):
        assert await history_exists(client, ref)
        assert store.exists(own[ref])
        with session_scope(engine) as s:
            assert s.get(CaseRow, ref) is not None
            assert s.get(ErasureTombstone, ref) is None
            assert len(s.exec(select(DocumentRow).where(DocumentRow.case_ref == ref)).all()) == 2
            assert s.exec(select(AccessRecord).where(AccessRecord.case_ref == ref)).all()
    assert store.exists(shared)
    assert all(p.is_file() for p in outbox[young_ref])
    engine.dispose()


async def _not(awaitable) -> bool:  # noqa: ANN001
    return not await awaitable
