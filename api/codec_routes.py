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

from functools import lru_cache
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Depends, HTTPException, Request, Response
from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads

from api.auth import require_roles
from api.problems import problem_responses
from domain.people import Role
from infra.encryption import EncryptionError
from infra.payload_codec import EncryptionCodec, codec_from_settings
from infra.settings import get_settings

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


async def _read_payloads(request: Request) -> Payloads:
    body = await request.body()
    try:
        return json_format.Parse(body, Payloads())
    except (json_format.ParseError, UnicodeDecodeError):  # not JSON, or not even UTF-8
        detail = 'expected {"payloads": [...]} in Temporal JSON format'
        raise HTTPException(status_code=400, detail=detail) from None


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
        **problem_responses(400, 401, 403),
    },
    "openapi_extra": {
        "requestBody": {"required": True, "content": {"application/json": {"schema": _PAYLOADS_SCHEMA}}}
    },
}


def _json(payloads: Payloads) -> Response:
    return Response(content=json_format.MessageToJson(payloads), media_type="application/json")


@router.post("/encode", summary="Encrypt payloads (Temporal codec server)", **_CODEC_DOC)
async def encode(
    request: Request,
    principal: Annotated[Any, Depends(require_supervisor)],
    codec: Annotated[EncryptionCodec, Depends(get_codec)],
) -> Response:
    payloads = await _read_payloads(request)
    encoded = await codec.encode(list(payloads.payloads))
    log.info(
        "codec_encode",
        actor=getattr(principal, "name", None),
        payloads=len(encoded),
        namespace=request.headers.get("x-namespace"),
    )
    return _json(Payloads(payloads=encoded))


@router.post("/decode", summary="Decrypt payloads (Temporal codec server)", **_CODEC_DOC)
async def decode(
    request: Request,
    principal: Annotated[Any, Depends(require_supervisor)],
    codec: Annotated[EncryptionCodec, Depends(get_codec)],
) -> Response:
    payloads = await _read_payloads(request)
    try:
        decoded = await codec.decode(list(payloads.payloads))
    except EncryptionError as exc:
        raise HTTPException(status_code=400, detail=str(exc)) from None
    log.info(
        "codec_decode",
        actor=getattr(principal, "name", None),
        payloads=len(decoded),
        namespace=request.headers.get("x-namespace"),
    )
    return _json(Payloads(payloads=decoded))
