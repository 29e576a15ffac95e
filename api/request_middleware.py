"""The outer layer of every HTTP request: a request id, one access-log line, metrics by route
template, a bound on the body's size, and a problem answer (never a traceback) for any exception no
handler claimed."""

from __future__ import annotations

import asyncio
import re
import time
import uuid

import structlog
from starlette.requests import Request as StarletteRequest
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.metrics import Metrics
from api.problems import BodyTimeout, BodyTooLarge, body_timeout, body_too_large, internal_error
from infra.logging import get_logger

log = get_logger(__name__)

MAX_JSON_BODY_BYTES = 1024 * 1024
UPLOAD_OVERHEAD_BYTES = 64 * 1024

_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_KNOWN_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}


class RequestMiddleware:
    """Request id, access log line, metrics by route template, and a problem (never a traceback)
    for any exception no handler claimed."""

    def __init__(
        self, app: ASGIApp, metrics: Metrics, max_document_bytes: int, body_timeout: float = 30.0
    ) -> None:
        self.app = app
        self.metrics = metrics
        # A body trickled in a byte at a time must not hold a connection (and a worker) for ever.
        self.body_timeout = body_timeout
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
        body_done = False
        body_deadline = asyncio.get_running_loop().time() + self.body_timeout

        async def _receive() -> Message:
            nonlocal received, body_done
            if body_done:  # after the body, receive() waits for a disconnect: no deadline
                return await receive()
            try:
                async with asyncio.timeout_at(body_deadline):
                    message = await receive()
            except TimeoutError:
                raise BodyTimeout(self.body_timeout) from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(named_limit)
                body_done = not message.get("more_body", False)
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
            elif isinstance(exc, BodyTimeout):
                response = body_timeout(request, exc)
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
