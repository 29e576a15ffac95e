"""The raw Temporal baselines: trivial workflows with the same shape as the service's calls and
nothing else (no rules, no state, no read model), so a benchmark can put our path beside what
Temporal itself costs on the same server, client set-up and machine."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from pydantic import BaseModel
from temporalio import activity, workflow

_QUICK = timedelta(seconds=30)


class Step(BaseModel):
    """One update of the lifecycle baselines: run this many trivial activities one after another
    (then, `RawCaseWorkflow` only, each of `rounds` that many at once), then answer; start
    `background` more that the answer does not wait for (the run waits for them before it ends)."""

    activities: int = 1
    rounds: list[int] = []
    background: int = 0
    last: bool = False


class RawPlan(BaseModel):
    """What a `RawCaseWorkflow` run does outside its updates: activities awaited before its first
    update may start, and activities awaited after the last one (and every background activity)."""

    at_start: int = 0
    at_end: int = 0


@activity.defn
async def raw_noop(value: str) -> str:
    return value


@workflow.defn
class RawNoteWorkflow:
    """Takes updates that append a note: the baseline of one API action."""

    def __init__(self) -> None:
        self.notes: list[str] = []
        self.done = False

    @workflow.run
    async def run(self) -> int:
        await workflow.wait_condition(lambda: self.done)
        return len(self.notes)

    @workflow.update
    async def note(self, text: str) -> int:
        self.notes.append(text)
        return len(self.notes)

    @workflow.update
    async def note_with_activity(self, text: str) -> int:
        """As `note`, plus one trivial activity awaited before answering (our commands project the
        case to the read model before they answer)."""
        self.notes.append(await workflow.execute_activity(raw_noop, text, start_to_close_timeout=_QUICK))
        return len(self.notes)

    @workflow.signal
    def finish(self) -> None:
        self.done = True


@workflow.defn
class RawLifecycleWorkflow:
    """Runs `at_start` activities, then takes updates that each run some activities; the `last`
    one ends the workflow: the baseline of a case's whole life."""

    def __init__(self) -> None:
        self.done = False

    @workflow.run
    async def run(self, at_start: int) -> str:
        for _ in range(at_start):
            await workflow.execute_activity(raw_noop, "start", start_to_close_timeout=_QUICK)
        await workflow.wait_condition(lambda: self.done)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return "closed"

    @workflow.update
    async def step(self, step: Step) -> int:
        for _ in range(step.activities):
            await workflow.execute_activity(raw_noop, "step", start_to_close_timeout=_QUICK)
        if step.last:
            self.done = True
        return step.activities


@workflow.defn
class RawCaseWorkflow:
    """The baseline of a case's whole life, shaped as the case is (bench.lifecycle_throughput counts
    the shape from a finished case's history): `at_start` activities the first update waits for,
    updates that each await some activities and start others in the background, and, once the
    `last` update has answered, every background activity finished and `at_end` more awaited before
    the run ends (as a case drains its emails and postings and writes its final projection)."""

    def __init__(self) -> None:
        self.done = False
        self.started = False
        self.background: list[asyncio.Task] = []

    @workflow.run
    async def run(self, plan: RawPlan) -> str:
        for _ in range(plan.at_start):
            await workflow.execute_activity(raw_noop, "start", start_to_close_timeout=_QUICK)
        self.started = True
        await workflow.wait_condition(lambda: self.done)
        await workflow.wait_condition(workflow.all_handlers_finished)
        await asyncio.gather(*self.background)
        for _ in range(plan.at_end):
            await workflow.execute_activity(raw_noop, "end", start_to_close_timeout=_QUICK)
        return "closed"

    @workflow.update
    async def step(self, step: Step) -> int:
        await workflow.wait_condition(lambda: self.started)
        for _ in range(step.activities):
            await workflow.execute_activity(raw_noop, "step", start_to_close_timeout=_QUICK)
        for size in step.rounds:
            await asyncio.gather(*(workflow.execute_activity(raw_noop, "step", start_to_close_timeout=_QUICK)
                                   for _ in range(size)))
        for _ in range(step.background):
            self.background.append(asyncio.ensure_future(
                workflow.execute_activity(raw_noop, "background", start_to_close_timeout=_QUICK)))
        if step.last:
            self.done = True
        return step.activities


@workflow.defn
class RawTimerWorkflow:
    """Waits on one long timer: the baseline of an open case waiting for its next alarm."""

    @workflow.run
    async def run(self, days: int) -> None:
        await workflow.sleep(timedelta(days=days))


RAW_WORKFLOWS = [RawNoteWorkflow, RawLifecycleWorkflow, RawCaseWorkflow, RawTimerWorkflow]
RAW_ACTIVITIES = [raw_noop]
