"""The mail server is down while cases go from notification to closure: every command still answers
at once, the emails are retried, and once the mail server is back each arrives exactly once; no case
fails or is left waiting.

Real dev server, the worker with the real activities, a real SMTP server that is stopped (connections
refused) and started again on the same port."""

from __future__ import annotations

import asyncio
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import PendingActivityState
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.catalog import build_activities
from domain.stages import Stage
from readmodel.migrate import upgrade
from tests.fault_support import (
    CLOSURES_FINAL,
    LIFECYCLE_TEMPLATES,
    SmtpServer,
    command,
    lifecycle,
    new_case,
    start_case,
)
from tests.support import eventually, make_settings
from workflows.case_workflow import CaseWorkflow

pytestmark = pytest.mark.slow

CASES = 3


async def failed_mail_attempts(handle: WorkflowHandle) -> int:
    """How many `send_email` activities of the case are waiting to retry after a failed attempt."""
    described = await handle.describe()
    return sum(
        1
        for a in described.raw_description.pending_activities
        if a.activity_type.name == "send_email"
        and a.attempt >= 2
        and a.state != PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
        # (the failure's message is encrypted with the payloads; its type is not)
        and a.last_failure.application_failure_info.type == "SmtpUnavailable"
    )


async def test_mail_server_down_delays_the_emails_but_no_case(
    temporal_dev_server: WorkflowEnvironment, tmp_path: Path
) -> None:
    smtp = SmtpServer()  # not started: the mail server is down from the beginning
    client = temporal_dev_server.client
    settings = make_settings(
        tmp_path,
        clocks=CLOSURES_FINAL,  # each case's workflow ends at its closure: the test awaits its result
        temporal_address=client.service_client.config.target_host,
        task_queue=f"smtp-down-{uuid.uuid4().hex}",
        smtp_host="127.0.0.1",
        smtp_port=smtp.port,
    )
    upgrade(settings.database_url)
    with ThreadPoolExecutor(max_workers=8) as executor:
        async with Worker(client, task_queue=settings.task_queue, workflows=[CaseWorkflow],
                          activities=build_activities(settings), activity_executor=executor):
            try:
                cases = [new_case() for _ in range(CASES)]
                handles = [await start_case(client, case, settings.task_queue) for case in cases]

                # Every command answers promptly although none of its emails can go out.
                slowest = 0.0
                for case, handle in zip(cases, handles, strict=True):
                    for n, (action, cmd) in enumerate(lifecycle(case)):
                        began = time.monotonic()
                        view = await command(handle, action, cmd, update_id=f"{case.case_ref}:{n}")
                        slowest = max(slowest, time.monotonic() - began)
                    assert view.state.stage is Stage.CLOSED
                assert slowest < 10, f"a command took {slowest:.1f} s while the mail server was down"
                assert smtp.mailbox.messages == []

                # The emails have failed and are waiting to be retried, not given up.
                for handle in handles:
                    await eventually(lambda h=handle: failed_mail_attempts(h), timeout=20,
                                     what=f"{handle.id}: a failed email waiting for its retry")

                smtp.start()  # the mail server is back, on the same port
                results = await asyncio.wait_for(asyncio.gather(*(h.result() for h in handles)), timeout=60)
                views = [await h.query("view") for h in handles]
            finally:
                smtp.stop()

    assert [r.outcome for r in results] == ["left_area"] * CASES
    # No case raised "email could not be sent": the mail was late, not lost.
    assert [a for v in views for a in v["state"]["alerts"] if a["kind"] == "email_failed"] == []
    deliveries = smtp.mailbox.deliveries_by_message_id()
    assert {mid: n for mid, n in deliveries.items() if n != 1} == {}
    for case in cases:
        assert smtp.mailbox.templates_for(case.case_ref) == LIFECYCLE_TEMPLATES, case.case_ref
