"""Cases stuck for a technical reason, for the supervisor's "Needs attention" page, from Temporal's
own signals:

- a case whose **workflow task keeps failing** (its code fails, or no longer matches its history):
  the visibility query `WORKFLOW_TASK_FAILING` (the server sets `TemporalReportedProblems` while a
  workflow task is failing and clears it when one completes), then each case's pending workflow
  task (attempt, since when);
- a case whose **activity keeps failing** (mail refused, the database or finance down): Temporal's
  visibility has no attribute for that, so the candidates are the worker's records
  (`activities.failing_attempts`), and each is confirmed by describing the case: only an activity
  Temporal still reports as pending is shown, with Temporal's attempt count.

Both are bounded (`LIMIT` cases each), so the page costs at most a few dozen describe calls. No
personal or health data: a case reference, the kind of work and the kind of failure."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from temporalio.client import Client
from temporalio.service import RPCError

from api.problems import TemporalUnavailable
from domain.case_commands import CASE_REF_PATTERN
from readmodel.tables import FailingActivity

#: The documented query (README, supervisor section) for a case whose workflow task keeps failing.
WORKFLOW_TASK_FAILING = "ExecutionStatus = 'Running' AND TemporalReportedProblems IS NOT NULL"
LIMIT = 50
#: How long the page waits for Temporal before showing what it has, with a warning.
TEMPORAL_WAIT_SECONDS = 10.0
_CASE_REF = re.compile(CASE_REF_PATTERN)

#: `TemporalReportedProblems` holds e.g. "category=WorkflowTaskFailed" and
#: "cause=WorkflowTaskFailedCauseWorkflowWorkerUnhandledFailure"; the causes in the users' words.
CAUSE_WORDS = {
    "WorkflowTaskFailedCauseWorkflowWorkerUnhandledFailure": "the case's workflow code fails",
    "WorkflowTaskFailedCauseNonDeterministicError":
        "the case's workflow code no longer matches its history (a deployment changed it)",
    "WorkflowTaskTimedOut": "the worker does not finish the case's next step in time",
}


@dataclass(frozen=True)
class StuckCase:
    case_ref: str
    what: str  # e.g. "Email the consent request to the parent: the mail server refused ...; attempt 7"
    since: datetime | None


@dataclass(frozen=True)
class StuckCases:
    cases: list[StuckCase]
    #: Set when Temporal could not be asked: the list is then the worker's records, unconfirmed.
    unconfirmed: str | None = None


def _problem_words(problems: list[str]) -> str:
    found = dict(p.split("=", 1) for p in problems if "=" in p)
    cause = found.get("cause") or found.get("category") or ""
    return CAUSE_WORDS.get(cause, CAUSE_WORDS["WorkflowTaskFailedCauseWorkflowWorkerUnhandledFailure"])


def _when(timestamp: Any) -> datetime | None:
    return timestamp.ToDatetime(tzinfo=UTC) if timestamp is not None and timestamp.seconds else None


async def _failing_workflow_tasks(client: Client) -> list[StuckCase]:
    found: list[StuckCase] = []
    async for execution in client.list_workflows(WORKFLOW_TASK_FAILING, limit=LIMIT):
        if not _CASE_REF.match(execution.id):
            continue
        problems = [str(p) for p in execution.search_attributes.get("TemporalReportedProblems", [])]
        try:
            described = (await client.get_workflow_handle(execution.id).describe()).raw_description
        except RPCError:
            continue  # ended in between
        task = described.pending_workflow_task
        attempt = task.attempt if described.HasField("pending_workflow_task") else 0
        what = f"The case cannot go on: {_problem_words(problems)}"
        found.append(StuckCase(execution.id, what + (f"; attempt {attempt}" if attempt else ""),
                               _when(task.original_scheduled_time) if attempt else None))
    return found


async def _confirmed(client: Client, case_ref: str, rows: list[FailingActivity]) -> list[StuckCase]:
    try:
        described = (await client.get_workflow_handle(case_ref).describe()).raw_description
    except RPCError:
        return []  # no such case now (ended and deleted): a record left behind
    pending = {a.activity_id: a for a in described.pending_activities}
    return [StuckCase(case_ref, f"{row.activity}: {row.reason}; attempt {pending[row.activity_id].attempt}",
                      row.since)
            for row in rows if row.activity_id in pending and pending[row.activity_id].attempt > 1]


async def technically_stuck(client_factory: Any, rows: list[FailingActivity]) -> StuckCases:
    """The cases whose workflow task or an activity keeps failing, as Temporal reports them now."""
    by_case: dict[str, list[FailingActivity]] = {}
    for row in rows[:LIMIT]:
        by_case.setdefault(row.case_ref, []).append(row)
    try:
        async with asyncio.timeout(TEMPORAL_WAIT_SECONDS):
            client: Client = await client_factory()
            tasks = await _failing_workflow_tasks(client)
            confirmed = await asyncio.gather(*(_confirmed(client, ref, rs) for ref, rs in by_case.items()))
    except (TimeoutError, TemporalUnavailable, RPCError, RuntimeError, OSError) as exc:
        recorded = [StuckCase(r.case_ref, f"{r.activity}: {r.reason}; attempt {r.attempt}", r.since)
                    for r in rows[:LIMIT]]
        return StuckCases(recorded, unconfirmed=f"Temporal could not be asked ({type(exc).__name__})")
    listed = tasks + [case for cases in confirmed for case in cases]
    return StuckCases(sorted(listed, key=lambda c: c.since or datetime.max.replace(tzinfo=UTC)))
