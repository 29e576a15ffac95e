"""A three-school-year case on Temporal's time-skipping test server (`time_skipping_world` below:
the real CaseWorkflow, the real activities, a SQLite read model, mail to the outbox, the fixed
2029-30 terms of bench/data/long_case_terms.toml): notified in January 2030, in
provision from 21 January, a note every fortnight and a review every eight weeks (twenty in all),
then reintegration and a full-time return in 2033. Every alarm on the way fires (reminders,
escalations, termly recoupment charges).

Measures the runs the case took (continue-as-new) and the events of each run, then the replay time
of the largest run's history with `temporalio.worker.Replayer` (median of several replays), beside
the replay of a trivial workflow history of about the same number of events, driven on the same
server (bench/raw_workflows.py: updates that each run one activity).

    .venv/bin/python -m bench.long_case [--replays 7] [--keep DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as dt_time
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlmodel import SQLModel, create_engine
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle, WorkflowHistory
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer, Worker

import readmodel.tables  # noqa: F401  (registers the tables)
from activities.catalog import build_activities
from bench.raw_workflows import RAW_ACTIVITIES, RawLifecycleWorkflow, Step
from bench.support import bench_settings, header, ms, new_key, test_server_path, until
from domain.case_commands import (
    AbsenceReason,
    AddNote,
    AgreeReintegrationPlan,
    CommissionProvision,
    ConfirmFullTimeReturn,
    ConsentDecision,
    Decide,
    DecisionOutcome,
    OpenCase,
    RecordConsent,
    RecordReviewOutcome,
    RequestConsent,
    ReviewOutcome,
)
from domain.case_state import CaseView
from domain.people import Actor, Child, Parent, Role
from domain.provision import Provision, ProvisionKind
from domain.search_attributes import add_request
from infra.logging import configure_logging
from infra.settings import Settings
from infra.temporal_client import build_data_converter
from workflows.case_workflow import CaseWorkflow

START = date(2030, 1, 21)
END = date(2033, 1, 21)  # three school years of provision
REVIEWS = 20
NOTE = "Fortnightly call with the family and the tutor: progress steady, attendance at sessions good."
TERMS = Path(__file__).parent / "data" / "long_case_terms.toml"
SCHOOL = Actor(role=Role.SCHOOL, name="school-120001")
OFFICER = Actor(role=Role.CASEWORKER, name="officer-jb")


# -- the case on a time-skipping server -----------------------------------------------------------


def notification(first_day: date) -> OpenCase:
    """A school's notification for a fictional child, off sick from `first_day` (the same child as
    the workflow tests', so the payload sizes compare with earlier runs)."""
    return OpenCase(
        case_ref="MN-30-" + uuid.uuid4().hex[:6].upper(),
        school_urn="120001",
        child=Child(given_name="Amelia", family_name="Testcase", date_of_birth=date(2018, 5, 14)),
        parent=Parent(name="Jordan Testcase", email="parent@family.example"),
        first_day_of_absence=first_day,
        reason=AbsenceReason.PHYSICAL_ILLNESS,
        health_summary="Post-operative recovery, leukaemia treatment",
        actor=SCHOOL,
    )


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


async def _idle(handle: WorkflowHandle) -> bool:
    """No workflow task outstanding and no activity open, by the workflow's history."""
    events = (await handle.fetch_history()).events
    closed = {getattr(e, _ACTIVITY_CLOSED[e.event_type]).scheduled_event_id
              for e in events if e.event_type in _ACTIVITY_CLOSED}
    scheduled = {e.event_id for e in events if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED}
    last_task = next((e.event_type for e in reversed(events) if e.event_type in _WORKFLOW_TASK_EVENTS), None)
    return scheduled <= closed and last_task == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED


@dataclass
class Case:
    env: WorkflowEnvironment
    handle: WorkflowHandle

    async def do(self, action: str, command: Any) -> CaseView:
        """The command as the API sends it (the API writes the answer to the read model itself)."""
        if "caller_writes_read_model" in type(command).model_fields:
            command = command.model_copy(update={"caller_writes_read_model": True})
        return await self.handle.execute_update(action, command, result_type=CaseView)

    async def go_to(self, day: date, hour: int = 9) -> None:
        """Let time pass until `hour` o'clock UTC on `day`, then until the worker has done what the
        timers on the way started."""
        await travel_to(self.env, day, hour)
        await until(f"{self.handle.id} idle", lambda: _idle(self.handle))


async def travel_to(env: WorkflowEnvironment, day: date, hour: int = 9) -> None:
    target = datetime.combine(day, dt_time(hour), tzinfo=UTC)
    now = await env.get_current_time()
    if target > now:
        await env.sleep(target - now)


