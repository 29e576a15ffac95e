"""Whole-case throughput: many cases in parallel, each taken from the school's notification to
closure through the API, every step an HTTP call (notify, consent request, consent refused, decision,
commission provision, schedule review, review outcome, reintegration plan, full-time return, which
closes the case), against the real API and worker processes and the SQLite read model; beside a
trivial workflow driven straight through the Temporal client with the same number of updates and
activities per case (counted from a finished case's history), the same concurrency and the same
data converter (pydantic JSON + the service's codec).

    .venv/bin/python -m bench.lifecycle_throughput [--cases 100] [--concurrency 20] [--repeats 2]

Ours and the baseline alternate, `--repeats` times each. Target: our rate at least half the raw rate.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy

from bench.raw_workflows import RawLifecycleWorkflow, Step
from bench.support import (
    Days,
    api_process,
    bearer,
    bench_settings,
    describe,
    dev_server,
    header,
    notification,
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


async def run_all(cases: int, concurrency: int, one: Callable[[int], Awaitable[None]]) -> float:
    """Seconds to run `cases` cases, `concurrency` at a time."""
    counter = iter(range(cases))

    async def lane() -> None:
        for i in counter:
            await one(i)

    begin = time.perf_counter()
    await asyncio.gather(*(lane() for _ in range(concurrency)))
    return time.perf_counter() - begin


async def shape_of(client: Client, ref: str) -> tuple[int, int, int]:
    """(updates, activities, events) in a finished case's history."""
    history = await client.get_workflow_handle(ref).fetch_history()
    updates = sum(e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED for e in history.events)
    activities = sum(e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED for e in history.events)
    return updates, activities, len(history.events)


async def run(cases: int, concurrency: int, repeats: int) -> dict[str, Any]:
    out: dict[str, Any] = {"ours": [], "raw": [], "step_seconds": []}
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
                httpx.AsyncClient(base_url=url, timeout=120,
                                  limits=httpx.Limits(max_connections=concurrency * 2)) as http,
            ):
                school, staff = bearer(tokens["school"]), bearer(tokens["caseworker"])
                refs: list[str] = []

                async def ours(i: int, tag: str) -> None:
                    t = time.perf_counter()
                    r = await http.post("/cases", headers=school, json=notification(days, i, tag))
                    assert r.status_code == 201, r.text
                    ref = r.json()["case_ref"]
                    out["step_seconds"].append(time.perf_counter() - t)
                    for slug, body in plan:
                        t = time.perf_counter()
                        r = await http.post(f"/cases/{ref}/{slug}", headers=staff, json=body)
                        assert r.status_code == 200, f"{slug}: {r.status_code} {r.text}"
                        out["step_seconds"].append(time.perf_counter() - t)
                    assert r.json()["state"]["stage"] == "closed", r.text
                    refs.append(ref)

                # One case first, to count what a case costs Temporal (and to warm up).
                await ours(0, "shape")
                await env.client.get_workflow_handle(refs[0]).result()
                updates, activities, events = await shape_of(env.client, refs[0])
                out["shape"] = (updates, activities, events)
                at_start = max(0, activities - updates)
                raw = await raw_client(env, settings)

                async def baseline(i: int, tag: str) -> None:
                    start = WithStartWorkflowOperation(
                        RawLifecycleWorkflow.run, at_start, id=f"raw-{tag}-{i}-{uuid.uuid4().hex[:6]}",
                        task_queue="raw-lifecycle", id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING)
                    await raw.execute_update_with_start_workflow(
                        RawLifecycleWorkflow.step, Step(activities=1), start_workflow_operation=start)
                    handle = await start.workflow_handle()
                    for n in range(updates - 1):
                        await handle.execute_update(RawLifecycleWorkflow.step,
                                                    Step(activities=1, last=n == updates - 2))
                    await handle.result()

                await baseline(0, "warm")
                for r in range(repeats):
                    order = [("ours", ours), ("raw", baseline)]
                    for name, fn in order if r % 2 == 0 else reversed(order):
                        tag = f"r{r}{name}"
                        seconds = await run_all(cases, concurrency, lambda i, fn=fn, tag=tag: fn(i, tag))
                        out[name].append(cases / seconds * 60)
                        print(f"  repeat {r + 1}: {name:<4} {cases} cases in {seconds:.1f}s = "
                              f"{cases / seconds * 60:.0f} cases/min", flush=True)
    return out


def report(out: dict[str, Any], cases: int, concurrency: int) -> None:
    header(f"case lifecycle throughput ({cases} cases, {concurrency} at a time, 9 HTTP calls a case)")
    updates, activities, events = out["shape"]
    print(f"one case: {updates} updates, {activities} activities, {events} history events; the baseline "
          f"runs {max(0, activities - updates)} activities at start and one per update")
    ours, raw = statistics.median(out["ours"]), statistics.median(out["raw"])
    print(f"ours: median {ours:.0f} cases/min  (runs: {', '.join(f'{x:.0f}' for x in out['ours'])})")
    print(f"raw:  median {raw:.0f} cases/min  (runs: {', '.join(f'{x:.0f}' for x in out['raw'])})")
    print(describe("our HTTP calls under load", out["step_seconds"]))
    ratio = ours / raw
    print(f"ratio ours/raw {ratio:.2f}   (target >= 0.5: {'met' if ratio >= 0.5 else 'MISSED'})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    report(asyncio.run(run(args.cases, args.concurrency, args.repeats)), args.cases, args.concurrency)


if __name__ == "__main__":
    main()
