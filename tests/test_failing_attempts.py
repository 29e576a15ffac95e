"""The worker's record of a case's failing activity (`activities.failing_attempts`), on the real dev
server: from the third failed attempt a row says what fails and why in the users' words; it goes
when the activity succeeds; and when the database is the thing that is down, the record is given up
and the activity's own failures and eventual result reach Temporal unchanged."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, select
from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

from activities.failing_attempts import FailingAttemptsInterceptor
from readmodel.database import get_engine
from readmodel.migrate import upgrade
from readmodel.tables import FailingActivity
from tests.fault_support import new_case
from tests.support import eventually, make_settings

finance_down = threading.Event()


@activity.defn(name="post_recoupment")
def post_recoupment_while_finance_is_down(_: str) -> str:
    if finance_down.is_set():
        raise ApplicationError("finance refused: the ledger of Ada Lovelace's school", type="FinanceUnavailable")
    return "posted"


@workflow.defn(name="FailingAttemptsCase", sandboxed=False)
class PostsOneRecoupment:
    @workflow.run
    async def run(self) -> str:
        return await workflow.execute_activity(
            "post_recoupment", "autumn", start_to_close_timeout=timedelta(seconds=10),
            retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=100), backoff_coefficient=1.0))


async def test_a_failing_activity_is_recorded_from_its_third_attempt_and_cleared_when_it_succeeds(
    temporal_client: Client, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path)
    upgrade(settings.database_url)
    engine = get_engine(settings.database_url)
    queue, case_ref = f"attempts-{uuid.uuid4().hex}", new_case().case_ref
    finance_down.set()
    async with Worker(temporal_client, task_queue=queue, workflows=[PostsOneRecoupment],
                      activities=[post_recoupment_while_finance_is_down], activity_executor=ThreadPoolExecutor(max_workers=2),
                      interceptors=[FailingAttemptsInterceptor(settings.database_url)]):
        handle = await temporal_client.start_workflow(PostsOneRecoupment.run, id=case_ref, task_queue=queue)

        def recorded() -> FailingActivity | None:
            with Session(engine) as s:
                return s.exec(select(FailingActivity).where(FailingActivity.case_ref == case_ref)).first()

        row = await eventually(recorded, timeout=30, what="the failing activity recorded")
        assert row.attempt >= 3
        assert row.activity == "Post the school's recoupment to finance"
        assert row.reason == "an unexpected error (FinanceUnavailable)"  # its type, never its message
        assert "Ada" not in row.model_dump_json()

        finance_down.clear()
        assert await handle.result() == "posted"
        assert recorded() is None


async def test_with_the_database_down_the_activity_fails_and_succeeds_as_before(
    temporal_client: Client, tmp_path: Path
) -> None:
    queue, case_ref = f"attempts-{uuid.uuid4().hex}", new_case().case_ref
    unreachable = "postgresql+psycopg://casework@127.0.0.1:9/casework?connect_timeout=1"
    finance_down.set()
    async with Worker(temporal_client, task_queue=queue, workflows=[PostsOneRecoupment],
                      activities=[post_recoupment_while_finance_is_down], activity_executor=ThreadPoolExecutor(max_workers=2),
                      interceptors=[FailingAttemptsInterceptor(unreachable)]):
        handle = await temporal_client.start_workflow(PostsOneRecoupment.run, id=case_ref, task_queue=queue)

        async def failing_for_finance() -> bool:
            pending = (await handle.describe()).raw_description.pending_activities
            return any(a.attempt >= 5 and a.last_failure.application_failure_info.type == "FinanceUnavailable"
                       for a in pending)

        await eventually(failing_for_finance, timeout=30, what="the activity's own failure reported to Temporal")
        finance_down.clear()
        assert await handle.result() == "posted"


@pytest.fixture(autouse=True)
def _finance_back() -> Iterator[None]:
    yield
    finance_down.clear()