@dataclass
class World:
    env: WorkflowEnvironment
    settings: Settings
    task_queue: str

    async def open_case(self, case: OpenCase) -> Case:
        handle = await self.env.client.start_workflow(CaseWorkflow.run, case, id=case.case_ref,
                                                      task_queue=self.task_queue)

        async def live() -> bool:  # rules loaded, the first view answers with its tasks
            return bool((await handle.query(CaseWorkflow.view, result_type=CaseView)).pending_tasks)

        await until(f"{case.case_ref} answering", live)
        return Case(self.env, handle)


@contextlib.asynccontextmanager
async def time_skipping_world(settings: Settings) -> AsyncIterator[World]:
    """A time-skipping Temporal server (search attributes registered), a worker with the real
    activities on a fresh task queue, and the read model's tables."""
    SQLModel.metadata.create_all(create_engine(settings.database_url))
    async with await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=test_server_path(), data_converter=build_data_converter(settings),
    ) as env:
        await env.client.operator_service.add_search_attributes(add_request(env.client.namespace))
        task_queue = f"long-case-{uuid.uuid4()}"
        with ThreadPoolExecutor(max_workers=8) as executor:
            async with Worker(env.client, task_queue=task_queue, workflows=[CaseWorkflow],
                              activities=build_activities(settings), activity_executor=executor):
                yield World(env, settings, task_queue)


# -- the drive and the figures --------------------------------------------------------------------


async def runs_of(client: Client, workflow_id: str) -> list[WorkflowHistory]:
    """Every run of a workflow, first to last, following continue-as-new links backwards."""
    histories: list[WorkflowHistory] = []
    run_id: str | None = None
    while True:
        history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        histories.append(history)
        started = history.events[0].workflow_execution_started_event_attributes
        run_id = started.continued_execution_run_id or None
        if run_id is None:
            return list(reversed(histories))


async def drive_long_case(world: Any) -> tuple[str, dict[str, int]]:
    counts = {"notes": 0, "reviews": 0, "rejected": 0}
    await travel_to(world.env, date(2030, 1, 7), hour=8)
    case = await world.open_case(notification(date(2030, 1, 7)))
    await case.do("request_consent", RequestConsent(actor=OFFICER))
    await case.do("record_consent", RecordConsent(actor=OFFICER, decision=ConsentDecision.REFUSED))
    await case.do("decide", Decide(actor=OFFICER, outcome=DecisionOutcome.LA_PROVISION, reason="GP letter held"))
    await case.go_to(START)
    await case.do("commission_provision", CommissionProvision(
        actor=OFFICER, officer="officer-jb",
        provisions=[Provision(kind=ProvisionKind.HOME_TUITION, provider="County tuition",
                              hours_per_week=Decimal(25), start_date=START, weekly_cost=Decimal("500.00"))]))
    day, fortnight = START + timedelta(days=14), 1
    while day < END:
        await case.go_to(day)
        await case.do("add_note", AddNote(actor=OFFICER, text=NOTE))
        counts["notes"] += 1
        if fortnight % 4 == 0 and counts["reviews"] < REVIEWS - 1:
            await case.do("record_review_outcome", RecordReviewOutcome(
                actor=OFFICER, outcome=ReviewOutcome.CONTINUE, held_on=day))
            counts["reviews"] += 1
        day, fortnight = day + timedelta(days=14), fortnight + 1
    await case.do("record_review_outcome", RecordReviewOutcome(
        actor=OFFICER, outcome=ReviewOutcome.START_REINTEGRATION, held_on=day - timedelta(days=14)))
    counts["reviews"] += 1
    await case.go_to(END)
    await case.do("agree_reintegration_plan", AgreeReintegrationPlan(
        actor=OFFICER, start_date=END, end_date=END + timedelta(days=18), hours_per_week=15))
    await case.go_to(END + timedelta(days=21))
    view = await case.do("confirm_full_time_return", ConfirmFullTimeReturn(
        actor=OFFICER, returned_on=END + timedelta(days=21)))
    assert view.state.stage.value == "closed", view.state.stage
    await world.env.client.get_workflow_handle(view.state.case_ref).result()
    return view.state.case_ref, counts


