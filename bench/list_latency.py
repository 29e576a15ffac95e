"""Lists with a full caseload, and the memory of many open cases waiting on timers.

1. `GET /cases` and `GET /tasks` (several pages and filters) through the real API (uvicorn, its own
   process) with 10,000 cases and their tasks in the SQLite read model (seeded directly into the
   read-model tables with one bulk insert each), beside the same page read with raw SQL (sqlite3:
   the page's SELECT plus the COUNT(*) the list answers as `total`). Target: p95 < 100 ms.
2. N open cases waiting on timers: real CaseWorkflows started on a dev server (each loads its
   rules, projects itself to the read model and sleeps until its next alarm), beside the same
   number of trivial timer workflows on a second dev server with a raw worker, both running at once
   with the service's codec and started in alternating batches, for as long as the time budget
   allows up to N; then worker and dev-server RSS of each side (and, for N below 10,000, the worker
   figures scaled linearly to 10,000). Target (issue 16): worker RSS at most 1.5x the raw worker's.

    .venv/bin/python -m bench.list_latency [--cases 10000] [--rounds 10] [--per-round 10]
                                           [--timers 10000] [--timer-budget 1800] [--timer-batch 250]
                                           [--lists 0]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sqlite3
import statistics
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import insert

from bench.raw_workflows import RawTimerWorkflow
from bench.support import (
    URN,
    api_process,
    bearer,
    bench_settings,
    describe,
    dev_server,
    dev_server_pid,
    header,
    interleaved,
    ms,
    percentile,
    prepare_read_model,
    raw_client,
    raw_worker_process,
    rss_mib,
    target_of,
    worker_process,
)
from domain.case_state import TaskKind
from domain.stages import Stage

OPEN_STAGES = [s.value for s in Stage if s is not Stage.CLOSED]
ALPHABET = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"
TARGET_P95 = 0.100


def case_ref(n: int) -> str:
    digits = []
    for _ in range(6):
        n, d = divmod(n, len(ALPHABET))
        digits.append(ALPHABET[d])
    return "MN-26-" + "".join(reversed(digits))


# -- 1. lists ------------------------------------------------------------------------------------------


def seed(settings: Any, cases: int) -> tuple[int, int]:
    """`cases` cases (a tenth closed) across 200 schools, 1-3 tasks per open case; bulk inserts."""
    from infra.encryption import Keyring
    from readmodel.database import make_engine
    from readmodel.tables import CaseRow, TaskRow

    rng = random.Random(19)
    keyring = Keyring.from_settings(settings)
    today = datetime.now(UTC).date()
    now = datetime.now(UTC)
    schools = [URN] + [f"{130000 + i:06d}" for i in range(199)]
    case_rows: list[dict[str, Any]] = []
    task_rows: list[dict[str, Any]] = []
    for n in range(cases):
        ref = case_ref(n + 1000)
        closed = n % 10 == 9
        stage = Stage.CLOSED.value if closed else rng.choice(OPEN_STAGES)
        school = schools[n % len(schools)]
        deadline = None if closed else today + timedelta(days=rng.randint(-30, 60))
        personal = json.dumps({"format": 1, "child": {"given_name": f"Child{n}", "family_name": "Bench"},
                               "health_summary": "fictional", "notes": []}).encode()
        case_rows.append({
            "case_ref": ref, "version": 5, "school_urn": school, "stage": stage,
            "officer": f"officer-{n % 20}", "opened_at": now - timedelta(days=rng.randint(1, 400)),
            "first_day_of_absence": today - timedelta(days=rng.randint(20, 400)),
            "threshold_date": today - timedelta(days=rng.randint(0, 300)),
            "provision_started_on": None, "next_deadline": deadline,
            "overdue": deadline is not None and deadline < today, "stalled": n % 17 == 0,
            "last_progress_on": today - timedelta(days=rng.randint(0, 30)),
            "provision_kinds": "home_tuition" if stage in ("in_provision", "reintegrating") else "",
            "close_outcome": "returned_full_time" if closed else None,
            "closed_on": today - timedelta(days=rng.randint(1, 300)) if closed else None,
            "child_key": uuid.uuid4().hex * 2,
            "personal": keyring.encrypt(personal, context=f"readmodel.cases.personal:{ref}"),
            "retain_until": date(2038, 1, 1), "updated_at": now,
        })
        if closed:
            continue
        for t in range(rng.randint(1, 3)):
            due = today + timedelta(days=rng.randint(-20, 40))
            role = rng.choice(["caseworker", "supervisor", "school", "parent", "professional"])
            task_rows.append({
                "case_ref": ref, "task_id": f"task-{t}", "school_urn": school,
                "kind": rng.choice(list(TaskKind)).value, "description": "Fictional benchmark task",
                "assignee_role": role, "assignee": f"officer-{n % 20}" if role == "caseworker" else None,
                "due_on": due, "overdue": due < today, "escalated": False,
            })
    engine = make_engine(settings.database_url)
    try:
        with engine.begin() as conn:
            conn.execute(insert(CaseRow), case_rows)
            conn.execute(insert(TaskRow), task_rows)
    finally:
        engine.dispose()
    return len(case_rows), len(task_rows)


Sql = tuple[str, tuple[object, ...]]


def queries(cases: int) -> list[tuple[str, str, str, Sql, Sql]]:
    """(label, who, API path, raw SQL of the same page, raw SQL of the total), SQL with parameters."""
    last = max(0, cases - 50)
    return [
        ("GET /cases", "supervisor", "/cases",
         ("SELECT * FROM cases ORDER BY next_deadline IS NULL, next_deadline, case_ref LIMIT 50", ()),
         ("SELECT COUNT(*) FROM cases", ())),
        ("GET /cases?stage=in_provision&overdue=true", "supervisor", "/cases?stage=in_provision&overdue=true",
         ("SELECT * FROM cases WHERE stage = 'in_provision' AND overdue = 1 "
          "ORDER BY next_deadline IS NULL, next_deadline, case_ref LIMIT 50", ()),
         ("SELECT COUNT(*) FROM cases WHERE stage = 'in_provision' AND overdue = 1", ())),
        (f"GET /cases?offset={last} (last page)", "supervisor", f"/cases?offset={last}",
         ("SELECT * FROM cases ORDER BY next_deadline IS NULL, next_deadline, case_ref LIMIT 50 OFFSET ?",
          (last,)),
         ("SELECT COUNT(*) FROM cases", ())),
        ("GET /cases (school key)", "school", "/cases",
         ("SELECT * FROM cases WHERE school_urn = ? "
          "ORDER BY next_deadline IS NULL, next_deadline, case_ref LIMIT 50", (URN,)),
         ("SELECT COUNT(*) FROM cases WHERE school_urn = ?", (URN,))),
        ("GET /tasks", "supervisor", "/tasks",
         ("SELECT * FROM tasks ORDER BY due_on, case_ref, task_id LIMIT 50", ()),
         ("SELECT COUNT(*) FROM tasks", ())),
        ("GET /tasks?role=caseworker&overdue=true", "supervisor", "/tasks?role=caseworker&overdue=true",
         ("SELECT * FROM tasks WHERE assignee_role = 'caseworker' AND overdue = 1 "
          "ORDER BY due_on, case_ref, task_id LIMIT 50", ()),
         ("SELECT COUNT(*) FROM tasks WHERE assignee_role = 'caseworker' AND overdue = 1", ())),
    ]


async def lists(cases: int, rounds: int, per_round: int) -> dict[str, dict[str, list[float]]]:
    results: dict[str, dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-lists-") as tmp:
        base = Path(tmp)
        settings = bench_settings(base, task_queue="bench-lists")
        tokens = prepare_read_model(settings)
        started = time.perf_counter()
        n_cases, n_tasks = seed(settings, cases)
        print(f"seeded {n_cases} cases and {n_tasks} tasks in {time.perf_counter() - started:.1f}s", flush=True)
        db = sqlite3.connect(settings.database_url.removeprefix("sqlite:///"))
        async with dev_server(settings) as env, api_process(settings, target_of(env), base) as (_, url):
            async with httpx.AsyncClient(base_url=url, timeout=30) as http:
                for label, who, path, page_sql, count_sql in queries(cases):
                    headers = bearer(tokens[who])

                    async def api(path: str = path, headers: dict[str, str] = headers) -> None:
                        r = await http.get(path, headers=headers)
                        assert r.status_code == 200 and r.json()["items"], r.text

                    async def raw(page_sql: Sql = page_sql, count_sql: Sql = count_sql) -> None:
                        assert db.execute(*page_sql).fetchall()
                        db.execute(*count_sql).fetchone()

                    contenders = {"api": api, "raw SQL": raw}
                    await interleaved(1, 5, contenders)
                    results[label] = await interleaved(rounds, per_round, contenders)
        db.close()
    return results


def report_lists(results: dict[str, dict[str, list[float]]], cases: int) -> None:
    header(f"list latency with {cases} cases in the SQLite read model (sequential calls)")
    for label, samples in results.items():
        ours, raw = samples["api"], samples["raw SQL"]
        p95 = percentile(ours, 95)
        print(describe(label, ours))
        print(describe("  raw SQL page + COUNT(*)", raw))
        print(f"  p95 ratio ours/raw {p95 / percentile(raw, 95):.1f}x   median ratio "
              f"{statistics.median(ours) / statistics.median(raw):.1f}x   target p95 < 100 ms: "
              f"{'met' if p95 < TARGET_P95 else 'MISSED'} ({ms(p95)})")


# -- 2. open cases on timers --------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100  # utime + stime, in clock ticks of 1/100 s


async def wait_until_idle(pids: list[int], quiet: float = 0.05, window: float = 3.0, within: float = 600) -> None:
    """Until none of the processes used more than `quiet` CPU-seconds per second over `window`."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        before = [cpu_seconds(p) for p in pids]
        await asyncio.sleep(window)
        if all((cpu_seconds(p) - b) / window < quiet for p, b in zip(pids, before, strict=True)):
            return


