"""A council that outgrows one worker adds workers on the same task queue (README, "How it scales"):
two `worker.py` processes and two APIs (`uvicorn api.app:app`) on one task queue and a PostgreSQL
read model, ten cases taken from the school's notification to closure through the API with the calls
alternating between the two APIs, and one worker SIGKILLed once two cases have closed (then started
again): every case completes and is closed in the read model, every kind of email reaches the mail
server once per case (none twice), no ledger line is posted twice, and both workers had done work
before the kill.

The shorter run of bench/scale_out.py (its `run_layout`, whose checks count real deliveries at an
SMTP server, real ledger rows and the worker identity Temporal records on every task), on the
session's dev server with a task queue and a PostgreSQL schema of its own."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from bench.scale_out import TWO_KILLED, run_layout
from domain.statutory_clocks import ClockSettings
from tests.support import make_settings

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

CASES = 8
WARM = 2  # untimed cases first, both before the kill
KILL_AFTER = 2


@pytest.mark.timeout(300)
async def test_two_workers_one_killed_every_case_completes_nothing_twice(
    temporal_dev_server: WorkflowEnvironment, postgres_url: str, tmp_path: Path
) -> None:
    settings = make_settings(
        tmp_path,
        log_format="json",
        task_queue=f"scale-{uuid.uuid4().hex}",
        database_url=postgres_url,
        # Closures final: a closed case's workflow ends at once, so the run can await every result.
        clocks=ClockSettings(reopen_within=0),
    )
    run = await run_layout(temporal_dev_server.client, settings, tmp_path / "run", TWO_KILLED, CASES,
                           concurrency=4, kill_after=KILL_AFTER, restart_after=0.5, warm=WARM)
    checks = run.checks
    assert checks is not None
    print(run.killed, checks.summary(), checks.work, dict(checks.interrupted))

    # Killed mid-run: after KILL_AFTER of the timed cases had closed, before the last one had.
    assert run.killed is not None and run.killed.startswith("worker-2 at ")
    assert f"after {KILL_AFTER} cases closed" in run.killed

    # Every case completed, and the read model shows it closed.
    assert checks.cases == CASES + WARM
    assert checks.completed == checks.closed_in_read_model == checks.cases

    # Every kind of email once per case: none twice, none lost without the case saying so (a message
    # the kill cut off while the mail server was receiving it is raised on its case, never resent).
    assert checks.kinds, "no email reached the mail server"
    assert checks.emails_twice == {}
    assert checks.emails_missing == []
    assert checks.emails + len(checks.emails_unconfirmed) == checks.cases * len(checks.kinds)

    # No ledger line twice, and each case's lines add up to what its workflow says it recouped.
    assert checks.ledger_lines >= checks.cases
    assert checks.ledger_twice == 0
    assert checks.ledger_totals_wrong == []

    # Both workers took workflow tasks and activities from the one task queue before the kill, and
    # every task in the histories was done by one of the workers started here.
    for name in ("worker-1", "worker-2"):
        done = checks.work[name]
        assert done.workflow_tasks_before_kill > 0 and done.activities_before_kill > 0, (name, done)
    assert checks.unknown_identities == {}
