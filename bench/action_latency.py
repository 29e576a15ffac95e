"""API action latency: `POST /cases/{ref}/notes` (a caseworker adds a note) through the real API
(uvicorn, its own process) to a real worker (worker.py, its own process) and the SQLite read model,
beside a raw Temporal update on a trivial workflow on the same dev server, with the same client
set-up: without the codec, with the service's codec, and with the codec plus one trivial activity
awaited before answering (a command of ours projects the case before it answers). Two more rows
split our time: the same `add_note` update sent straight to the case workflow with the service's
client (no HTTP), and `GET /healthz` (the HTTP floor: uvicorn, middleware, no work). One more row
is the same note to a case with a long timeline: `--long-notes` notes given (through the API) to
each of ten cases before the timing starts, so those cases hold that many notes and a few more as
the rounds add theirs (the young cases start with none).

    .venv/bin/python -m bench.action_latency [--rounds 10] [--per-round 20] [--long-notes 60] [--cases 40]

Calls are sequential (one at a time: latency, not throughput) and interleaved by round.
Targets: median at most 1.5x the raw update (issue 16; 2x before); p99 under 250 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import tempfile
import uuid
from pathlib import Path

import httpx

from bench.raw_workflows import RawNoteWorkflow
from bench.support import (
    api_process,
    bearer,
    bench_settings,
    describe,
    dev_server,
    header,
    interleaved,
    ms,
    notification,
    percentile,
    prepare_read_model,
    raw_client,
    raw_worker_process,
    school_days_around_today,
    target_of,
    worker_process,
)
from domain.case_change import CaseChange
from domain.case_commands import AddNote
from domain.case_state import CaseView
from domain.people import Actor, Role
from domain.stages import Action

CASES = 40  # young cases, so that none collects more than a dozen notes (a case view grows with its notes)
LONG_CASES = 10  # the cases with a long timeline
NOTE = "Called the parent; tuition going well this week."


OURS = "API POST /cases/{ref}/notes"
RAW = "raw update, no codec"
DIRECT = "  our add_note update, client direct"
HTTP_FLOOR = "  GET /healthz (HTTP floor)"


def long_row(long_notes: int) -> str:
    return f"API POST notes, case with {long_notes}+ notes"


async def run(rounds: int, per_round: int, long_notes: int, cases: int = CASES) -> dict[str, list[float]]:
    with tempfile.TemporaryDirectory(prefix="bench-action-") as tmp:
        base = Path(tmp)
        settings = bench_settings(base, task_queue="bench-cases")
        tokens = prepare_read_model(settings)
        keys = settings.encryption_keys.get_secret_value()  # type: ignore[union-attr]
        async with dev_server(settings) as env:
            target = target_of(env)
            async with (
                worker_process(settings, target, base),
                api_process(settings, target, base) as (_, url),
                raw_worker_process(target, "raw-plain", base),
                raw_worker_process(target, "raw-codec", base, codec_keys=keys),
                httpx.AsyncClient(base_url=url, timeout=60) as http,
            ):
                days = school_days_around_today()

                async def open_cases(count: int, first: int, label: str) -> list[str]:
                    refs = []
                    for n in range(first, first + count):
                        r = await http.post("/cases", headers=bearer(tokens["school"]),
                                            json=notification(days, n, label))
                        assert r.status_code == 201, r.text
                        refs.append(r.json()["case_ref"])
                    return refs

                refs = await open_cases(cases, 0, "act")
                # The direct updates go to cases of their own: nobody writes their answers to the read
                # model, and a case whose read model is behind costs the API a read of the whole case.
                direct_refs = await open_cases(cases, 0, "direct")
                long_refs = await open_cases(min(LONG_CASES, cases), cases, "long")

                async def grow(ref: str) -> None:
                    for _ in range(long_notes):
                        r = await http.post(f"/cases/{ref}/notes", headers=bearer(tokens["caseworker"]),
                                            json={"text": NOTE})
                        assert r.status_code == 200, r.text

                await asyncio.gather(*(grow(ref) for ref in long_refs))
                plain = await raw_client(env)
                coded = await raw_client(env, settings)
                plain_handles = [await plain.start_workflow(RawNoteWorkflow.run, id=f"raw-{uuid.uuid4()}",
                                                            task_queue="raw-plain") for _ in range(cases)]
                coded_handles = [await coded.start_workflow(RawNoteWorkflow.run, id=f"raw-{uuid.uuid4()}",
                                                            task_queue="raw-codec") for _ in range(cases)]
                ref_cycle = itertools.cycle(refs)
                long_cycle = itertools.cycle(long_refs)
                plain_cycle = itertools.cycle(plain_handles)
                coded_cycle = itertools.cycle(coded_handles)
                headers = bearer(tokens["caseworker"])

                async def api_note() -> None:
                    r = await http.post(f"/cases/{next(ref_cycle)}/notes", headers=headers, json={"text": NOTE})
                    assert r.status_code == 200, r.text

                async def api_note_long() -> None:
                    r = await http.post(f"/cases/{next(long_cycle)}/notes", headers=headers, json={"text": NOTE})
                    assert r.status_code == 200, r.text

                our_handles = itertools.cycle([env.client.get_workflow_handle(ref) for ref in direct_refs])
                # As the API sends it: the API writes the answer to the read model itself.
                note = AddNote(actor=Actor(role=Role.CASEWORKER, name="officer-bench"), text=NOTE,
                               caller_writes_read_model=True)

                async def direct_update() -> None:
                    await next(our_handles).execute_update(Action.ADD_NOTE.value, note, result_type=CaseView | CaseChange)

                async def http_floor() -> None:
                    r = await http.get("/healthz")
                    assert r.status_code == 200, r.text

                async def raw_plain() -> None:
                    await next(plain_cycle).execute_update(RawNoteWorkflow.note, NOTE)

                async def raw_coded() -> None:
                    await next(coded_cycle).execute_update(RawNoteWorkflow.note, NOTE)

                async def raw_coded_activity() -> None:
                    await next(coded_cycle).execute_update(RawNoteWorkflow.note_with_activity, NOTE)

                contenders = {
                    OURS: api_note,
                    long_row(long_notes): api_note_long,
                    RAW: raw_plain,
                    "raw update, codec": raw_coded,
                    "raw update + 1 activity, codec": raw_coded_activity,
                    DIRECT: direct_update,
                    HTTP_FLOOR: http_floor,
                }
                await interleaved(1, 10, contenders)  # warm-up: connections, caches, sticky queues
                return await interleaved(rounds, per_round, contenders)


def report(samples: dict[str, list[float]], long_notes: int) -> None:
    header("API action latency vs raw Temporal update (sequential calls)")
    for name, values in samples.items():
        print(describe(name, values))
    median = {name: statistics.median(values) for name, values in samples.items()}
    ours, raw, old = median[OURS], median[RAW], median[long_row(long_notes)]
    ratio = ours / raw
    p99 = percentile(samples[OURS], 99)
    print(f"median ratio ours/raw (no codec): {ratio:.2f}x   (target <= 1.5x: {'met' if ratio <= 1.5 else 'MISSED'})")
    for other in ("raw update, codec", "raw update + 1 activity, codec", DIRECT):
        print(f"median ratio ours/{other}: {ours / median[other]:.2f}x")
    floor = median[DIRECT] + median[HTTP_FLOOR]
    print(f"floor with no API work at all (our update sent direct + the HTTP floor): {ms(floor)}, "
          f"{floor / raw:.2f}x the raw update; the API's own work: {ms(ours - floor)}")
    print(f"case with {long_notes}+ notes: median ratio ours/raw (no codec) {old / raw:.2f}x, "
          f"{old / ours:.2f}x the young cases' median; p99 {ms(percentile(samples[long_row(long_notes)], 99))}")
    print(f"p99 ours: {ms(p99)}   (target < 250 ms: {'met' if p99 < 0.25 else 'MISSED'})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--per-round", type=int, default=20)
    parser.add_argument("--long-notes", type=int, default=60, help="notes each long-timeline case starts with")
    parser.add_argument("--cases", type=int, default=CASES, help="young cases (and at most ten long ones)")
    args = parser.parse_args()
    report(asyncio.run(run(args.rounds, args.per_round, args.long_notes, args.cases)), args.long_notes)


if __name__ == "__main__":
    main()
