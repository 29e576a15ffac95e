"""The casework API: `uvicorn api.app:app`.

`create_app(settings)` builds the FastAPI application; nothing connects at import. The lifespan
opens the read-model engine, the keyring and the document store, and connects to Temporal in the
background: if Temporal is down when the API starts, the API still starts, answers 503 to what
needs Temporal (with `Retry-After`), and connects as soon as Temporal is back.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi
from temporalio.client import Client

from api.access_routes import router as access_router
from api.case_read_routes import router as case_read_router
from api.codec_routes import router as codec_router
from api.command_routes import router as command_router
from api.docs_routes import router as docs_router
from api.document_routes import router as document_router
from api.health_routes import router as health_router
from api.metrics import Metrics
from api.notification_routes import router as notification_router
from api.problems import TemporalUnavailable, install_problem_handlers, problem_schemas
from api.report_routes import router as report_router
from api.request_middleware import RequestMiddleware
from api.security_headers import SecurityHeadersMiddleware
from api.services import TemporalConnector, build_services
from api.subject_access_routes import router as subject_access_router
from api.task_routes import router as task_router
from infra.logging import configure_logging
from infra.settings import Settings, get_settings
from pages.assets import mount_assets
from pages.routers import PAGE_ROUTERS

API_VERSION = "1.0.0"

TAGS: list[dict[str, Any]] = [
    {
        "name": "cases",
        "description": "Open a case from a school's notification, list and read cases, and give them "
        "commands. Every command goes through the case's workflow and answers with the case's new "
        "state; an action the case's stage does not allow answers 409 with the actions allowed now.",
    },
    {"name": "documents", "description": "Evidence uploads (checked by content) and downloads."},
    {"name": "tasks", "description": "The inbox: what cases are waiting on, by due date."},
    {"name": "reports", "description": "Caseload, overdue and stalled cases, time to provision, recoupment."},
    {"name": "access", "description": "Who read a case's health data, and when (supervisors)."},
    {"name": "codec", "description": "Payload codec for the Temporal UI (supervisors)."},
    {"name": "health", "description": "Liveness, readiness and Prometheus metrics."},
]

DESCRIPTION = """
Education for children who cannot attend school because of health needs (Education Act 1996 s19).

**Access.** Send `Authorization: Bearer <token>`; keys are created with
`casework keys create --role ROLE --name NAME [--school-urn URN ...]`. Roles:
`school` (its own pupils only: another school's case is a 404), `caseworker`, `supervisor`,
`finance` (recoupment reports only, never health data).

**Errors** are `application/problem+json` (RFC 9457): `errors` names the fields of an invalid
request; a 409 gives the case's `stage` and its `allowed_actions`; 503 means Temporal or the
database is not reachable (retry after `Retry-After`).

**Idempotency.** `POST /cases` and every command take an optional `Idempotency-Key` header: the
same key from the same access key gives the same result once, however often it is sent.
"""


def create_app(
    settings: Settings | None = None,
    *,
    temporal_connect: Callable[[Settings], Awaitable[Client]] | None = None,
) -> FastAPI:
    """The API. `settings` defaults to the environment's; `temporal_connect` replaces how the
    Temporal client is made (tests)."""
    settings = settings or get_settings()
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.environment != "test":
            configure_logging(settings)
        services = build_services(settings, metrics, TemporalConnector(settings, temporal_connect))
        app.state.services = services
        # Connect in the background: a slow or absent Temporal never delays or stops the start.
        connecting = asyncio.create_task(_try_connect(services.temporal))
        try:
            yield
        finally:
            connecting.cancel()
            services.engine.dispose()
            app.state.services = None

    app = FastAPI(
        title="Casework API",
        version=API_VERSION,
        description=DESCRIPTION,
        openapi_tags=TAGS,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.metrics = metrics
    app.state.services = None
    install_problem_handlers(app)

    # In this order, so that the OpenAPI document lists the case routes as a reader meets them.
    for router in (
        notification_router,
        case_read_router,
        command_router,
        document_router,
        task_router,
        report_router,
        access_router,
        subject_access_router,
        health_router,
        codec_router,
        docs_router,
        *PAGE_ROUTERS,
    ):
        app.include_router(router)
    mount_assets(app)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
                tags=app.openapi_tags,
            )
            schema.setdefault("components", {}).setdefault("schemas", {}).update(problem_schemas())
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    app.add_middleware(
        RequestMiddleware,
        metrics=metrics,
        max_document_bytes=settings.max_document_bytes,
        body_timeout=settings.request_body_timeout_seconds,
    )
    # Outside the request middleware, so that even an error answer carries the CORS headers.
    app.add_middleware(
        CORSMiddleware,
        allow_origins=[settings.ui_origin],
        allow_credentials=True,
        allow_methods=["GET", "POST", "OPTIONS"],
        allow_headers=["Authorization", "Authorization-Extras", "Content-Type", "Idempotency-Key", "X-Namespace"],
        expose_headers=["Location", "Retry-After", "X-Request-ID"],
        max_age=600,
    )
    # Outermost of all, so that every answer (a preflight, a 413, a 500) carries the headers.
    app.add_middleware(SecurityHeadersMiddleware, hsts=settings.environment == "production")
    return app


async def _try_connect(connector: TemporalConnector) -> None:
    try:
        await connector.client()
    except TemporalUnavailable:
        pass  # requests retry; /readyz says so


#: `uvicorn api.app:app`. Building the app reads the settings and connects nothing; the lifespan
#: opens the database engine and connects to Temporal (in the background, retried on demand).
app = create_app()
