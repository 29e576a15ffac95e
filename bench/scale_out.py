"""Scale out, measured (issue 16): the same load of whole cases on one worker and one API, then on
two workers and two APIs polling one task queue, then on two and two with one worker killed
(SIGKILL) mid-run, all on one Temporal dev server and a PostgreSQL read model.

Each case is bench/lifecycle_throughput.py's: nine HTTP calls from the school's notification to
closure (emails to parent and school, recoupment lines to the ledger), each lane waiting for its
case's workflow to complete before its next case. With two APIs the calls alternate between them
(one case's calls too: the API holds no state). Every call carries an `Idempotency-Key` and is sent
again under it after a 502/503/504 or a broken connection, as a careful client does (a kill can hold
an update past the API's 30-second wait: an activity lost with the worker is retried only when its
30-second start-to-close timeout expires).

Each run has its own processes, task queue, PostgreSQL schema and SMTP server (bench/mail_sink.py),
and is checked afterwards by counting real things (bench/scale_checks.py): every workflow completed
and every case closed in the read model, no email delivered twice, no ledger line twice, and how
much each worker did (from the worker identity Temporal records on each task).

    .venv/bin/python -m bench.scale_out [--cases 40] [--concurrency 10] [--repeats 2]
        [--kill-after 10] [--restart-after 1.0 | --no-restart]

`--kill-after N`: the second worker is killed once N cases of the run have closed (default a
third); `--restart-after S`: started again S seconds later (as a container would be).

What two cores can and cannot show is printed with the figures: a second worker can use at most the
second core, which the dev server, PostgreSQL, two APIs and the load generator share too, so the
ratio says nothing about workers on hosts of their own; the runs show that the work spreads over
both workers, that a killed worker's work is finished by the others with nothing lost or repeated,
and what the failover costs.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from temporalio.client import Client

from bench.lifecycle_throughput import steps
from bench.mail_sink import MailSink
from bench.scale_checks import Checks, check
from bench.support import (
    Service,
    bearer,
    bench_settings,
    dev_server,
    header,
    ms,
    notification,
    percentile,
    postgres_schema,
    prepare_read_model,
    school_days_around_today,
    start_api,
    start_worker,
    target_of,
)
from infra.settings import Settings

RETRY_STATUS = {502, 503, 504}
CALL_DEADLINE_SECONDS = 240  # a call sent again until then (a failover takes about 35 s at most)


@dataclass(frozen=True)
class Layout:
    name: str
    workers: int
    apis: int
    kill: bool = False


ONE = Layout("1 worker, 1 API", 1, 1)
TWO = Layout("2 workers, 2 APIs", 2, 2)
TWO_KILLED = Layout("2 workers, 2 APIs, 1 killed", 2, 2, kill=True)
LAYOUTS = (ONE, TWO, TWO_KILLED)


@dataclass
class Run:
    layout: Layout
    cases: int
    seconds: float = 0.0
    calls: list[float] = field(default_factory=list)
    retries: int = 0
    load: tuple[float, float] = (0.0, 0.0)  # 1-minute load average at the start and the end
    killed: str | None = None  # "worker-2 at 12.3 s (after 10 cases closed), restarted at 15.1 s"
    checks: Checks | None = None

    @property
    def per_minute(self) -> float:
        return self.cases / self.seconds * 60


async def run_layout(client: Client, settings: Settings, base: Path, layout: Layout, cases: int,
                     concurrency: int, kill_after: int | None = None, restart_after: float | None = 1.0,
                     warm: int = 2, tag: str = "") -> Run:
    """Run `cases` cases (after `warm` untimed ones, one per lane at once) on `layout`'s processes,
    against the server `client` talks to, with `settings` (a task queue and read model of their own:
    the read model is migrated here); check them all. `kill_after`: cases closed before the kill
    (default a third)."""
    tag = tag or uuid.uuid4().hex[:6]
    await asyncio.to_thread(base.mkdir, parents=True, exist_ok=True)
    tokens = prepare_read_model(settings)
    school, staff = bearer(tokens["school"]), bearer(tokens["caseworker"])
    days = school_days_around_today()
    plan = steps(days)
    target = client.service_client.config.target_host
    sink = MailSink()
    sink.start()
    services: list[Service] = []
    out = Run(layout, cases)
    try:
        workers = list(await asyncio.gather(*(start_worker(settings, target, base, f"worker-{n + 1}", sink.env())
                                              for n in range(layout.workers))))
        services += workers
        apis = await asyncio.gather(*(start_api(settings, target, base, f"api-{n + 1}", sink.env())
                                      for n in range(layout.apis)))
        services += [s for s, _ in apis]
        urls = [url for _, url in apis]
        identities = {f"{w.pid}@": w.name for w in workers}
        http = httpx.AsyncClient(timeout=120, limits=httpx.Limits(max_connections=concurrency * 2))
        closed = asyncio.Event()
        closed_count = 0
        kill_at: float | None = None

        async def post(n: int, path: str, headers: dict[str, str], body: dict[str, Any]) -> httpx.Response:
            """Call number `n` of a case: to API n mod the number of APIs, sent again after a fault."""
            key = {"Idempotency-Key": uuid.uuid4().hex}
            deadline = time.monotonic() + CALL_DEADLINE_SECONDS
            while True:
                try:
                    r = await http.post(f"{urls[n % len(urls)]}{path}", headers=headers | key, json=body)
                    if r.status_code not in RETRY_STATUS:
                        return r
                    fault = f"{r.status_code} {r.text[:200]}"
                except httpx.TransportError as exc:
                    fault = repr(exc)
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{path}: no answer within {CALL_DEADLINE_SECONDS} s (last: {fault})")
                out.retries += 1
                await asyncio.sleep(0.5)

        async def one(i: int, label: str, timed: bool) -> str:
            nonlocal closed_count
            t = time.perf_counter()
            r = await post(i, "/cases", school, notification(days, i, f"{tag}{label}"))
            assert r.status_code in (200, 201), r.text
            ref = r.json()["case_ref"]
            if timed:
                out.calls.append(time.perf_counter() - t)
            for n, (slug, body) in enumerate(plan, start=i + 1):
                t = time.perf_counter()
                r = await post(n, f"/cases/{ref}/{slug}", staff, body)
                # The closing call sent again after its first try closed the case: 409 "closed".
                closing_replayed = slug == plan[-1][0] and r.status_code == 409
                assert r.status_code == 200 or closing_replayed, f"{slug}: {r.status_code} {r.text}"
                if timed:
                    out.calls.append(time.perf_counter() - t)
            await client.get_workflow_handle(ref).result()
            if timed:
                closed_count += 1
                closed.set()
            return ref

        async def chaos() -> None:
            nonlocal kill_at
            limit = cases // 3 if kill_after is None else kill_after
            while closed_count < limit:
                closed.clear()
                await closed.wait()
            victim = workers[-1]
            kill_at = time.time()
            victim.process.kill()  # SIGKILL: no shutdown, nothing reported to Temporal
            victim.process.wait()
            out.killed = f"{victim.name} at {time.perf_counter() - begin:.1f} s (after {closed_count} cases closed)"
            if restart_after is not None:
                await asyncio.sleep(restart_after)
                again = await start_worker(settings, target, base, f"{victim.name}-restarted", sink.env())
                services.append(again)
                identities[f"{again.pid}@"] = again.name
                out.killed += f", restarted (up at {time.perf_counter() - begin:.1f} s)"

        first = list(await asyncio.gather(*(one(n, "w", False) for n in range(warm))))
        refs: list[str] = []
        counter = iter(range(warm, warm + cases))

        async def lane() -> None:
            for i in counter:
                refs.append(await one(i, "", True))

        out.load = (os.getloadavg()[0], 0.0)
        begin = time.perf_counter()
        chaos_task = asyncio.ensure_future(chaos()) if layout.kill else None
        await asyncio.gather(*(lane() for _ in range(concurrency)))
        out.seconds = time.perf_counter() - begin
        out.load = (out.load[0], os.getloadavg()[0])
        if chaos_task is not None:
            await asyncio.wait_for(chaos_task, timeout=120)
        await http.aclose()
        out.checks = await check(client, settings.database_url, sink, first + refs, first, identities, kill_at)
    finally:
        for service in services:
            service.stop()
        sink.stop()
    return out


async def run(cases: int, concurrency: int, repeats: int, kill_after: int | None,
              restart_after: float | None) -> list[Run]:
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        base = Path(tmp)
        settings = bench_settings(base, task_queue="unused")
        keys = settings.encryption_keys.get_secret_value()  # type: ignore[union-attr]
        async with dev_server(settings) as env:
            print(f"dev server at {target_of(env)}; PostgreSQL read model, one schema a run", flush=True)
            for r in range(repeats):
                for layout in LAYOUTS if r % 2 == 0 else reversed(LAYOUTS):
                    n = len(runs)
                    with postgres_schema(prefix="scale") as url:
                        run_settings = bench_settings(base / f"run-{n}", task_queue=f"scale-{n}-{uuid.uuid4().hex[:6]}",
                                                      database_url=url, encryption_keys=keys)
                        done = await run_layout(env.client, run_settings, base / f"run-{n}", layout, cases,
                                                concurrency, kill_after, restart_after, tag=f"r{n}")
                    runs.append(done)
                    assert done.checks is not None
                    print(f"  repeat {r + 1}: {layout.name:<28} {cases} cases in {done.seconds:.1f} s = "
                          f"{done.per_minute:.0f} cases/min, {done.retries} calls sent again"
                          f"{'; killed ' + done.killed if done.killed else ''}\n"
                          f"    {done.checks.summary()}", flush=True)
    return runs


def _work(checks: Checks, layout: Layout) -> str:
    parts = []
    for name, w in sorted(checks.work.items()):
        before = (f" ({w.workflow_tasks_before_kill}/{w.activities_before_kill} before the kill)"
                  if layout.kill else "")
        parts.append(f"{name} {w.workflow_tasks}/{w.activities}{before}")
    return "; ".join(parts)


def report(runs: list[Run], cases: int, concurrency: int) -> None:
    header(f"scale out ({cases} cases, {concurrency} at a time, 9 HTTP calls a case, PostgreSQL read model, "
           "timed to every workflow's completion)")
    rows: list[tuple[str, list[str]]] = []
    by = {layout: [r for r in runs if r.layout == layout] for layout in LAYOUTS}
    medians = {layout: statistics.median(r.per_minute for r in rs) for layout, rs in by.items()}

    def line(label: str, cell: Any) -> None:
        rows.append((label, [cell(layout, rs) for layout, rs in by.items()]))

    line("cases/min, median (runs)",
         lambda lo, rs: f"{medians[lo]:.0f} ({', '.join(f'{r.per_minute:.0f}' for r in rs)})")
    line("ratio to 1 worker: medians", lambda lo, rs: f"{medians[lo] / medians[ONE]:.2f}x")
    line("  and repeat by repeat", lambda lo, rs: ", ".join(
        f"{r.per_minute / one.per_minute:.2f}x" for r, one in zip(rs, by[ONE], strict=True)))
    line("HTTP call p50 / p99",
         lambda lo, rs: (lambda c: f"{ms(statistics.median(c))} / {ms(percentile(c, 99))}")(
             [x for r in rs for x in r.calls]))
    line("calls sent again (503, broken)", lambda lo, rs: ", ".join(str(r.retries) for r in rs))
    line("completed / closed in read model",
         lambda lo, rs: ", ".join(f"{r.checks.completed}/{r.checks.closed_in_read_model} of {r.checks.cases}"
                                  for r in rs if r.checks))
    line("emails delivered / twice / missing",
         lambda lo, rs: ", ".join(f"{r.checks.emails}/{len(r.checks.emails_twice)}/{len(r.checks.emails_missing)}"
                                  for r in rs if r.checks))
    line("emails unconfirmed (cut mid-hand-over)",
         lambda lo, rs: ", ".join(str(len(r.checks.emails_unconfirmed)) for r in rs if r.checks))
    line("ledger lines / twice / totals wrong",
         lambda lo, rs: ", ".join(f"{r.checks.ledger_lines}/{r.checks.ledger_twice}/{len(r.checks.ledger_totals_wrong)}"
                                  for r in rs if r.checks))
    line("load average, start -> end", lambda lo, rs: ", ".join(f"{r.load[0]:.1f}->{r.load[1]:.1f}" for r in rs))
    width = max(len(label) for label, _ in rows) + 2
    cols = [max(len(lo.name), *(len(c[i]) for _, c in rows)) + 2 for i, lo in enumerate(LAYOUTS)]
    print(" " * width + "".join(lo.name.ljust(w) for lo, w in zip(LAYOUTS, cols, strict=True)))
    for label, cells in rows:
        print(label.ljust(width) + "".join(c.ljust(w) for c, w in zip(cells, cols, strict=True)))
    print("\nwork by worker, workflow tasks/activities completed (from the identity on each completion in the histories):")
    for r in runs:
        assert r.checks is not None
        extra = f"; killed {r.killed}; interrupted: {dict(r.checks.interrupted)}" if r.killed else ""
        print(f"  {r.layout.name:<28} {_work(r.checks, r.layout)}{extra}")
    verdict = all(r.checks is not None and r.checks.ok for r in runs)
    print(f"every run: every case completed and closed, no email or ledger line twice: {'yes' if verdict else 'NO'}")
    print(f"""