async def start_many(n: int, budget: float, start_one: Any, concurrency: int = 32) -> tuple[int, float]:
    """Start up to n workflows (start_one(i)) with bounded concurrency until the budget runs out."""
    started = 0
    begin = time.monotonic()
    stop_at = begin + budget
    counter = iter(range(n))

    async def lane() -> None:
        nonlocal started
        for i in counter:
            if time.monotonic() > stop_at:
                return
            await start_one(i)
            started += 1

    await asyncio.gather(*(lane() for _ in range(concurrency)))
    return started, time.monotonic() - begin


def open_case(n: int, today: date) -> Any:
    from domain.case_commands import AbsenceReason, OpenCase
    from domain.people import Actor, Child, Parent, Role

    return OpenCase(
        case_ref=case_ref(n + 1000), school_urn=URN,
        child=Child(given_name=f"Timer{n}", family_name="Child", date_of_birth=date(2014, 3, 1)),
        parent=Parent(name="Bench Parent", email="parent@family.example"),
        first_day_of_absence=today - timedelta(days=3), reason=AbsenceReason.PHYSICAL_ILLNESS,
        health_summary="Fictional benchmark case", absence_days=[], actor=Actor(role=Role.SCHOOL, name="school"),
    )


def projected(settings: Any) -> int:
    db = sqlite3.connect(settings.database_url.removeprefix("sqlite:///"))
    try:
        return db.execute("SELECT COUNT(*) FROM cases").fetchone()[0]
    finally:
        db.close()


