"""A worker killed with SIGKILL at random moments, again and again, while twelve cases run from the
school's notification to closure, then started again: every case completes, every recoupment charge
is in the ledger exactly once, the read model shows every case closed, and every email reaches the
mail server once.

The one exception is physics, not a bug: SMTP cannot be made part of a transaction, so a worker
killed in the instant between the mail server accepting a message and the service recording it
(activities/email.py commits the record right after the server's "250") has no way to know the
message went out, and its retry delivers it again, with the same Message-ID so the receiving side
sees the same message. The test allows exactly that and nothing else: a second delivery only of a
message the server accepted less than `CRASH_WINDOW` before a kill, never a third.

The worker is the real `worker.py` in its own process (so SIGKILL is real: no shutdown, no last
report to Temporal), on the real dev server, with a SQLite read model and a real SMTP server here."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlmodel import Session, select
from temporalio.api.enums.v1 import EventType
from temporalio.testing import WorkflowEnvironment

from readmodel.database import make_engine
from readmodel.migrate import upgrade
from readmodel.tables import CaseRow, LedgerEntry, SentEmail
from tests.conftest import make_settings
from tests.fault_support import (
    LIFECYCLE_TEMPLATES,
    SmtpServer,
    WorkerProcess,
    command,
    lifecycle,
    new_case,
    start_case,
)

pytestmark = pytest.mark.slow

CASES = 12
KILLS = 3
CRASH_WINDOW = 0.5  # seconds: a message accepted this shortly before a kill may be delivered again


async def test_worker_killed_at_random_moments_loses_nothing_and_repeats_nothing(
    temporal_dev_server: WorkflowEnvironment, tmp_path: Path
) -> None:
    seed = random.randrange(1_000_000)
    rng = random.Random(seed)
    print(f"chaos seed {seed}")
    smtp = SmtpServer()
    smtp.start()
    client = temporal_dev_server.client
    settings = make_settings(
        tmp_path,
        temporal_address=client.service_client.config.target_host,
        task_queue=f"crash-{uuid.uuid4().hex}",
        smtp_host="127.0.0.1",
        smtp_port=smtp.port,
    )
    upgrade(settings.database_url)
    worker = WorkerProcess(settings, tmp_path / "worker.log")
    worker.start()
    answered = asyncio.Event()  # set whenever a command has been answered

    async def one_case() -> tuple[str, object]:
        case = new_case()
        handle = await start_case(client, case, settings.task_queue)
        for n, (action, cmd) in enumerate(lifecycle(case)):
            await asyncio.sleep(rng.uniform(0, 0.4))
            await command(handle, action, cmd, update_id=f"{case.case_ref}:{n}:{action}")
            answered.set()
        return case.case_ref, await handle.result()

    async def chaos() -> list[float]:
        """Kill the worker a moment after it has done some work, start it again, repeat."""
        kills: list[float] = []
        for _ in range(KILLS):
            answered.clear()
            await answered.wait()  # the (re)started worker is doing work now
            await asyncio.sleep(rng.uniform(0, 0.8))
            kills.append(time.monotonic())
            worker.kill()
            await asyncio.sleep(rng.uniform(0.1, 1.0))
            worker.start()
        return kills

    started = time.monotonic()
    try:
        chaos_task = asyncio.ensure_future(chaos())
        results = dict(await asyncio.wait_for(asyncio.gather(*(one_case() for _ in range(CASES))), timeout=100))
        kills = await asyncio.wait_for(chaos_task, timeout=5)
    finally:
        worker.stop()
        smtp.stop()
    finished = time.monotonic()
    print(f"{CASES} cases closed in {finished - started:.1f} s; kills at "
          f"{', '.join(f'{k - started:.1f}' for k in kills)} s; worker started {worker.starts} times")

    # Every case completed, and the worker really was killed in the middle of them.
    assert len(results) == CASES
    assert worker.starts == KILLS + 1
    today = datetime.now(UTC).date()
    for ref, result in results.items():
        assert (result.outcome, result.closed_on) == ("left_area", today), ref
        assert Decimal(result.recoupment_total) > 0, ref

    # Every email reached the mail server once; again only if a kill cut it off from its record.
    deliveries = smtp.mailbox.deliveries_by_message_id()
    redelivered = {}
    for mid in (mid for mid, n in deliveries.items() if n > 1):
        first = min(t for m, t in zip(smtp.mailbox.messages, smtp.mailbox.arrived, strict=True)
                    if m["Message-ID"] == mid)
        redelivered[mid] = (deliveries[mid], [round(k - first, 3) for k in kills if 0 <= k - first < CRASH_WINDOW])
    print(f"{len(deliveries)} emails; delivered again after a kill right after acceptance: {redelivered}")
    assert {mid: (n, near) for mid, (n, near) in redelivered.items() if n > 2 or not near} == {}
    for ref in results:
        sent_by_case = smtp.mailbox.templates_for(ref)
        assert set(sent_by_case) == set(LIFECYCLE_TEMPLATES), ref
        assert sum(sent_by_case.values()) - len(sent_by_case) <= len(redelivered), ref

    engine = make_engine(settings.database_url)
    try:
        with Session(engine) as session:
            sent = session.exec(select(SentEmail)).all()
            ledger = session.exec(select(LedgerEntry)).all()
            rows = session.exec(select(CaseRow)).all()
    finally:
        engine.dispose()
    # What the service recorded as sent is exactly what arrived.
    assert sorted(s.message_id for s in sent) == sorted(deliveries)
    assert {s.via for s in sent} == {"smtp"}
    # Each case's ledger entries add up to exactly what the case recouped: nothing posted twice.
    assert len({e.idempotency_key for e in ledger}) == len(ledger)
    charged: Counter[str] = Counter()
    for entry in ledger:
        charged[entry.case_ref] += Decimal(entry.amount)
    assert {ref: charged[ref] for ref in results} == {ref: Decimal(r.recoupment_total) for ref, r in results.items()}
    # The read model caught up with every case.
    assert {row.case_ref: row.stage for row in rows} == dict.fromkeys(results, "closed")

    # What the kills interrupted (for the record; how much depends on the moments drawn).
    interrupted = Counter()
    for ref in results:
        async for event in client.get_workflow_handle(ref).fetch_history_events():
            if event.event_type in (EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT,
                                    EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT):
                interrupted[EventType.Name(event.event_type)] += 1
    print(f"interrupted work retried by Temporal: {dict(interrupted)}")
