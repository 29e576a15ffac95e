"""Every error the API answers is `application/problem+json` (RFC 9457).

A problem has `type`, `title`, `status`, `detail` and `instance`, plus extensions: `errors` (the
fields a request got wrong), `stage` and `allowed_actions` (an action the case's stage does not
allow), `correlation_id` (an unexpected error, to find it in the logs).

Nothing in a problem ever echoes request input or a traceback: inputs can hold personal data, and
tracebacks are for the logs. No input, however malformed, produces a 500: the handlers below turn
every known failure into a 4xx or 503, and anything else into a generic 500 logged with an id.
"""

from __future__ import annotations

import traceback
import uuid
from collections.abc import Iterable, Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as SATimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException
from temporalio.client import (
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from infra.logging import get_logger
from readmodel.database import ReadModelUnavailable, is_unavailable

log = get_logger(__name__)

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "urn:casework:problem:"
RETRY_AFTER_SECONDS = 5


class FieldError(BaseModel):
    field: str = Field(description="Where the error is, dotted: `body.child.date_of_birth`, `query.limit`")
    message: str
    type: str = Field(
        description="A machine-readable error code, e.g. `missing`, `date_from_datetime_parsing`"
    )


class Problem(BaseModel):
    """An RFC 9457 problem detail."""

    model_config = ConfigDict(extra="allow")

    type: str = Field("about:blank", examples=["urn:casework:problem:action-not-allowed"])
    title: str = Field(examples=["Action not allowed in this stage"])
    status: int = Field(examples=[409])
    detail: str | None = Field(None, examples=["A case in stage 'notified' cannot 'decide' yet."])
    instance: str | None = Field(None, examples=["/cases/MN-26-7K3Q9P/decision"])
    errors: list[FieldError] | None = Field(None, description="Validation errors, one per field")
    stage: str | None = Field(None, description="The case's stage (409 action-not-allowed)")
    allowed_actions: list[str] | None = Field(
        None, description="Actions allowed now (409 action-not-allowed)"
    )
    correlation_id: str | None = Field(None, description="Quote it when reporting an unexpected error")


class ProblemError(Exception):
    """Raise anywhere in a request to answer with a problem."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        slug: str | None = None,
        title: str | None = None,
        headers: Mapping[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.slug = slug
        self.title = title
        self.headers = dict(headers or {})
        self.extensions = extensions


class TemporalUnavailable(Exception):
    """The Temporal client is not connected (the server is down or not yet reachable)."""


class BodyTooLarge(Exception):
    """The request body is over the limit (raised while it is being received)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"request body over {limit} bytes")
        self.limit = limit