async def timers(n: int, budget: float, batch: int) -> dict[str, Any]:
    """Our CaseWorkflows on one dev server and the raw timer workflows on another, both running
    at once with the same data converter (the service's codec), started in alternating batches
    (the order flipped every round) so a noisy neighbour hurts both alike; ours stop when the
    budget runs out, the raw side then has started as many."""
    out: dict[str, Any] = {"ours_seconds": 0.0, "raw_seconds": 0.0}
    today = datetime.now(UTC).date()
    with tempfile.TemporaryDirectory(prefix="bench-timers-") as tmp:
        base = Path(tmp)
        settings = bench_settings(base, task_queue="bench-timers")
        prepare_read_model(settings)
        keys = settings.encryption_keys.get_secret_value()  # type: ignore[union-attr]
        (base / "raw").mkdir()
        async with (
            dev_server(settings) as env,
            dev_server(settings) as raw_env,
            worker_process(settings, target_of(env), base) as worker,
            raw_worker_process(target_of(raw_env), "raw-timers", base / "raw", codec_keys=keys) as raw_worker,
        ):
            server, raw_server = dev_server_pid(env), dev_server_pid(raw_env)
            assert server is not None and raw_server is not None, "dev server pid not found"
            pids = [worker.pid, server, raw_worker.pid, raw_server]
            await wait_until_idle(pids)
            out["ours_idle"] = (rss_mib(worker.pid), rss_mib(server))
            out["raw_idle"] = (rss_mib(raw_worker.pid), rss_mib(raw_server))
            client = await raw_client(raw_env, settings)

            async def start(i: int) -> None:
                await env.client.start_workflow("CaseWorkflow", open_case(i, today), id=case_ref(i + 1000),
                                                task_queue=settings.task_queue)

            async def start_raw(i: int) -> None:
                await client.start_workflow(RawTimerWorkflow.run, 30, id=f"raw-timer-{i}", task_queue="raw-timers")

            async def ours_batch(first: int, size: int) -> int:
                """Start a batch and wait until the read model holds every case (each case's first
                projection is its last work until its alarm)."""
                begin = time.monotonic()
                reached, _ = await start_many(size, 3600, lambda i: start(first + i))
                for _ in range(900):
                    if projected(settings) >= first + reached:
                        break
                    await asyncio.sleep(0.2)
                out["ours_seconds"] += time.monotonic() - begin
                return reached

            async def raw_batch(first: int, size: int) -> int:
                reached, seconds = await start_many(size, 3600, lambda i: start_raw(first + i))
                out["raw_seconds"] += seconds
                return reached

            done = 0
            stop_at = time.monotonic() + budget
            rounds = 0
            while done < n and time.monotonic() < stop_at:
                size = min(batch, n - done)
                sides = [ours_batch, raw_batch] if rounds % 2 == 0 else [raw_batch, ours_batch]
                for side in sides:
                    assert await side(done, size) == size
                done += size
                rounds += 1
                if rounds == 1:  # past the first workflows' one-off costs (imports, sandbox, caches)
                    await wait_until_idle(pids)
                    out["first"] = (done, rss_mib(worker.pid), rss_mib(server), rss_mib(raw_worker.pid),
                                    rss_mib(raw_server))
            out["n"] = done
            out["ours_projected"] = projected(settings)
            await wait_until_idle(pids)
            out["ours_loaded"] = (rss_mib(worker.pid), rss_mib(server))
            out["raw_loaded"] = (rss_mib(raw_worker.pid), rss_mib(raw_server))
            print(f"{done} CaseWorkflows and {done} raw timer workflows started in {rounds} alternating "
                  f"batches; {out['ours_projected']} cases projected", flush=True)
    return out


