"""Evidence documents: upload (multipart), list and download.

An upload is refused with 413 past `settings.max_document_bytes` (checked before the body is
parsed, and again on the file itself) and with 415 unless its *content* is an allowed type (PDF,
PNG, JPEG, DOCX, plain text): the file name and the declared type are ignored. The bytes are stored
encrypted; the answer is the document's reference, which the caller then records on the case with
`POST /cases/{ref}/evidence`. Every download is recorded in the access records.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Path, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException
from starlette.requests import Request as StarletteRequest

from api.auth import case_not_found, check_case_ref, require_staff
from api.deps import json_response, record_access, run_db, services
from api.principal import Principal
from api.problems import ProblemError, problem_responses
from domain.case_commands import EvidenceKind
from domain.document_models import DOC_REF_PATTERN
from infra.document_store import (
    ALLOWED_CONTENT_TYPES,
    DocumentNotFound,
    file_name,
    incomplete_reason,
    sniff_content_type,
)
from readmodel.tables import CaseRow, DocumentRow

router = APIRouter(tags=["documents"])

_DOC_REF_RE = re.compile(DOC_REF_PATTERN)
#: Why a file that is text underneath is still refused, by the type its content shows.
_WHY_NOT = {
    "text/html": ": a web page, which can carry scripts; save or print it as PDF",
    "image/svg+xml": ": an SVG drawing, which can carry scripts; send it as PNG or PDF",
    "application/xml": ": XML, not a letter; send it as PDF or plain text",
}
#: Room for the multipart envelope (boundaries, part headers, the `kind` field) around the file.
MULTIPART_OVERHEAD = 64 * 1024


class StoredDocumentOut(BaseModel):
    doc_ref: str = Field(examples=["doc-" + "ab" * 32])
    case_ref: str
    content_type: str = Field(examples=["application/pdf"])
    size_bytes: int
    kind: EvidenceKind
    stored_by: str
    stored_at: datetime
    download_url: str


class DocumentList(BaseModel):
    items: list[StoredDocumentOut]


def _out(row: DocumentRow) -> StoredDocumentOut:
    try:
        kind = EvidenceKind(row.kind)
    except ValueError:
        kind = EvidenceKind.OTHER
    return StoredDocumentOut(
        doc_ref=row.doc_ref,
        case_ref=row.case_ref,
        content_type=row.content_type,
        size_bytes=row.size_bytes,
        kind=kind,
        stored_by=row.stored_by,
        stored_at=row.stored_at,
        download_url=f"/cases/{row.case_ref}/documents/{row.doc_ref}",
    )


def _validation(field: str, message: str, type_: str = "value_error") -> ProblemError:
    return ProblemError(
        422,
        f"The request is not valid: {field}: {message}",
        slug="validation-error",
        title="Invalid request",
        errors=[{"field": field, "message": message, "type": type_}],
    )


def _too_large(limit: int) -> ProblemError:
    return ProblemError(
        413,
        f"The document is larger than the {limit:,}-byte limit.",
        slug="document-too-large",
        title="Document too large",
    )


async def _case_exists(request: Request, case_ref: str) -> None:
    check_case_ref(case_ref)
    if await run_db(request, lambda s: s.get(CaseRow, case_ref)) is None:
        raise case_not_found(case_ref)


async def _read_limited_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > limit + MULTIPART_OVERHEAD:
                raise _too_large(limit)
        except ValueError:
            raise ProblemError(400, "The Content-Length header is not a number.") from None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit + MULTIPART_OVERHEAD:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


_UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": "PDF, PNG, JPEG, DOCX or plain text (judged by content)",
                        },
                        "kind": {
                            "type": "string",
                            "enum": [k.value for k in EvidenceKind],
                            "default": EvidenceKind.OTHER.value,
                        },
                    },
                }
            }
        },
    }
}


@router.post(
    "/cases/{case_ref}/documents",
    summary="Upload a document",
    description="Multipart upload (`file`, optional `kind`). Answers 201 with the document reference; "
    "record it on the case with `POST /cases/{ref}/evidence`. 413 past the size limit, 415 when the "
    "content is not an allowed type (an HTML page sent as text is HTML), 422 when a file is not whole "
    "(a PDF cut off before its end). Uploading the same bytes again to the same case answers the same "
    "reference; the same bytes in another case get another, unrelated reference.",
    status_code=201,
    response_model=StoredDocumentOut,
    responses=problem_responses(401, 403, 404, 413, 415, 422, 503),
    openapi_extra=_UPLOAD_BODY,
)
async def upload_document(
    request: Request,
    case_ref: str = Path(..., examples=["MN-26-7K3Q9P"]),
    principal: Principal = Depends(require_staff),
) -> Response:
    svc = services(request)
    limit = svc.settings.max_document_bytes
    await _case_exists(request, case_ref)

    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "multipart/form-data":
        raise ProblemError(
            415,
            "Send the document as multipart/form-data with a `file` part.",
            slug="unsupported-media-type",
            title="Unsupported media type",
        )
    raw = await _read_limited_body(request, limit)

    async def _replay() -> dict[str, Any]:
        return {"type": "http.request", "body": raw, "more_body": False}

    # Without "app" in the scope Starlette raises MultiPartException itself (not a bare 400) for a bad body.
    scope = {k: v for k, v in request.scope.items() if k != "app"}
    try:
        form = await StarletteRequest(scope, _replay).form(max_files=1, max_fields=10)
    except MultiPartException as exc:
        raise _validation("body", f"not a valid multipart body ({exc.message})", "multipart") from None
    try:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise _validation("body.file", "a file part named `file` is required", "missing")
        kind_value = form.get("kind") or EvidenceKind.OTHER.value
        if not isinstance(kind_value, str) or kind_value not in {k.value for k in EvidenceKind}:
            raise _validation("body.kind", "one of " + ", ".join(k.value for k in EvidenceKind), "enum")
        data = await upload.read(limit + 1)
    finally:
        await form.close()
    if len(data) > limit:
        raise _too_large(limit)
    if not data:
        raise _validation("body.file", "the file is empty", "empty")

    content_type = sniff_content_type(data)
    if content_type not in ALLOWED_CONTENT_TYPES:
        seen = f" (its content looks like {content_type}{_WHY_NOT.get(content_type or '', '')})" if content_type else ""
        raise ProblemError(
            415,
            f"This kind of file is not accepted{seen}. Allowed: PDF, PNG, JPEG, DOCX or plain text.",
            slug="unsupported-document-type",
            title="Document type not allowed",
        )
    incomplete = incomplete_reason(data, content_type)
    if incomplete is not None:
        raise _validation("body.file", incomplete, "incomplete_file")

    stored = await run_in_threadpool(svc.documents.put, data, content_type=content_type, case_ref=case_ref)

    def _record(session: Session) -> DocumentRow:
        existing = session.exec(
            select(DocumentRow).where(DocumentRow.case_ref == case_ref, DocumentRow.doc_ref == stored.doc_ref)
        ).first()
        if existing is not None:
            return existing
        row = DocumentRow(
            doc_ref=stored.doc_ref,
            case_ref=case_ref,
            content_type=stored.content_type,
            size_bytes=stored.size_bytes,
            kind=kind_value,
            stored_by=principal.name,
            stored_at=datetime.now(UTC),
        )
        try:
            with session.begin_nested():
                session.add(row)
        except IntegrityError:  # the same upload, at the same moment
            return session.exec(
                select(DocumentRow).where(
                    DocumentRow.case_ref == case_ref, DocumentRow.doc_ref == stored.doc_ref
                )
            ).one()
        return row

    row = await run_db(request, _record)
    out = _out(row)
    return json_response(out, 201, {"Location": out.download_url})


@router.get(
    "/cases/{case_ref}/documents",
    summary="List a case's documents",
    description="Metadata only (reference, type, size, kind, who stored it, when).",
    response_model=DocumentList,
    responses=problem_responses(401, 403, 404, 503),
)
async def list_documents(
    request: Request,
    case_ref: str = Path(..., examples=["MN-26-7K3Q9P"]),
    principal: Principal = Depends(require_staff),
) -> Response:
    await _case_exists(request, case_ref)
    rows = await run_db(
        request,
        lambda s: list(
            s.exec(
                select(DocumentRow).where(DocumentRow.case_ref == case_ref).order_by(DocumentRow.stored_at)
            )
        ),
    )
    return json_response(DocumentList(items=[_out(r) for r in rows]))


@router.get(
    "/cases/{case_ref}/documents/{doc_ref}",
    summary="Download a document",
    description="The document's bytes, as an attachment. The download is recorded in the access records.",
    response_class=Response,
    responses={
        200: {"description": "The document", "content": {t: {} for t in sorted(ALLOWED_CONTENT_TYPES)}},
        **problem_responses(401, 403, 404, 503),
    },
)
async def download_document(
    request: Request,
    case_ref: str = Path(..., examples=["MN-26-7K3Q9P"]),
    doc_ref: str = Path(..., examples=["doc-" + "ab" * 32]),
    principal: Principal = Depends(require_staff),
) -> Response:
    check_case_ref(case_ref)
    not_found = ProblemError(
        404,
        f"Case {case_ref} has no document {doc_ref[:80]}.",
        slug="document-not-found",
        title="Document not found",
    )
    if not _DOC_REF_RE.match(doc_ref):
        raise not_found
    row = await run_db(
        request,
        lambda s: s.exec(
            select(DocumentRow).where(DocumentRow.case_ref == case_ref, DocumentRow.doc_ref == doc_ref)
        ).first(),
    )
    if row is None:
        raise not_found
    try:
        data, content_type = await run_in_threadpool(services(request).documents.get, doc_ref)
    except DocumentNotFound:
        raise not_found from None
    await run_db(request, lambda s: record_access(s, principal, case_ref, f"document {doc_ref} ({row.kind})"))
    return Response(
        content=data,
        media_type=content_type,
        headers={
            "Content-Disposition": f'attachment; filename="{file_name(doc_ref, content_type)}"',
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-store",
        },
    )
