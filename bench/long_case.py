"""A three-school-year case on Temporal's time-skipping test server (tests/case_harness.case_world:
the real CaseWorkflow, the real activities, a SQLite read model): notified in January 2030, in
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
import statistics
import tempfile
import time
import uuid
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHistory
from temporalio.worker import Replayer, Worker

from bench.raw_workflows import RAW_ACTIVITIES, RawLifecycleWorkflow, Step
from bench.support import bench_settings, header, ms, new_key
from domain.case_commands import (
    AddNote,
    AgreeReintegrationPlan,
    CommissionProvision,
    ConfirmFullTimeReturn,
    ConsentDecision,
    Decide,
    DecisionOutcome,
    RecordConsent,
    RecordReviewOutcome,
    RequestConsent,
    ReviewOutcome,
)
from domain.provision import Provision, ProvisionKind
from infra.logging import configure_logging
from infra.temporal_client import build_data_converter
from tests.case_harness import OFFICER, case_world, notification, travel_to
from workflows.case_workflow import CaseWorkflow

START = date(2030, 1, 21)
END = date(2033, 1, 21)  # three school years of provision
REVIEWS = 20
NOTE = "Fortnightly call with the family and the tutor: progress steady, attendance at sessions good."


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
    """Bytes of the first and the last `project_case` activity input in a run (the whole case view)."""
    sizes = [e.ByteSize() for e in history.events
             if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
             and e.activity_task_scheduled_event_attributes.activity_type.name == "project_case"]
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
        async with case_world(Path(tmp), smtp=False, encryption_keys=key) as world:
            world.as_the_api = True  # commands as the API sends them (it writes the read model itself)
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