class BodyTimeout(Exception):
    """The client did not send the request body within the time allowed (a slow or stalled client)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"request body not received within {seconds:g} s")
        self.seconds = seconds


class EngineTimeout(Exception):
    """A command was sent but the workflow did not answer in time (e.g. no worker is polling)."""


def _title(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def problem_response(
    request: Request | None,
    status: int,
    detail: str | None,
    *,
    slug: str | None = None,
    title: str | None = None,
    headers: Mapping[str, str] | None = None,
    **extensions: Any,
) -> Response:
    body: dict[str, Any] = {
        "type": f"{TYPE_BASE}{slug}" if slug else "about:blank",
        "title": title or _title(status),
        "status": status,
        "detail": detail,
    }
    if request is not None:
        body["instance"] = request.url.path
    body.update({k: v for k, v in extensions.items() if v is not None})
    content = Problem.model_validate(body).model_dump_json(exclude_none=True).encode()
    return Response(content=content, status_code=status, media_type=PROBLEM_JSON, headers=dict(headers or {}))


def unavailable(request: Request | None, detail: str) -> Response:
    return problem_response(
        request, 503, detail, slug="service-unavailable", headers={"Retry-After": str(RETRY_AFTER_SECONDS)}
    )


def internal_error(request: Request | None, exc: BaseException) -> Response:
    correlation_id = uuid.uuid4().hex
    # The traceback goes to the log only, never to the client; and without the frames' local
    # variables (structlog's renderers would print them, and they hold tokens and personal data).
    log.error(
        "unhandled_error",
        correlation_id=correlation_id,
        path=request.url.path if request is not None else None,
        error_type=type(exc).__name__,
        traceback="".join(traceback.format_exception(type(exc), exc, exc.__traceback__)),
    )
    return problem_response(
        request,
        500,
        "Something went wrong on our side. Quote the correlation id if you report it.",
        slug="internal-error",
        correlation_id=correlation_id,
    )


def body_too_large(request: Request | None, exc: BodyTooLarge) -> Response:
    return problem_response(
        request,
        413,
        f"The request body is larger than the {exc.limit:,}-byte limit.",
        slug="body-too-large",
        title="Request body too large",
    )


def body_timeout(request: Request | None, exc: BodyTimeout) -> Response:
    response = problem_response(
        request,
        408,
        f"The request body did not arrive within {exc.seconds:g} seconds.",
        slug="request-timeout",
        title="Request timeout",
    )
    response.headers["Connection"] = "close"
    return response


# -- validation -------------------------------------------------------------------------------


def _field_name(loc: Iterable[Any]) -> str:
    return ".".join(str(part) for part in loc) or "request"


def field_errors(errors: Iterable[Mapping[str, Any]]) -> list[FieldError]:
    """Pydantic errors as `FieldError`s: location and message only (the input is never echoed)."""
    out: list[FieldError] = []
    for err in errors:
        loc = list(err.get("loc") or ())
        if err.get("type") == "json_invalid":
            message = "The body is not valid JSON"
            if len(loc) > 1:
                message += f" (error at character {loc[1]})"
            loc = loc[:1]
        else:
            message = str(err.get("msg", "invalid value"))
        out.append(FieldError(field=_field_name(loc), message=message, type=str(err.get("type", "invalid"))))
    return out


def validation_problem(
    request: Request | None, errors: list[FieldError], *, detail: str | None = None
) -> Response:
    summary = "; ".join(f"{e.field}: {e.message}" for e in errors[:5])
    if len(errors) > 5:
        summary += f"; and {len(errors) - 5} more"
    return problem_response(
        request,
        422,
        detail or f"The request is not valid: {summary}",
        slug="validation-error",
        title="Invalid request",
        errors=[e.model_dump() for e in errors],
    )


# -- Temporal ---------------------------------------------------------------------------------

_UNAVAILABLE_CODES = {
    RPCStatusCode.UNAVAILABLE,
    RPCStatusCode.DEADLINE_EXCEEDED,
    RPCStatusCode.RESOURCE_EXHAUSTED,
    RPCStatusCode.CANCELLED,
    RPCStatusCode.ABORTED,
}


def rpc_problem(request: Request | None, exc: RPCError) -> Response:
    if exc.status == RPCStatusCode.NOT_FOUND:
        return problem_response(request, 404, "No such case.", slug="case-not-found", title="Case not found")
    if exc.status == RPCStatusCode.ALREADY_EXISTS:
        return problem_response(request, 409, "The case already exists.", slug="conflict", title="Conflict")
    if exc.status == RPCStatusCode.FAILED_PRECONDITION:
        return problem_response(
            request, 409, "The case cannot take this request now; reload it and try again.", slug="conflict"
        )
    if exc.status in {RPCStatusCode.PERMISSION_DENIED, RPCStatusCode.UNAUTHENTICATED}:
        log.error("temporal_refused_credentials", status=exc.status.name)
        return unavailable(request, "The case engine (Temporal) refused this service's credentials.")
    if exc.status in _UNAVAILABLE_CODES:
        log.warning("temporal_unavailable", status=exc.status.name)
        return unavailable(
            request, "The case engine (Temporal) is not reachable just now; try again shortly."
        )
    return internal_error(request, exc)


def _first_details(exc: ApplicationError) -> Mapping[str, Any]:
    details = exc.details
    if details and isinstance(details[0], Mapping):
        return details[0]
    return {}


def update_failed_problem(request: Request | None, exc: WorkflowUpdateFailedError) -> Response:
    cause = exc.cause
    if isinstance(cause, ApplicationError):
        if cause.type == "ActionNotAllowed":
            info = _first_details(cause)
            stage = info.get("stage")
            allowed = info.get("allowed_actions")
            return problem_response(
                request,
                409,
                cause.message or "This action is not allowed in the case's current stage.",
                slug="action-not-allowed",
                title="Action not allowed in this stage",
                stage=str(stage) if stage is not None else None,
                allowed_actions=[str(a) for a in allowed] if isinstance(allowed, list | tuple) else None,
            )
        if cause.type in {"InvalidCommand", "ValidationError"}:
            info = _first_details(cause)
            errors = info.get("errors") if isinstance(info.get("errors"), list) else None
            return problem_response(
                request,
                422,
                cause.message or "The command is not valid for this case.",
                slug="invalid-command",
                title="Invalid command",
                errors=[e for e in errors if isinstance(e, Mapping) and "field" in e and "message" in e]
                if errors
                else None,
            )
    return internal_error(request, exc)


# -- registration -----------------------------------------------------------------------------


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(ProblemError)
    async def _problem(request: Request, exc: ProblemError) -> Response:
        return problem_response(
            request,
            exc.status,
            exc.detail,
            slug=exc.slug,
            title=exc.title,
            headers=exc.headers,
            **exc.extensions,
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        return validation_problem(request, field_errors(exc.errors()))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if isinstance(exc.__cause__, BodyTooLarge):  # a chunked body went over the limit mid-parse
            return body_too_large(request, exc.__cause__)
        if isinstance(exc.__cause__, BodyTimeout):  # the body stalled mid-parse
            return body_timeout(request, exc.__cause__)
        detail = exc.detail if isinstance(exc.detail, str) else None
        if exc.status_code == 400 and detail == "There was an error parsing the body":
            # FastAPI's answer to a JSON body that is not UTF-8: malformed input, like bad JSON (422).
            return validation_problem(
                request, [FieldError(field="body", message="The body is not valid JSON", type="json_invalid")]
            )
        if exc.status_code == 404 and detail in (None, "Not Found"):
            detail = f"Nothing at {request.url.path}."
        elif exc.status_code == 405 and detail in (None, "Method Not Allowed"):
            detail = f"{request.method} is not allowed on {request.url.path}."
        return problem_response(request, exc.status_code, detail, headers=exc.headers)

    @app.exception_handler(WorkflowUpdateFailedError)
    async def _update_failed(request: Request, exc: WorkflowUpdateFailedError) -> Response:
        return update_failed_problem(request, exc)

    @app.exception_handler(WorkflowQueryFailedError)
    async def _query_failed(request: Request, exc: WorkflowQueryFailedError) -> Response:
        return internal_error(request, exc)

    @app.exception_handler(WorkflowAlreadyStartedError)
    async def _already_started(request: Request, exc: WorkflowAlreadyStartedError) -> Response:
        return problem_response(
            request,
            409,
            "A case with this reference already exists and is closed.",
            slug="case-closed",
            title="Case closed",
        )

    @app.exception_handler(RPCError)
    async def _rpc(request: Request, exc: RPCError) -> Response:
        return rpc_problem(request, exc)

    @app.exception_handler(WorkflowUpdateRPCTimeoutOrCancelledError)
    async def _update_timeout(request: Request, exc: WorkflowUpdateRPCTimeoutOrCancelledError) -> Response:
        return unavailable(
            request,
            "The case engine did not answer in time. The command may still be applied: "
            "retry with the same Idempotency-Key.",
        )

    @app.exception_handler(EngineTimeout)
    async def _engine_timeout(request: Request, exc: EngineTimeout) -> Response:
        return unavailable(
            request,
            "The case engine did not answer in time (is a worker running?). The command may still be "
            "applied: retry with the same Idempotency-Key.",
        )

    @app.exception_handler(TimeoutError)
    async def _timeout(request: Request, exc: TimeoutError) -> Response:
        return unavailable(
            request, "A service this API depends on did not answer in time; try again shortly."
        )

    @app.exception_handler(SATimeoutError)
    async def _pool_timeout(request: Request, exc: Exception) -> Response:
        return unavailable(request, "The case database is busy; try again shortly.")

    @app.exception_handler(TemporalUnavailable)
    async def _temporal_down(request: Request, exc: TemporalUnavailable) -> Response:
        return unavailable(
            request, "The case engine (Temporal) is not reachable just now; try again shortly."
        )

    @app.exception_handler(ReadModelUnavailable)
    async def _db_down(request: Request, exc: Exception) -> Response:
        log.warning("read_model_unavailable", error_type=type(exc).__name__)
        return unavailable(request, "The case database is not reachable just now; try again shortly.")

    @app.exception_handler(OperationalError)
    async def _db_operational(request: Request, exc: Exception) -> Response:
        log.warning("read_model_unavailable", error_type=type(exc).__name__)
        return unavailable(request, "The case database is not reachable just now; try again shortly.")

    @app.exception_handler(SQLAlchemyError)
    async def _sqlalchemy(request: Request, exc: SQLAlchemyError) -> Response:
        if is_unavailable(exc):
            log.warning("read_model_unavailable", error_type=type(exc).__name__)
            return unavailable(request, "The case database is not reachable just now; try again shortly.")
        return internal_error(request, exc)


#: OpenAPI `responses` entries: every route documents its problems.
def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    descriptions = {
        400: "Bad request",
        401: "No token, or an unknown or revoked token",
        403: "The token's role may not do this",
        404: "No such case (or not one of your school's)",
        409: "The case's stage does not allow this action; `allowed_actions` lists what does",
        413: "The request is too large (an upload over the size limit, or too many codec payloads)",
        429: "Too many refused access keys from this address; retry after `Retry-After` seconds",
        415: "The upload's content is not an allowed type",
        422: "The request is not valid; `errors` names the fields",
        503: "Temporal or the database is not reachable; retry after `Retry-After` seconds",
    }
    if 401 in statuses and 429 not in statuses:  # whoever checks a key may answer 429 (auth_throttle)
        statuses = (*statuses, 429)
    return {
        s: {
            "description": descriptions.get(s, _title(s)),
            "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for s in statuses
    }


def problem_schemas() -> dict[str, Any]:
    """The `Problem` schema and what it refers to, for the OpenAPI components."""
    schema = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    components = schema.pop("$defs", {})
    components["Problem"] = schema
    return components