async def raw_history(world: Any, events: int) -> WorkflowHistory:
    """A trivial workflow's history of about `events` events (one update + one activity ~ 11 events)."""
    queue = f"raw-{uuid.uuid4()}"
    client = world.env.client
    async with Worker(client, task_queue=queue, workflows=[RawLifecycleWorkflow], activities=RAW_ACTIVITIES):
        handle = await client.start_workflow(RawLifecycleWorkflow.run, 0, id=f"raw-long-{uuid.uuid4()}",
                                             task_queue=queue)
        updates = max(1, events // 11)
        for n in range(updates):
            await handle.execute_update(RawLifecycleWorkflow.step, Step(activities=1, last=n == updates - 1))
        await handle.result()
        return await handle.fetch_history()


def projection_sizes(history: WorkflowHistory) -> tuple[int, int]:
    """Bytes of the first and the last read-model write's activity input in a run (the whole case view
    for `project_case`; a reference for `project_case_by_reference`)."""
    sizes = [e.ByteSize() for e in history.events
             if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
             and e.activity_task_scheduled_event_attributes.activity_type.name in ("project_case", "project_case_by_reference")]
    return (sizes[0], sizes[-1]) if sizes else (0, 0)


def save(folder: Path, histories: list[WorkflowHistory]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for n, history in enumerate(histories, start=1):
        (folder / f"long_case_run{n}.json").write_text(history.to_json())


async def replay_seconds(replayer: Replayer, history: WorkflowHistory, times: int) -> list[float]:
    samples = []
    for _ in range(times):
        begin = time.perf_counter()
        await replayer.replay_workflow(history)
        samples.append(time.perf_counter() - begin)
    return samples


async def run(replays: int, keep: Path | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-long-") as tmp:
        key = new_key()
        # The in-process worker's INFO lines would bury the figures; warnings still show.
        configure_logging(bench_settings(Path(tmp), log_level="WARNING", log_format="console"))
        begin = time.perf_counter()
        settings = bench_settings(Path(tmp), environment="test", log_format="console", encryption_keys=key,
                                  school_calendar_file=TERMS)
        async with time_skipping_world(settings) as world:  # commands go as the API sends them
            ref, counts = await drive_long_case(world)
            out["drive_seconds"] = time.perf_counter() - begin
            out["counts"] = counts
            histories = await runs_of(world.env.client, ref)
            out["runs"] = [len(h.events) for h in histories]
            out["cans"] = sum(h.events[-1].event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW
                              for h in histories)
            largest = max(histories, key=lambda h: len(h.events))
            out["largest_bytes"] = len(largest.to_json())
            sizes = [e.ByteSize() for e in largest.events]
            out["event_bytes"] = (statistics.median(sizes), max(sizes), sum(sizes))
            out["first_vs_last_projection"] = projection_sizes(largest)
            raw = await raw_history(world, len(largest.events))
            out["raw_events"] = len(raw.events)
            converter = build_data_converter(world.settings)
        if keep is not None:
            save(keep, histories)
        ours = Replayer(workflows=[CaseWorkflow], data_converter=converter)
        baseline = Replayer(workflows=[RawLifecycleWorkflow], data_converter=converter)
        await replay_seconds(ours, largest, 1)  # warm-up: imports, sandbox
        await replay_seconds(baseline, raw, 1)
        out["replay_ours"], out["replay_raw"] = [], []
        for r in range(replays):  # interleaved
            pair = [("replay_ours", ours, largest), ("replay_raw", baseline, raw)]
            for name, replayer, history in pair if r % 2 == 0 else reversed(pair):
                out[name] += await replay_seconds(replayer, history, 1)
    return out


def report(out: dict[str, Any]) -> None:
    header("a three-school-year case on the time-skipping server")
    c = out["counts"]
    print(f"case: {c['notes']} fortnightly notes, {c['reviews']} reviews, reintegration, full-time return; "
          f"driven in {out['drive_seconds']:.0f}s")
    runs = out["runs"]
    print(f"runs: {len(runs)} ({out['cans']} continue-as-new); events per run: {runs}; total {sum(runs)}")
    print(f"largest run: {max(runs)} events, {out['largest_bytes'] / 1024:.0f} KiB of history JSON")
    median_bytes, max_bytes, total = out["event_bytes"]
    first, last = out["first_vs_last_projection"]
    print(f"  event size: median {median_bytes:.0f} B, largest {max_bytes / 1024:.1f} KiB, "
          f"total {total / 1024 / 1024:.1f} MiB (protobuf); project_case input grows "
          f"{first / 1024:.1f} -> {last / 1024:.1f} KiB over the run")
    ours, raw = out["replay_ours"], out["replay_raw"]
    print(f"replay of the largest run: median {ms(statistics.median(ours))} (n={len(ours)}, "
          f"min {ms(min(ours))}, max {ms(max(ours))})")
    print(f"replay of a trivial workflow with {out['raw_events']} events: median {ms(statistics.median(raw))}")
    print(f"ratio ours/raw {statistics.median(ours) / statistics.median(raw):.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replays", type=int, default=7)
    parser.add_argument("--keep", type=Path, default=None, help="save every run's history JSON here")
    args = parser.parse_args()
    report(asyncio.run(run(args.replays, args.keep)))


if __name__ == "__main__":
    main()
