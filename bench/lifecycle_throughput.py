"""Whole-case throughput: many cases in parallel, each taken from the school's notification to
closure through the API, every step an HTTP call (notify, consent request, consent refused, decision,
commission provision, schedule review, review outcome, reintegration plan, full-time return, which
closes the case), against the real API and worker processes and the SQLite read model; beside a
trivial workflow driven straight through the Temporal client (bench/raw_workflows.py,
`RawCaseWorkflow`), with the same concurrency and the same data converter (pydantic JSON + the
service's codec), shaped as a finished case of ours is (counted from its history): the same number
of updates, each awaiting the activities ours awaits and starting in the background those ours
starts in the background (emails, ledger postings), the activities before the first answer and
after the last (the final projection).

Both sides are timed to the same end: every case's workflow completed, which for ours means every
email sent, every posting made and the final projection written (checked in the read model after
each repeat), so nothing of one repeat spills into the next. Every call's latency is kept on both
sides (our HTTP calls, the baseline's updates), so the p99 is compared under the same load.

    .venv/bin/python -m bench.lifecycle_throughput [--cases 100] [--concurrency 20] [--repeats 2] [--old-way]

`--old-way` measures as this benchmark did before issue 16's audit, for a before/after on one
machine: ours timed to its last HTTP answer (its effects left running into the next run), the
baseline a `RawLifecycleWorkflow` whose every update awaits one activity.

Ours and the baseline alternate, `--repeats` times each. Targets (issue 16): our rate at least 0.7x
the raw rate; our calls' p99 at most 2.5x the raw updates' p99.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy

from bench.raw_workflows import RawCaseWorkflow, RawLifecycleWorkflow, RawPlan, Step
from bench.support import (
    Days,
    api_process,
    bearer,
    bench_settings,
    describe,
    dev_server,
    header,
    notification,
    percentile,
    prepare_read_model,
    raw_client,
    raw_worker_process,
    school_days_around_today,
    target_of,
    worker_process,
)


def steps(days: Days) -> list[tuple[str, dict[str, Any]]]:
    """The commands after the notification, as (slug, body)."""
    provision = {
        "kind": "home_tuition",
        "provider": "County Home Tuition Service",
        "hours_per_week": "25",
        "start_date": days.past[-3].isoformat(),
        "weekly_cost": "450.00",
    }
    return [
        ("consent-request", {}),
        ("consent", {"decision": "refused"}),
        ("decision", {"outcome": "la_provision", "reason": "GP letter held"}),
        ("provisions", {"provisions": [provision], "officer": "officer-bench"}),
        ("reviews", {"on": days.next[0].isoformat()}),
        ("review-outcomes", {"outcome": "start_reintegration", "held_on": days.today.isoformat()}),
        ("reintegration-plan", {"start_date": days.next[0].isoformat(), "end_date": days.next[5].isoformat(),
                                "hours_per_week": 15}),
        ("full-time-return", {"returned_on": days.past[-1].isoformat()}),
    ]


async def run_all(cases: int, concurrency: int, one: Callable[[int], Awaitable[float]]) -> tuple[float, float]:
    """Seconds to run `cases` cases, `concurrency` at a time, each to its workflow's completion;
    and seconds until the last of them had its last answer (`one` answers when its case did)."""
    counter = iter(range(cases))
    answered: list[float] = []

    async def lane() -> None:
        for i in counter:
            answered.append(await one(i))

    begin = time.perf_counter()
    await asyncio.gather(*(lane() for _ in range(concurrency)))
    return time.perf_counter() - begin, max(answered) - begin


@dataclass
class Shape:
    """What one finished case cost Temporal, from its history (its updates come one at a time)."""

    at_start: int  # activities scheduled before the first update was accepted
    updates: list[tuple[list[int], int]]  # per update: (awaited rounds, activities left running)
    at_end: int  # activities scheduled after the last update's work (the final projection)
    events: int
    names: dict[str, int]  # activity type -> count

    @property
    def activities(self) -> int:
        return self.at_start + sum(sum(r) + b for r, b in self.updates) + self.at_end

    def describe(self) -> str:
        fg = sum(sum(r) for r, _ in self.updates)
        bg = sum(b for _, b in self.updates)
        steps = ", ".join(f"{'+'.join(map(str, r)) or '0'}/{b}" for r, b in self.updates)
        return (f"{len(self.updates)} updates, {self.activities} activities ({self.at_start} before the first "
                f"update, {fg} awaited by updates, {bg} in the background, {self.at_end} after the last "
                f"update's), {self.events} history events; per update, awaited (in parallel rounds)/background: "
                f"{steps}; by type: {', '.join(f'{n} {k}' for k, n in sorted(self.names.items()))}")


async def shape_of(client: Client, ref: str) -> Shape:
    """Read a finished case's history. An activity scheduled while an update was open and completed
    before it answered was awaited by it (those scheduled in one workflow task run in parallel: one
    round); one it left running, or scheduled in the workflow task that answered it, or by the main
    loop before the next update, is that update's background; before the first update is the start,
    after the last update's answer and background is the end."""
    events = (await client.get_workflow_handle(ref).fetch_history()).events
    last_accepted = max((e.event_id for e in events
                         if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED), default=0)
    task = 0  # the latest WORKFLOW_TASK_COMPLETED event: commands after it came from that task
    open_update: int | None = None
    answered: tuple[int, int] | None = None  # (update, the task that answered it)
    count = 0
    owner: dict[int, tuple[int, int, bool]] = {}  # scheduled id -> (update, task, while it was open)
    awaited: set[int] = set()
    names: dict[str, int] = {}
    at_start = at_end = 0
    for e in events:
        t = e.event_type
        if t == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            task = e.event_id
        elif t == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
            open_update, count = count, count + 1
        elif t == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED:
            assert open_update is not None, "an update completed that was not accepted"
            answered, open_update = (open_update, task), None
        elif t == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            name = e.activity_task_scheduled_event_attributes.activity_type.name
            names[name] = names.get(name, 0) + 1
            if open_update is not None:
                owner[e.event_id] = (open_update, task, True)
            elif answered is not None and answered[1] == task:
                owner[e.event_id] = (answered[0], task, False)
            elif count == 0:
                at_start += 1
            elif e.event_id > last_accepted and _settled(events, e.event_id, owner):
                at_end += 1
            else:
                owner[e.event_id] = (count - 1, task, False)
        elif t == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            sid = e.activity_task_completed_event_attributes.scheduled_event_id
            if sid in owner and owner[sid][2] and owner[sid][0] == open_update:
                awaited.add(sid)
    rounds: list[dict[int, int]] = [{} for _ in range(count)]
    background = [0] * count
    for sid, (update, in_task, _) in owner.items():
        if sid in awaited:
            rounds[update][in_task] = rounds[update].get(in_task, 0) + 1
        else:
            background[update] += 1
    updates = [([n for _, n in sorted(r.items())], b) for r, b in zip(rounds, background, strict=True)]
    return Shape(at_start, updates, at_end, len(events), names)


