"""What every route shares, as FastAPI dependencies and helpers: the app's services, a database
unit of work in a worker thread, the Temporal client, a call to the case's workflow bounded in time,
the JSON response and the access record of a read of a case's personal data.

Route modules import from here, from `api.auth` and from `domain/`; never from one another."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from fastapi import Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel
from sqlalchemy import Engine
from sqlmodel import Session
from temporalio.client import Client, WorkflowHandle

from api.principal import Principal
from api.problems import EngineTimeout, ProblemError
from api.services import Services
from domain.case_state import CaseView
from readmodel.database import session_scope
from readmodel.tables import AccessRecord

T = TypeVar("T")

VIEW_QUERY = "view"
#: How long a command or query may wait for the workflow (a worker must pick it up) before 503.
ENGINE_TIMEOUT_SECONDS = 30.0


def services(request: Request) -> Services:
    svc = getattr(request.app.state, "services", None)
    if svc is None:  # before the lifespan has run, or after shutdown
        raise ProblemError(
            503,
            "The service is starting or stopping; try again shortly.",
            slug="service-unavailable",
            headers={"Retry-After": "5"},
        )
    return svc


def engine_of(request: Request) -> Engine:
    return services(request).engine


async def run_db(request: Request, work: Callable[[Session], T]) -> T:
    """Run `work(session)` in one transaction, in a worker thread (the database driver blocks)."""
    engine = engine_of(request)

    def _unit() -> T:
        with session_scope(engine) as session:
            return work(session)

    return await run_in_threadpool(_unit)


async def temporal_client(request: Request) -> Client:
    return await services(request).temporal.client()


async def within_engine_timeout(awaitable: Awaitable[T]) -> T:
    """Await a call to the case's workflow; 503 (`EngineTimeout`) when no worker answers in time."""
    try:
        async with asyncio.timeout(ENGINE_TIMEOUT_SECONDS):
            return await awaitable
    except TimeoutError:
        raise EngineTimeout() from None


async def query_view(request: Request, handle: WorkflowHandle[Any, Any]) -> CaseView:
    return await within_engine_timeout(handle.query(VIEW_QUERY, result_type=CaseView))


def json_response(
    model: BaseModel, status_code: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(
        content=model.model_dump_json(),
        status_code=status_code,
        media_type="application/json",
        headers=headers,
    )


_INSERT_ACCESS_RECORD = AccessRecord.__table__.insert()


def record_access(session: Session, principal: Principal, case_ref: str, what: str) -> None:
    """Record, in the session's transaction, that the caller read this case's personal data."""
    session.connection().execute(
        _INSERT_ACCESS_RECORD,
        {
            "at": datetime.now(UTC),
            "actor_role": principal.role.value,
            "actor_name": principal.name,
            "case_ref": case_ref,
            "what": what[:200],
        },
    )
