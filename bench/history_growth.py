"""History bytes one command adds, young case against old: one case given `--notes` notes through
the API (`POST /cases/{ref}/notes`, the real API and worker processes, SQLite read model), its
history size read after every answer (`describe()`: the server's `history_size_bytes`); beside a
trivial workflow given the same notes as raw updates (bench/raw_workflows.py, `RawNoteWorkflow`)
on the same server with the same data converter (pydantic JSON + the service's codec), the two
interleaved note by note.

    .venv/bin/python -m bench.history_growth [--notes 60] [--cases 1]

Compares the bytes notes 2-6 added (per note) with those the last five added. Every command's answer
is stored in history, so when the answer is the whole case view (timeline included) an old case's
command costs more than a young one's and history grows with the square of a case's activity.
Target (issue 16): the last five at most 1.25x the first five.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import uuid
from pathlib import Path
from typing import Any

import httpx
from temporalio.client import WorkflowHandle

from bench.raw_workflows import RawNoteWorkflow
from bench.support import (
    api_process,
    bearer,
    bench_settings,
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

NOTE = "Called the parent; tuition going well this week."
TARGET = 1.25


async def history_bytes(handle: WorkflowHandle) -> int:
    return (await handle.describe()).raw_description.workflow_execution_info.history_size_bytes


def added(sizes: list[int]) -> list[int]:
    """Bytes each note added: sizes[0] is before the first note, sizes[n] after note n."""
    return [b - a for a, b in zip(sizes, sizes[1:], strict=False)]


def early_late(per_note: list[int]) -> tuple[float, float]:
    """Mean bytes per note of notes 2-6 and of the last five."""
    return statistics.mean(per_note[1:6]), statistics.mean(per_note[-5:])


async def run(notes: int, cases: int) -> dict[str, Any]:
    assert notes >= 11, "need notes 2-6 and five later ones"
    out: dict[str, Any] = {"ours": [], "raw": []}
    with tempfile.TemporaryDirectory(prefix="bench-history-") as tmp:
        base = Path(tmp)
        settings = bench_settings(base, task_queue="bench-history")
        tokens = prepare_read_model(settings)
        keys = settings.encryption_keys.get_secret_value()  # type: ignore[union-attr]
        days = school_days_around_today()
        async with dev_server(settings) as env:
            target = target_of(env)
            async with (
                worker_process(settings, target, base),
                api_process(settings, target, base) as (_, url),
                raw_worker_process(target, "raw-history", base, codec_keys=keys),
                httpx.AsyncClient(base_url=url, timeout=60) as http,
            ):
                raw = await raw_client(env, settings)
                staff = bearer(tokens["caseworker"])
                for c in range(cases):
                    r = await http.post("/cases", headers=bearer(tokens["school"]), json=notification(days, c, "hist"))
                    assert r.status_code == 201, r.text
                    ref = r.json()["case_ref"]
                    ours = env.client.get_workflow_handle(ref)
                    theirs = await raw.start_workflow(RawNoteWorkflow.run, id=f"raw-history-{uuid.uuid4()}",
                                                      task_queue="raw-history")
                    await theirs.execute_update(RawNoteWorkflow.note, "warm-up")  # both past their first task
                    mine, baseline = [await history_bytes(ours)], [await history_bytes(theirs)]
                    for n in range(notes):
                        for side in ("ours", "raw") if n % 2 == 0 else ("raw", "ours"):
                            if side == "ours":
                                r = await http.post(f"/cases/{ref}/notes", headers=staff, json={"text": NOTE})
                                assert r.status_code == 200, r.text
                                mine.append(await history_bytes(ours))
                            else:
                                await theirs.execute_update(RawNoteWorkflow.note, NOTE)
                                baseline.append(await history_bytes(theirs))
                    await theirs.signal(RawNoteWorkflow.finish)
                    out["ours"].append(mine)
                    out["raw"].append(baseline)
                    out["answer_bytes"] = len(r.content)
    return out


def report(out: dict[str, Any], notes: int) -> None:
    header(f"history bytes one command adds: a case given {notes} notes through the API")
    rows = {}
    for side in ("ours", "raw"):
        pairs = [early_late(added(sizes)) for sizes in out[side]]
        early = statistics.median(p[0] for p in pairs)
        late = statistics.median(p[1] for p in pairs)
        total = statistics.median(s[-1] for s in out[side])
        rows[side] = (early, late)
        print(f"{side:<5} notes 2-6: {early / 1024:6.2f} KiB a note   notes {notes - 4}-{notes}: {late / 1024:6.2f} KiB "
              f"a note   ratio {late / early:.2f}x   history after {notes} notes: {total / 1024:.0f} KiB "
              f"(n={len(out[side])} case{'s' if len(out[side]) > 1 else ''})")
    (oe, ol), (re_, rl) = rows["ours"], rows["raw"]
    ratio = ol / oe
    print(f"growth ratio ours {ratio:.2f}x, raw {rl / re_:.2f}x   (target <= {TARGET}x: "
          f"{'met' if ratio <= TARGET else 'MISSED'});  bytes a note ours/raw: {oe / re_:.1f}x early, "
          f"{ol / rl:.1f}x late;  last HTTP answer {out['answer_bytes'] / 1024:.1f} KiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notes", type=int, default=60)
    parser.add_argument("--cases", type=int, default=1)
    args = parser.parse_args()
    report(asyncio.run(run(args.notes, args.cases)), args.notes)


if __name__ == "__main__":
    main()