def _settled(events: Any, event_id: int, owner: dict[int, tuple[int, int, bool]]) -> bool:
    """Whether every activity scheduled before `event_id` had completed by then (the run's end)."""
    done = {e.activity_task_completed_event_attributes.scheduled_event_id for e in events
            if e.event_id < event_id and e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED}
    return all(sid in done for sid in owner)


def effects_done(settings: Any) -> tuple[int, int, int]:
    """(emails sent, ledger lines, cases closed) in the read model."""
    db = sqlite3.connect(settings.database_url.removeprefix("sqlite:///"))
    try:
        return (db.execute("SELECT COUNT(*) FROM sent_emails WHERE status = 'sent'").fetchone()[0],
                db.execute("SELECT COUNT(*) FROM ledger_entries").fetchone()[0],
                db.execute("SELECT COUNT(*) FROM cases WHERE stage = 'closed'").fetchone()[0])
    finally:
        db.close()


async def run(cases: int, concurrency: int, repeats: int, old_way: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {"old_way": old_way, "ours": [], "raw": [], "ours_answered": [], "ours_calls": [], "raw_calls": []}
    with tempfile.TemporaryDirectory(prefix="bench-lifecycle-") as tmp:
        base = Path(tmp)
        settings = bench_settings(base, task_queue="bench-lifecycle")
        tokens = prepare_read_model(settings)
        keys = settings.encryption_keys.get_secret_value()  # type: ignore[union-attr]
        days = school_days_around_today()
        plan = steps(days)
        async with dev_server(settings) as env:
            target = target_of(env)
            async with (
                worker_process(settings, target, base),
                api_process(settings, target, base) as (_, url),
                raw_worker_process(target, "raw-lifecycle", base, codec_keys=keys),
            ):
                def new_http() -> httpx.AsyncClient:
                    # One client per run of ours: a pooled connection left idle through the raw run
                    # is closed by uvicorn (keep-alive 5 s), and a request sent as it closes fails.
                    return httpx.AsyncClient(base_url=url, timeout=120,
                                             limits=httpx.Limits(max_connections=concurrency * 2))

                http = new_http()
                school, staff = bearer(tokens["school"]), bearer(tokens["caseworker"])
                refs: list[str] = []
                calls: list[float] = []  # where the latencies of the current run go

                async def ours(i: int, tag: str) -> float:
                    t = time.perf_counter()
                    r = await http.post("/cases", headers=school, json=notification(days, i, tag))
                    assert r.status_code == 201, r.text
                    ref = r.json()["case_ref"]
                    calls.append(time.perf_counter() - t)
                    for slug, body in plan:
                        t = time.perf_counter()
                        r = await http.post(f"/cases/{ref}/{slug}", headers=staff, json=body)
                        assert r.status_code == 200, f"{slug}: {r.status_code} {r.text}"
                        calls.append(time.perf_counter() - t)
                    answered = time.perf_counter()
                    assert r.json()["state"]["stage"] == "closed", r.text
                    refs.append(ref)
                    if old_way and tag != "shape":
                        return answered  # the old way: on to the next case, effects still pending
                    # The case is done when its workflow is: emails, postings, final projection.
                    await env.client.get_workflow_handle(ref).result()
                    return answered

                # One case first, to count what a case costs Temporal (and to warm up).
                await ours(0, "shape")
                shape = await shape_of(env.client, refs[0])
                out["shape"] = shape
                per_case = effects_done(settings)
                assert all(per_case), f"the first case left no email, posting or closed row: {per_case}"
                raw = await raw_client(env, settings)
                last = len(shape.updates) - 1

                async def old_baseline(i: int, tag: str) -> float:
                    """The baseline before issue 16: every update awaits one activity, the rest at start."""
                    updates = len(shape.updates)
                    start = WithStartWorkflowOperation(
                        RawLifecycleWorkflow.run, max(0, shape.activities - updates),
                        id=f"raw-{tag}-{i}-{uuid.uuid4().hex[:6]}", task_queue="raw-lifecycle",
                        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING)
                    t = time.perf_counter()
                    await raw.execute_update_with_start_workflow(
                        RawLifecycleWorkflow.step, Step(activities=1), start_workflow_operation=start)
                    calls.append(time.perf_counter() - t)
                    handle = await start.workflow_handle()
                    for n in range(updates - 1):
                        t = time.perf_counter()
                        await handle.execute_update(RawLifecycleWorkflow.step, Step(activities=1, last=n == updates - 2))
                        calls.append(time.perf_counter() - t)
                    answered = time.perf_counter()
                    await handle.result()
                    return answered

                async def baseline(i: int, tag: str) -> float:
                    if old_way:
                        return await old_baseline(i, tag)
                    start = WithStartWorkflowOperation(
                        RawCaseWorkflow.run, RawPlan(at_start=shape.at_start, at_end=shape.at_end),
                        id=f"raw-{tag}-{i}-{uuid.uuid4().hex[:6]}", task_queue="raw-lifecycle",
                        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING)
                    for n, (rounds, background) in enumerate(shape.updates):
                        step = Step(activities=0, rounds=rounds, background=background, last=n == last)
                        t = time.perf_counter()
                        if n == 0:
                            await raw.execute_update_with_start_workflow(
                                RawCaseWorkflow.step, step, start_workflow_operation=start)
                            handle = await start.workflow_handle()
                        else:
                            await handle.execute_update(RawCaseWorkflow.step, step)
                        calls.append(time.perf_counter() - t)
                    answered = time.perf_counter()
                    await handle.result()
                    return answered

                await baseline(0, "warm")
                done = 1
                for r in range(repeats):
                    order = [("ours", ours), ("raw", baseline)]
                    for name, fn in order if r % 2 == 0 else reversed(order):
                        tag = f"r{r}{name}"
                        calls = out[f"{name}_calls"]
                        await http.aclose()
                        http = new_http()
                        seconds, answered = await run_all(cases, concurrency, lambda i, fn=fn, tag=tag: fn(i, tag))
                        out[name].append(cases / seconds * 60)
                        extra = ""
                        if name == "ours" and old_way:
                            out["ours_answered"].append(cases / answered * 60)
                        elif name == "ours":
                            done += cases
                            got = effects_done(settings)
                            want = tuple(n * done for n in per_case)
                            assert got == want, f"effects after repeat {r + 1}: {got}, expected {want}"
                            out["ours_answered"].append(cases / answered * 60)
                            extra = (f"  (last answer at {answered:.1f}s = {cases / answered * 60:.0f} cases/min; "
                                     f"effects checked: {got[0]} emails, {got[1]} ledger lines, {got[2]} closed)")
                        print(f"  repeat {r + 1}: {name:<4} {cases} cases in {seconds:.1f}s = "
                              f"{cases / seconds * 60:.0f} cases/min{extra}", flush=True)
                await http.aclose()
    return out


def report(out: dict[str, Any], cases: int, concurrency: int) -> None:
    end = ("THE OLD WAY: ours timed to its last HTTP answer, effects left running into the next run; "
           "the baseline awaiting one activity in every update" if out["old_way"]
           else "timed to every workflow's completion")
    header(f"case lifecycle throughput ({cases} cases, {concurrency} at a time, 9 HTTP calls a case, {end})")
    print(f"one case: {out['shape'].describe()}")
    ours, raw = statistics.median(out["ours"]), statistics.median(out["raw"])
    print(f"ours: median {ours:.0f} cases/min  (runs: {', '.join(f'{x:.0f}' for x in out['ours'])})")
    print(f"raw:  median {raw:.0f} cases/min  (runs: {', '.join(f'{x:.0f}' for x in out['raw'])})")
    answered = statistics.median(out["ours_answered"])
    if not out["old_way"]:
        print(f"ours with the clock stopped at the last HTTP answer of the run: median {answered:.0f} cases/min, "
              f"{answered / raw:.2f}x raw (each lane still waits for its case's end before its next case)")
    print(describe("our HTTP calls under load", out["ours_calls"]))
    print(describe("raw updates under the same load", out["raw_calls"]))
    ratio = ours / raw
    print(f"throughput ratio ours/raw {ratio:.2f}   (target >= 0.7: {'met' if ratio >= 0.7 else 'MISSED'})")
    mine, theirs = out["ours_calls"], out["raw_calls"]
    p99 = percentile(mine, 99) / percentile(theirs, 99)
    print(f"p99 ratio ours/raw {p99:.2f}   (target <= 2.5: {'met' if p99 <= 2.5 else 'MISSED'});  "
          f"median ratio {statistics.median(mine) / statistics.median(theirs):.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--old-way", action="store_true",
                        help="measure as before issue 16 (unfair; for before/after comparisons only)")
    args = parser.parse_args()
    report(asyncio.run(run(args.cases, args.concurrency, args.repeats, args.old_way)), args.cases, args.concurrency)


if __name__ == "__main__":
    main()
