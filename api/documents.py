"""Storing and reading a case's documents, shared by the API's document routes and the case page:
the content decides the type (never the name or the declared type), the bytes are stored
encrypted, and every read is an access record."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from api.deps import record_access, run_db, services
from api.principal import Principal
from api.problems import ProblemError
from domain.document_models import DOC_REF_PATTERN
from infra.document_store import (
    ALLOWED_CONTENT_TYPES,
    DocumentNotFound,
    incomplete_reason,
    sniff_content_type,
)
from readmodel.tables import DocumentRow

_DOC_REF_RE = re.compile(DOC_REF_PATTERN)
#: Why a file that is text underneath is still refused, by the type its content shows.
_WHY_NOT = {
    "text/html": ": a web page, which can carry scripts; save or print it as PDF",
    "image/svg+xml": ": an SVG drawing, which can carry scripts; send it as PNG or PDF",
    "application/xml": ": XML, not a letter; send it as PDF or plain text",
}


async def store_document(
    request: Request, principal: Principal, case_ref: str, data: bytes, kind_value: str
) -> DocumentRow:
    """Store the bytes (415 unless their content is an allowed type, 422 when the file is not whole);
    the same bytes again in the same case answer the same document."""
    svc = services(request)
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
        raise ProblemError(
            422,
            f"The request is not valid: body.file: {incomplete}",
            slug="validation-error",
            title="Invalid request",
            errors=[{"field": "body.file", "message": incomplete, "type": "incomplete_file"}],
        )
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

    return await run_db(request, _record)


async def read_document(request: Request, principal: Principal, case_ref: str, doc_ref: str) -> tuple[bytes, str]:
    """The document's bytes and type (404 when the case has no such document); the read is recorded."""
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
    return data, content_type
