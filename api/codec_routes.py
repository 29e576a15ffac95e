"""The codec server: `POST /codec/encode` and `POST /codec/decode`, for supervisors only.

Workflow histories are encrypted (see `infra.payload_codec`), so the Temporal UI and CLI show
ciphertext unless they send payloads here to be decoded. The bodies are Temporal's JSON payloads
format, `{"payloads": [{"metadata": {"encoding": "<base64>"}, "data": "<base64>"}]}`, as in
temporalio/samples-python `encryption/codec_server.py`.

How a supervisor sees a decoded case:

- CLI: ``temporal workflow show --workflow-id case-MN-26-7K3Q9P
  --codec-endpoint http://localhost:8000/codec --codec-auth "Bearer <supervisor token>"``
- Temporal UI: the dev server is started with ``--ui-codec-endpoint http://localhost:8000/codec``
  (or the user sets "Codec Server" in the UI's data encoder settings). The UI calls the endpoint
  from the browser and sends the `Authorization` header only when configured to pass the access
  token ("include credentials"/`passAccessToken`); otherwise requests are refused with 401/403
  and payloads stay encrypted.

CORS is configured by the app for `settings.ui_origin` (methods POST, OPTIONS); the UI sends the
headers `Content-Type`, `X-Namespace` and `Authorization`, so all three must be allowed.

Each call is logged (who, how many payloads, namespace); no payload content is logged.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.concurrency import run_in_threadpool
from google.protobuf import json_format
from sqlmodel import Session, select
from temporalio.api.common.v1 import Payload, Payloads

from api.auth import require_roles
from api.deps import record_access, run_db
from api.principal import Principal
from api.problems import ProblemError, problem_responses
from domain.people import Role
from infra.encryption import EncryptionError
from infra.payload_codec import EncryptionCodec, codec_from_settings
from infra.settings import get_settings
from readmodel.tables import AccessRecord

log = structlog.get_logger(__name__)

router = APIRouter(prefix="/codec", tags=["codec"])

require_supervisor = require_roles(Role.SUPERVISOR)


def get_codec(request: Request) -> EncryptionCodec:
    """The codec over the app's keyring (`app.state.services.keyring`), the same keys the worker
    uses; without app services (a bare router), the deployment's settings. Tests may override it."""
    keyring = getattr(getattr(request.app.state, "services", None), "keyring", None)
    if keyring is not None:
        return EncryptionCodec(keyring)
    return _codec_from_settings()


@lru_cache
def _codec_from_settings() -> EncryptionCodec:
    return codec_from_settings(get_settings())


def _max_payloads(request: Request) -> int:
    settings = getattr(request.app.state, "settings", None) or get_settings()
    return settings.max_codec_payloads


def _parse(body: bytes, limit: int) -> Payloads:
    try:
        payloads = json_format.Parse(body, Payloads())
    except (json_format.ParseError, UnicodeDecodeError):  # not JSON, or not even UTF-8
        detail = 'expected {"payloads": [...]} in Temporal JSON format'
        raise HTTPException(status_code=400, detail=detail) from None
    if len(payloads.payloads) > limit:
        raise ProblemError(
            413,
            f"One call may carry at most {limit:,} payloads; this one has {len(payloads.payloads):,}.",
            slug="too-many-payloads",
            title="Too many payloads",
        )
    return payloads


Change = Callable[[list[Payload]], tuple[list[Payload], set[str]]]


async def _transform(request: Request, change: Change) -> tuple[Response, int, set[str]]:
    """Parse, encode or decode, and serialise in a worker thread: a large call (tens of thousands
    of payloads) must not hold up every other request on the event loop. Answers the response, how
    many payloads, and the cases whose data they hold."""
    body = await request.body()
    limit = _max_payloads(request)

    def _work() -> tuple[str, int, set[str]]:
        changed, cases = change(list(_parse(body, limit).payloads))
        return json_format.MessageToJson(Payloads(payloads=changed)), len(changed), cases

    content, count, cases = await run_in_threadpool(_work)
    return Response(content=content, media_type="application/json"), count, cases


#: What a decode through the codec is recorded as, and how long one record covers a person's
#: reading of one case (a history page decodes its payloads in many calls).
CODEC_READ = "Temporal history (codec)"
CODEC_READ_WINDOW = timedelta(minutes=10)


def record_codec_reads(session: Session, principal: Principal, cases: set[str]) -> None:
    """One access record per case per person per `CODEC_READ_WINDOW`, not one per call."""
    since = datetime.now(UTC) - CODEC_READ_WINDOW
    recent = set(
        session.exec(
            select(AccessRecord.case_ref).where(
                AccessRecord.actor_name == principal.name,
                AccessRecord.what == CODEC_READ,
                AccessRecord.at >= since,
                AccessRecord.case_ref.in_(sorted(cases)),  # type: ignore[attr-defined]
            )
        ).all()
    )
    for case_ref in sorted(cases - recent):
        record_access(session, principal, case_ref, CODEC_READ)


#: The OpenAPI description of both endpoints: Temporal's JSON payloads in and out, and their problems.
_PAYLOADS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "payloads": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "metadata": {
                        "type": "object",
                        "additionalProperties": {"type": "string", "format": "byte"},
                    },
                    "data": {"type": "string", "format": "byte"},
                },
            },
        }
    },
}
_CODEC_DOC: dict[str, Any] = {
    "responses": {
        200: {
            "description": "The payloads, encoded or decoded",
            "content": {"application/json": {"schema": _PAYLOADS_SCHEMA}},
        },
        **problem_responses(400, 401, 403, 413),
    },
    "openapi_extra": {
        "requestBody": {"required": True, "content": {"application/json": {"schema": _PAYLOADS_SCHEMA}}}
    },
}


@router.post("/encode", summary="Encrypt payloads (Temporal codec server)", **_CODEC_DOC)
async def encode(
    request: Request,
    principal: Annotated[Any, Depends(require_supervisor)],
    codec: Annotated[EncryptionCodec, Depends(get_codec)],
) -> Response:
    response, count, _ = await _transform(request, lambda payloads: (codec.encode_now(payloads), set()))
    log.info(
        "codec_encode",
        actor=getattr(principal, "name", None),
        payloads=count,
        namespace=request.headers.get("x-namespace"),
    )
    return response


@router.post("/decode", summary="Decrypt payloads (Temporal codec server)", **_CODEC_DOC)
async def decode(
    request: Request,
    principal: Annotated[Principal, Depends(require_supervisor)],
    codec: Annotated[EncryptionCodec, Depends(get_codec)],
) -> Response:
    try:
        response, count, cases = await _transform(request, codec.decode_for_cases)
    except EncryptionError as exc:
        raise HTTPException(status_code=400, detail=str(exc)) from None
    if cases:
        await run_db(request, lambda session: record_codec_reads(session, principal, cases))
    log.info(
        "codec_decode",
        actor=getattr(principal, "name", None),
        payloads=count,
        namespace=request.headers.get("x-namespace"),
    )
    return response