def report_timers(t: dict[str, Any], wanted: int) -> None:
    n = t["n"]
    header(f"open cases waiting on timers: asked for {wanted}, reached {n} on each side (interleaved, "
           f"both with the codec, each on its own dev server)")
    print(f"ours: {n} CaseWorkflows started and projected to the read model in {t['ours_seconds']:.0f}s "
          f"({n / t['ours_seconds']:.1f} cases/s)")
    print(f"raw:  {n} timer workflows started in {t['raw_seconds']:.0f}s ({n / t['raw_seconds']:.1f}/s)")
    for who in ("ours", "raw"):
        (w0, s0), (w1, s1) = t[f"{who}_idle"], t[f"{who}_loaded"]
        print(f"{who:<5} worker RSS {w0:7.1f} -> {w1:7.1f} MiB   dev server RSS {s0:7.1f} -> {s1:7.1f} MiB")
    (ow0, os0), (ow1, os1) = t["ours_idle"], t["ours_loaded"]
    (rw0, rs0), (rw1, rs1) = t["raw_idle"], t["raw_loaded"]
    print(f"worker RSS ratio ours/raw {ow1 / rw1:.2f}x (growth {ow1 - ow0:.0f} vs {rw1 - rw0:.0f} MiB); "
          f"dev server RSS ratio {os1 / rs1:.2f}x (growth {os1 - os0:.0f} vs {rs1 - rs0:.0f} MiB)")
    scale_to_10k(t)


