"""Documents the service writes itself (e.g. a reintegration plan): rendered to plain text
(markdown-style), stored encrypted by content hash, recorded in the read model. The workflow gets
back a `StoredDocument` holding only the `doc-<sha256>` reference.

Rendering is deterministic (no timestamps), so a retried activity stores the same bytes under the
same reference and records nothing twice.

A synchronous activity: the worker needs an `activity_executor` (a thread pool).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import select
from temporalio import activity

from domain.document_models import GeneratedDocument, StoredDocument
from infra.document_store import PLAIN_TEXT, DocumentStore
from infra.encryption import Keyring
from infra.logging import activity_logger
from infra.settings import Settings
from readmodel.database import get_engine, session_scope
from readmodel.tables import DocumentRow

STORED_BY = "system"


def render_document(doc: GeneratedDocument) -> bytes:
    lines = [
        f"# {doc.title}",
        "",
        f"Case reference: {doc.case_ref}",
        f"Document: {doc.kind.replace('_', ' ')}",
        "Issued by: Inclusion Service",
        "",
        doc.body.strip(),
        "",
    ]
    return "\n".join(lines).encode("utf-8")


class DocumentActivities:
    def __init__(
        self,
        settings: Settings,
        *,
        keyring: Keyring | None = None,
        engine: Engine | None = None,
    ) -> None:
        self.settings = settings
        self.store = DocumentStore(settings.document_dir, keyring or Keyring.from_settings(settings))
        self.engine = engine if engine is not None else get_engine(settings.database_url)

    @activity.defn
    def store_generated_document(self, doc: GeneratedDocument) -> StoredDocument:
        stored = self.store.put(render_document(doc), content_type=PLAIN_TEXT, case_ref=doc.case_ref)
        self._record(doc, stored)
        activity_logger(case_ref=doc.case_ref).info("document_stored", kind=doc.kind, doc_ref=stored.doc_ref)
        return stored

    def _record(self, doc: GeneratedDocument, stored: StoredDocument) -> None:
        try:
            with session_scope(self.engine) as session:
                existing = session.exec(
                    select(DocumentRow).where(
                        DocumentRow.case_ref == doc.case_ref, DocumentRow.doc_ref == stored.doc_ref
                    )
                ).first()
                if existing is None:
                    session.add(
                        DocumentRow(
                            doc_ref=stored.doc_ref,
                            case_ref=doc.case_ref,
                            content_type=stored.content_type,
                            size_bytes=stored.size_bytes,
                            kind=doc.kind[:40],
                            stored_by=STORED_BY,
                            stored_at=datetime.now(UTC),
                        )
                    )
        except IntegrityError:
            pass  # recorded concurrently by a duplicate attempt
