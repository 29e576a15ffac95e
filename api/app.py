"""The casework API: `uvicorn api.app:app`.

`create_app(settings)` builds the FastAPI application; nothing connects at import. The lifespan
opens the read-model engine, the keyring and the document store, and connects to Temporal in the
background: if Temporal is down when the API starts, the API still starts, answers 503 to what
needs Temporal (with `Retry-After`), and connects as soon as Temporal is back.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import structlog
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi
from prometheus_client import CollectorRegistry, Counter, Histogram
from sqlalchemy import Engine
from starlette.requests import Request as StarletteRequest
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from temporalio.client import Client

from api.problems import (
    BodyTooLarge,
    TemporalUnavailable,
    body_too_large,
    install_problem_handlers,
    internal_error,
    problem_schemas,
)
from domain.school_calendar import SchoolCalendar, load_calendar_data
from infra.document_store import DocumentStore
from infra.encryption import Keyring
from infra.logging import configure_logging, get_logger
from infra.settings import Settings, get_settings
from readmodel.database import make_engine

log = get_logger(__name__)

API_VERSION = "1.0.0"
MAX_JSON_BODY_BYTES = 1024 * 1024
UPLOAD_OVERHEAD_BYTES = 64 * 1024

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


# -- Temporal connection ----------------------------------------------------------------------


class TemporalConnector:
    """Connects to Temporal on first need and again after a failure (at most every `retry_interval`)."""

    def __init__(
        self,
        settings: Settings,
        connect: Callable[[Settings], Awaitable[Client]] | None = None,
        *,
        timeout: float = 5.0,
        retry_interval: float = 1.0,
    ) -> None:
        self.settings = settings
        self._connect = connect or _default_connect
        self.timeout = timeout
        self.retry_interval = retry_interval
        self._client: Client | None = None
        self._lock = asyncio.Lock()
        self._last_failure: float | None = None
        self.last_error: str | None = None

    @property
    def connected(self) -> bool:
        return self._client is not None

    async def client(self) -> Client:
        if self._client is not None:
            return self._client
        if self._last_failure is not None and time.monotonic() - self._last_failure < self.retry_interval:
            raise TemporalUnavailable(self.last_error or "not connected")
        async with self._lock:
            if self._client is not None:
                return self._client
            if self._last_failure is not None and time.monotonic() - self._last_failure < self.retry_interval:
                raise TemporalUnavailable(self.last_error or "not connected")
            try:
                self._client = await asyncio.wait_for(self._connect(self.settings), self.timeout)
            except Exception as exc:
                self._last_failure = time.monotonic()
                self.last_error = type(exc).__name__
                log.warning(
                    "temporal_connect_failed",
                    temporal_address=self.settings.temporal_address,
                    error=str(exc)[:300],
                )
                raise TemporalUnavailable(self.last_error) from exc
            self._last_failure = None
            self.last_error = None
            log.info("temporal_connected", temporal_address=self.settings.temporal_address)
            return self._client

    def set_client(self, client: Client) -> None:
        """Use an already connected client (tests)."""
        self._client = client


async def _default_connect(settings: Settings) -> Client:
    from infra.temporal_client import connect_client

    return await connect_client(settings)


# -- services ---------------------------------------------------------------------------------


@dataclass
class Services:
    settings: Settings
    engine: Engine
    keyring: Keyring
    documents: DocumentStore
    temporal: TemporalConnector
    metrics: Metrics
    _calendar: SchoolCalendar | None = field(default=None, repr=False)
    #: One lock per child key, so two identical notifications at once still open one case.
    notify_locks: dict[str, asyncio.Lock] = field(default_factory=dict, repr=False)

    def calendar(self) -> SchoolCalendar:
        """The school calendar (term dates) around today, loaded once."""
        if self._calendar is None:
            this_year = date.today().year
            data = load_calendar_data(self.settings.school_calendar_file, this_year - 6, this_year + 1)
            self._calendar = SchoolCalendar(data)
        return self._calendar


# -- metrics and request middleware -------------------------------------------------------------


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "casework_http_requests",
            "HTTP requests answered, by method, route template and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "casework_http_request_duration_seconds",
            "HTTP request latency, by method, route template and status",
            ["method", "route", "status"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=self.registry,
        )

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        labels = (method, route, str(status))
        self.requests.labels(*labels).inc()
        self.latency.labels(*labels).observe(seconds)


_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_KNOWN_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}


class RequestMiddleware:
    """Request id, access log line, metrics by route template, and a problem (never a traceback)
    for any exception no handler claimed."""

    def __init__(self, app: ASGIApp, metrics: Metrics, max_document_bytes: int) -> None:
        self.app = app
        self.metrics = metrics
        # Commands are small JSON documents; only a document upload may be larger.
        self.max_upload_bytes = max_document_bytes + UPLOAD_OVERHEAD_BYTES

    def _body_limit(self, scope: Scope) -> tuple[int, int]:
        """The most bytes a request may send, and the limit to name when refusing it."""
        if scope.get("method") == "POST" and scope.get("path", "").endswith("/documents"):
            return self.max_upload_bytes, self.max_upload_bytes - UPLOAD_OVERHEAD_BYTES
        return MAX_JSON_BODY_BYTES, MAX_JSON_BODY_BYTES

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        incoming = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if _REQUEST_ID_RE.match(incoming) else uuid.uuid4().hex
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        status = 500
        started = False
        limit, named_limit = self._body_limit(scope)
        received = 0

        async def _receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(named_limit)
            return message

        async def _send(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                started = True
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            declared = _content_length(scope)
            if declared is not None and declared > limit:
                raise BodyTooLarge(named_limit)
            await self.app(scope, _receive, _send)
        except Exception as exc:
            if started:
                log.error("response_failed_midway", error_type=type(exc).__name__)
                raise
            request = StarletteRequest(scope)
            if isinstance(exc, BodyTooLarge):
                response = body_too_large(request, exc)
            else:
                response = internal_error(request, exc)
            await response(scope, receive, _send)
        finally:
            elapsed = time.perf_counter() - start
            template = _route_template(scope)
            method = scope.get("method", "GET")
            method = method if method in _KNOWN_METHODS else "OTHER"
            self.metrics.observe(method, template, status, elapsed)
            log.info(
                "http_request",
                method=method,
                route=template,
                status=status,
                duration_ms=round(elapsed * 1000, 1),
            )


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers") or ():
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _route_template(scope: Scope) -> str:
    """The path template of the route that answered (`/cases/{case_ref}`), never the raw path (which
    would carry case references and make a metric per case); "unmatched" when no route matched."""
    route = scope.get("route")
    template = getattr(route, "path", None)
    if template:
        return template
    app = scope.get("app")
    for candidate in getattr(app, "routes", ()):
        try:
            match, _ = candidate.matches({**scope, "type": "http"})
        except Exception:  # noqa: BLE001, S112 - a route that cannot judge this scope is not it
            continue
        if match is Match.FULL:
            return getattr(candidate, "path", None) or "unmatched"
    return "unmatched"


# -- application --------------------------------------------------------------------------------


def build_services(
    settings: Settings, metrics: Metrics, temporal: TemporalConnector | None = None
) -> Services:
    keyring = Keyring.from_settings(settings)
    return Services(
        settings=settings,
        engine=make_engine(settings.database_url),
        keyring=keyring,
        documents=DocumentStore(settings.document_dir, keyring),
        temporal=temporal or TemporalConnector(settings),
        metrics=metrics,
    )


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
    )
    app.state.settings = settings
    app.state.metrics = metrics
    app.state.services = None
    install_problem_handlers(app)

    from api.access_routes import router as access_router
    from api.case_routes import router as case_router
    from api.document_routes import router as document_router
    from api.health_routes import router as health_router
    from api.report_routes import router as report_router
    from api.subject_access_routes import router as subject_access_router
    from api.task_routes import router as task_router

    app.include_router(case_router)
    app.include_router(document_router)
    app.include_router(task_router)
    app.include_router(report_router)
    app.include_router(access_router)
    app.include_router(subject_access_router)
    app.include_router(health_router)
    try:
        from api.codec_routes import router as codec_router
    except ImportError as exc:  # pragma: no cover - only while codec_routes is being written
        if exc.name not in {"api.codec_routes"}:
            raise
    else:
        app.include_router(codec_router)

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

    app.add_middleware(RequestMiddleware, metrics=metrics, max_document_bytes=settings.max_document_bytes)
    # Outermost, so that even a preflight or an error answer carries the CORS headers.
    app.add_middleware(
        CORSMiddleware,
        allow_origins=[settings.ui_origin],
        allow_credentials=True,
        allow_methods=["GET", "POST", "OPTIONS"],
        allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "X-Namespace"],
        expose_headers=["Location", "Retry-After", "X-Request-ID"],
        max_age=600,
    )
    return app


async def _try_connect(connector: TemporalConnector) -> None:
    try:
        await connector.client()
    except TemporalUnavailable:
        pass  # requests retry; /readyz says so


#: `uvicorn api.app:app`. Building the app reads the settings and connects nothing; the lifespan
#: opens the database engine and connects to Temporal (in the background, retried on demand).
app = create_app()