What {os.cpu_count()} cores can and cannot show. One worker is one Python process whose workflow code
runs on one thread, so a second worker can use the second core, as far as the dev server, PostgreSQL,
the APIs and this load generator (all on the same {os.cpu_count()} cores) and the machine's other users
(see the load average) leave it free. So the two-worker ratio is capped well below 2x by the machine
and moves with the neighbours' load: it cannot show how throughput grows with workers on hosts of
their own, nor where a Temporal cluster or PostgreSQL would become the limit. What the runs do show:
both workers take workflow and activity tasks from one task queue (the split above), the calls
alternate between two APIs on one PostgreSQL database, and when one worker is SIGKILLed mid-run
every case still completes with no email or ledger line twice (a message the kill cut off while the
mail server was receiving it is raised on its case, never sent again). The killed runs' rate is the
failover's cost: work held by the dead worker waits for the sticky queue's 5 s (workflow tasks) or
an activity's 30 s start-to-close timeout before the other worker takes it.""")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=40)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--kill-after", type=int, default=None,
                        help="kill the second worker once this many cases have closed (default: a third)")
    parser.add_argument("--restart-after", type=float, default=1.0,
                        help="start the killed worker again this many seconds later")
    parser.add_argument("--no-restart", action="store_true", help="leave the killed worker dead")
    args = parser.parse_args()
    if args.kill_after is not None and not 0 <= args.kill_after < args.cases:
        parser.error("--kill-after must be below --cases: the kill is to come mid-run")
    restart = None if args.no_restart else args.restart_after
    runs = asyncio.run(run(args.cases, args.concurrency, args.repeats, args.kill_after, restart))
    report(runs, args.cases, args.concurrency)
    if not all(r.checks is not None and r.checks.ok for r in runs):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
