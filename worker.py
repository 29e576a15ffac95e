"""The Temporal worker: runs CaseWorkflow and the activities on the configured task queue.

Run any number of these against one task queue to scale out. SIGTERM or SIGINT stops polling for
new tasks; activities already running get `graceful_shutdown_timeout` to finish, after which they
are cancelled and Temporal hands them to another worker (retry policy). Bad configuration prints
one line and exits with status 2.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from temporalio.client import Client

from infra.logging import configure_logging, get_logger
from infra.settings import ConfigurationError, Settings, load_settings
from infra.temporal_client import TemporalConnectionError, connect_client

MAX_CONCURRENT_ACTIVITIES = 32
GRACEFUL_SHUTDOWN = timedelta(seconds=30)
CONNECT_ATTEMPTS = 16  # about a minute: the server may still be starting (compose, run.sh)

log = get_logger("casework.worker")


async def _connect_with_retry(settings: Settings) -> Client:
    delay = 0.5
    for attempt in range(1, CONNECT_ATTEMPTS + 1):
        try:
            return await connect_client(settings)
        except TemporalConnectionError as exc:
            if attempt == CONNECT_ATTEMPTS:
                raise
            log.warning("temporal.unreachable", temporal_address=settings.temporal_address, attempt=attempt,
                        error=str(exc).splitlines()[0])
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
    raise AssertionError("unreachable")


async def run_worker(settings: Settings, stop: asyncio.Event) -> None:
    from temporalio.worker import Worker

    from activities.catalog import build_activities
    from activities.failing_attempts import FailingAttemptsInterceptor
    from infra.workflow_runner import share_compiled_code, workflow_runner

    share_compiled_code()  # before the workflows are first imported (see infra.workflow_runner)
    from workflows.case_workflow import CaseWorkflow
    from workflows.retention_sweep import RetentionSweepWorkflow, ensure_retention_schedule

    client = await _connect_with_retry(settings)
    schedule = await ensure_retention_schedule(client, settings.task_queue)
    log.info("retention_schedule.ensured", schedule_id="retention-sweep", result=schedule)
    with ThreadPoolExecutor(max_workers=MAX_CONCURRENT_ACTIVITIES, thread_name_prefix="activity") as executor:
        worker = Worker(
            client,
            task_queue=settings.task_queue,
            workflows=[CaseWorkflow, RetentionSweepWorkflow],
            workflow_runner=workflow_runner(),
            activities=build_activities(settings),
            activity_executor=executor,
            max_concurrent_activities=MAX_CONCURRENT_ACTIVITIES,
            graceful_shutdown_timeout=GRACEFUL_SHUTDOWN,
            interceptors=[FailingAttemptsInterceptor(settings.database_url)],
        )
        async with worker:
            log.info(
                "worker.started",
                task_queue=settings.task_queue,
                temporal_address=settings.temporal_address,
                namespace=settings.temporal_namespace,
            )
            await stop.wait()
            log.info("worker.stopping", graceful_shutdown_seconds=GRACEFUL_SHUTDOWN.total_seconds())
        # Leaving the block shuts the worker down: no new polls, running activities finish or are
        # cancelled after the grace period and retried elsewhere.
    log.info("worker.stopped")


async def _main(settings: Settings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await run_worker(settings, stop)


def main() -> int:
    try:
        settings = load_settings()
    except ConfigurationError as exc:
        print(exc.code, file=sys.stderr)
        return 2
    configure_logging(settings)
    try:
        asyncio.run(_main(settings))
    except ConfigurationError as exc:
        print(exc.code, file=sys.stderr)
        return 2
    except TemporalConnectionError as exc:
        print(str(exc).splitlines()[0], file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
