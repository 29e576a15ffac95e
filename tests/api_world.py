"""What the API tests on the shared dev server all need: a migrated read model with one access key
per caller, a worker running CaseWorkflow with every real activity, and an HTTP client on the app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any

import httpx
from temporalio.client import Client
from temporalio.worker import Worker

from activities.catalog import build_activities
from infra.access_keys import create_api_key
from infra.settings import Settings
from readmodel.database import make_engine, session_scope
from readmodel.migrate import upgrade
from workflows.case_workflow import CaseWorkflow

# A caller: (key name, role, school URNs or None)
KeySpec = tuple[str, str, list[str] | None]


def migrate_and_create_keys(database_url: str, callers: dict[str, KeySpec]) -> dict[str, str]:
    """Bring the read model to the latest schema and create a key per caller; answers their tokens."""
    upgrade(database_url)
    engine = make_engine(database_url)
    try:
        with session_scope(engine) as s:
            return {who: create_api_key(s, name, role, urns or []) for who, (name, role, urns) in callers.items()}
    finally:
        engine.dispose()


@asynccontextmanager
async def case_worker(client: Client, settings: Settings) -> AsyncIterator[Worker]:
    """A worker on the settings' task queue; cases still open at the end are terminated, so their
    timers do not keep running on the shared dev server."""
    with ThreadPoolExecutor(max_workers=8) as executor:
        async with Worker(
            client,
            task_queue=settings.task_queue,
            workflows=[CaseWorkflow],
            activities=build_activities(settings),
            activity_executor=executor,
        ) as worker:
            try:
                yield worker
            finally:
                async for execution in client.list_workflows(
                    f"TaskQueue = '{settings.task_queue}' AND ExecutionStatus = 'Running'"
                ):
                    await client.get_workflow_handle(execution.id).terminate("end of test")


@asynccontextmanager
async def api_client(app: Any, base_url: str = "http://testserver") -> AsyncIterator[httpx.AsyncClient]:
    """The app with its lifespan run, reached in-process over HTTP."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url=base_url, timeout=60) as client:
            yield client