CACHE = 1000  # the SDK's default max_cached_workflows, which worker.py and bench.raw_worker keep


def scale_to_10k(t: dict[str, Any]) -> None:
    """Both workers hold at most CACHE workflows in memory (the rest are evicted and replayed when
    they wake), so a worker's RSS grows until CACHE open workflows and then stays; the dev servers
    keep every workflow, so theirs grows with N. Extrapolates each from its slope after the first
    batch (past one-off costs) to 10,000 open workflows."""
    n = t["n"]
    (ow1, os1), (rw1, rs1) = t["ours_loaded"], t["raw_loaded"]
    if n >= 10_000 or "first" not in t or t["first"][0] >= n:
        print(f"worker RSS ratio target (issue 16) <= 1.5x: {'met' if ow1 / rw1 <= 1.5 else 'MISSED'}")
        return
    n0, ow0, os0, rw0, rs0 = t["first"]

    def at(v0: float, v1: float, upto: int) -> float:
        return v1 + (v1 - v0) / (n - n0) * max(0, upto - n)

    ours_w, raw_w = at(ow0, ow1, min(CACHE, 10_000)), at(rw0, rw1, min(CACHE, 10_000))
    ours_s, raw_s = at(os0, os1, 10_000), at(rs0, rs1, 10_000)
    how = ("measured past the cache, so it should hold at 10,000; not run that far here" if n >= CACHE
           else f"extrapolated from its slope after the first batch ({n0} open) to the {CACHE}-workflow cache")
    print(f"at 10,000 open workflows: worker RSS ours {ours_w:.0f} MiB, raw {raw_w:.0f} MiB, ratio "
          f"{ours_w / raw_w:.2f}x (target <= 1.5x: {'met' if ours_w / raw_w <= 1.5 else 'MISSED'}; {how}); "
          f"dev server ours {ours_s:.0f} MiB, raw {raw_s:.0f} MiB, ratio {ours_s / raw_s:.2f}x (extrapolated "
          f"linearly from {n0}-{n})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--per-round", type=int, default=10)
    parser.add_argument("--timers", type=int, default=10_000)
    parser.add_argument("--timer-budget", type=float, default=1800, help="seconds to spend starting cases")
    parser.add_argument("--timer-batch", type=int, default=250, help="workflows a side starts before the other's turn")
    parser.add_argument("--lists", type=int, default=1, help="0: skip the list part")
    args = parser.parse_args()
    if args.lists:
        report_lists(asyncio.run(lists(args.cases, args.rounds, args.per_round)), args.cases)
    if args.timers:
        report_timers(asyncio.run(timers(args.timers, args.timer_budget, args.timer_batch)), args.timers)


if __name__ == "__main__":
    main()
