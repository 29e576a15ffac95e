"""The daily retention sweep: every closed case past its retention date is erased everywhere.

A Temporal Schedule (`retention-sweep`, created or brought up to date by every worker at start,
`ensure_retention_schedule`) starts `RetentionSweepWorkflow` once a day at 02:00 UTC. The workflow
asks for the closed cases past retention in pages (by case reference), and erases each: first its
workflow histories, then its documents, outbox emails and read-model rows, leaving a statistical
tombstone (activities/retention.py). A case that cannot be erased today (its workflow still runs,
or an activity keeps failing) is skipped and found again by tomorrow's sweep. A long sweep
continues as new with its place kept.
"""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta

from pydantic import BaseModel
from temporalio import workflow
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleCalendarSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.retention import ErasureReceipt, RetentionQuery

SCHEDULE_ID = "retention-sweep"
SWEEP_WORKFLOW_ID = "retention-sweep-run"
SWEEP_HOUR_UTC = 2
PAGE_SIZE = 200

_FIND_TIMEOUT = timedelta(minutes=10)
_ERASE_TIMEOUT = timedelta(minutes=2)
_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    maximum_interval=timedelta(minutes=1),
    maximum_attempts=5,
    non_retryable_error_types=["CaseStillRunning", "CaseNotClosed", "BadCaseRef"],
)


class SweepProgress(BaseModel):
    """Where a sweep is: carried across continue-as-new. `as_of` stays the day the sweep began."""

    as_of: date | None = None
    after: str | None = None
    erased: int = 0
    skipped: int = 0


class SweepReport(BaseModel):
    as_of: date
    erased: int
    skipped: int


@workflow.defn
class RetentionSweepWorkflow:
    @workflow.run
    async def run(self, progress: SweepProgress | None = None) -> SweepReport:
        progress = progress or SweepProgress()
        as_of = progress.as_of or workflow.now().date()
        after, erased, skipped = progress.after, progress.erased, progress.skipped
        while True:
            due: list[str] = await workflow.execute_activity(
                "find_cases_past_retention",
                RetentionQuery(as_of=as_of, after=after, limit=PAGE_SIZE),
                result_type=list[str],
                start_to_close_timeout=_FIND_TIMEOUT,
                retry_policy=_RETRY,
            )
            for case_ref in due:
                if await self._erase(case_ref):
                    erased += 1
                else:
                    skipped += 1
            if len(due) < PAGE_SIZE:
                break
            after = due[-1]
            if workflow.info().is_continue_as_new_suggested():
                workflow.continue_as_new(
                    SweepProgress(as_of=as_of, after=after, erased=erased, skipped=skipped)
                )
        workflow.logger.info("retention sweep done", extra={"erased": erased, "skipped": skipped})
        return SweepReport(as_of=as_of, erased=erased, skipped=skipped)

    async def _erase(self, case_ref: str) -> bool:
        try:
            await workflow.execute_activity(
                "delete_case_histories",
                case_ref,
                result_type=int,
                start_to_close_timeout=_ERASE_TIMEOUT,
                retry_policy=_RETRY,
            )
            await workflow.execute_activity(
                "erase_case_records",
                case_ref,
                result_type=ErasureReceipt,
                start_to_close_timeout=_ERASE_TIMEOUT,
                retry_policy=_RETRY,
            )
        except ActivityError:
            workflow.logger.warning("case not erased today", extra={"case_ref": case_ref})
            return False
        return True


def retention_schedule(task_queue: str) -> Schedule:
    """The sweep, daily at 02:00 UTC; a sweep still running when the next is due skips that one."""
    return Schedule(
        action=ScheduleActionStartWorkflow(
            RetentionSweepWorkflow.run,
            id=SWEEP_WORKFLOW_ID,
            task_queue=task_queue,
            execution_timeout=timedelta(hours=23),
        ),
        spec=ScheduleSpec(
            calendars=[ScheduleCalendarSpec(hour=(ScheduleRange(SWEEP_HOUR_UTC),))],
        ),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP, catchup_window=timedelta(days=1)),
    )


async def ensure_retention_schedule(client: Client, task_queue: str) -> str:
    """Create the schedule, or bring an existing one to this task queue (keeping whether an operator
    paused it). Safe for many workers starting at once. Answers "created", "updated" or "unchanged"."""
    wanted = retention_schedule(task_queue)
    try:
        await client.create_schedule(SCHEDULE_ID, wanted)
        return "created"
    except ScheduleAlreadyRunningError:
        pass
    changed = False

    def _update(existing: ScheduleUpdateInput) -> ScheduleUpdate | None:
        nonlocal changed
        current = existing.description.schedule
        action = current.action
        if (
            isinstance(action, ScheduleActionStartWorkflow)
            and action.workflow == "RetentionSweepWorkflow"
            and action.task_queue == task_queue
            and current.spec.calendars == wanted.spec.calendars
        ):
            return None
        changed = True
        return ScheduleUpdate(schedule=dataclasses.replace(wanted, state=current.state))

    await client.get_schedule_handle(SCHEDULE_ID).update(_update)
    return "updated" if changed else "unchanged"
