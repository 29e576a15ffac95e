"""Subject access: everything the service holds about one child's case, as one zip archive.

`GET /cases/{ref}/subject-access-export` (supervisors only) streams a zip holding:

- `README.txt`: what the archive is, for which case, who produced it and when;
- `case.json`: the case as its workflow holds it (`CaseView`: child, parent, health summary,
  notes, professionals, evidence, decisions, provision, reviews, timeline, tasks);
- `read-model/case.json`: the read model's row, its encrypted personal column decrypted;
- `timeline.json`, `tasks.json`, `recoupment.json`: the read model's rows for the case;
- `documents/index.json` and every stored document of the case, decrypted
  (`documents/<doc_ref>.<ext>`);
- `emails/index.json` and the outbox copy of each email sent about the case, when one is kept;
- `access-records.json`: every recorded read of the case, this export included (it is recorded
  before the archive is built).

The archive is written entry by entry while it is sent, so documents are never all in memory.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from sqlmodel import Session, select
from temporalio.service import RPCError, RPCStatusCode

from activities.email import outbox_file_for
from api.auth import case_not_found, check_case_ref, require_supervisor
from api.deps import query_view, record_access, run_db, services, temporal_client
from api.principal import Principal
from api.problems import problem_responses
from domain.case_state import CaseView
from infra.document_store import DocumentCorrupted, DocumentNotFound, file_name
from infra.encryption import EncryptionError
from readmodel.case_lists import held_lists
from readmodel.case_projection import decrypt_personal
from readmodel.tables import (
    AccessRecord,
    CaseRow,
    DocumentRow,
    LedgerEntry,
    SentEmail,
    TaskRow,
    TimelineRow,
)

router = APIRouter(tags=["access"])

EXPORT_WHAT = "subject access export"


@dataclass
class _Held:
    """What the read model holds about the case, read in the transaction that records the export."""

    case: dict[str, Any] | None = None
    timeline: list[dict[str, Any]] = field(default_factory=list)
    tasks: list[dict[str, Any]] = field(default_factory=list)
    documents: list[dict[str, Any]] = field(default_factory=list)
    emails: list[dict[str, Any]] = field(default_factory=list)
    recoupment: list[dict[str, Any]] = field(default_factory=list)
    access_records: list[dict[str, Any]] = field(default_factory=list)


def _dump(row: Any, *, exclude: set[str] | None = None) -> dict[str, Any]:
    return row.model_dump(mode="json", exclude=exclude or set())


def _json(value: Any) -> bytes:
    return json.dumps(value, indent=2, ensure_ascii=False, default=str).encode("utf-8")


class _Sink(io.RawIOBase):
    """A write-only, unseekable stream: zipfile writes into it, the response takes what is there."""

    def __init__(self) -> None:
        super().__init__()
        self._chunks: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self._chunks.append(chunk)
        return len(chunk)

    def take(self) -> bytes:
        data = b"".join(self._chunks)
        self._chunks.clear()
        return data


async def _zip_stream(entries: list[tuple[str, Callable[[], Awaitable[bytes]]]]) -> AsyncIterator[bytes]:
    sink = _Sink()
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, produce in entries:
            archive.writestr(name, await produce())
            chunk = sink.take()
            if chunk:
                yield chunk
    yield sink.take()


def _constant(data: bytes) -> Callable[[], Awaitable[bytes]]:
    async def _produce() -> bytes:
        return data

    return _produce


@router.get(
    "/cases/{case_ref}/subject-access-export",
    summary="Subject access export",
    description="Everything held about the case's child, as one zip archive: the case as its "
    "workflow holds it, the read model's rows (personal data decrypted), the timeline, tasks, "
    "recoupment lines, every document (decrypted), the emails kept in the outbox and the access "
    "records. Supervisors only; the export itself is recorded in the access records.",
    response_class=StreamingResponse,
    responses={
        200: {"description": "The archive", "content": {"application/zip": {}}},
        **problem_responses(401, 403, 404, 503),
    },
)
async def subject_access_export(
    request: Request,
    case_ref: str = Path(..., examples=["MN-26-7K3Q9P"]),
    principal: Principal = Depends(require_supervisor),
) -> StreamingResponse:
    check_case_ref(case_ref)
    svc = services(request)

    view: CaseView | None = None
    client = await temporal_client(request)
    try:
        view = await query_view(request, client.get_workflow_handle(case_ref))
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise

    def _gather(session: Session) -> _Held | None:
        row = session.get(CaseRow, case_ref)
        if row is None and view is None:
            return None
        record_access(session, principal, case_ref, EXPORT_WHAT)
        session.flush()
        held = _Held()
        if row is not None:
            held.case = {
                **_dump(row, exclude={"personal"}),
                # The notes left the blob (format 2) for the case's list rows: exported where they were.
                "personal": {"notes": held_lists(session, case_ref, svc.keyring)[1].get("notes", []),
                             **decrypt_personal(row, svc.keyring)},
            }

        def rows(table: Any, *order: Any) -> list[Any]:
            return list(session.exec(select(table).where(table.case_ref == case_ref).order_by(*order)))

        held.timeline = [_dump(r) for r in rows(TimelineRow, TimelineRow.seq)]
        held.tasks = [_dump(r) for r in rows(TaskRow, TaskRow.due_on, TaskRow.task_id)]
        held.documents = [_dump(r) for r in rows(DocumentRow, DocumentRow.stored_at, DocumentRow.id)]
        held.emails = [_dump(r) for r in rows(SentEmail, SentEmail.sent_at)]
        held.recoupment = [_dump(r) for r in rows(LedgerEntry, LedgerEntry.from_date)]
        held.access_records = [_dump(r) for r in rows(AccessRecord, AccessRecord.at, AccessRecord.id)]
        return held

    held = await run_db(request, _gather)
    if held is None:
        raise case_not_found(case_ref)

    produced_at = datetime.now(UTC)
    entries: list[tuple[str, Callable[[], Awaitable[bytes]]]] = []
    readme = (
        f"Subject access export for case {case_ref}\n"
        f"Produced {produced_at.isoformat()} by {principal.name} ({principal.role.value}).\n\n"
        "case.json                 the case as its workflow holds it (absent if the workflow is gone)\n"
        "read-model/case.json      the read model's row, personal data decrypted\n"
        "timeline.json, tasks.json, recoupment.json, access-records.json   read-model rows\n"
        "documents/                every stored document of the case, decrypted (index.json lists them)\n"
        "emails/                   emails sent about the case (index.json; outbox copies when kept)\n"
    )
    entries.append(("README.txt", _constant(readme.encode("utf-8"))))
    if view is not None:
        entries.append(("case.json", _constant(view.model_dump_json(indent=2).encode("utf-8"))))
    entries.append(("read-model/case.json", _constant(_json(held.case))))
    entries.append(("timeline.json", _constant(_json(held.timeline))))
    entries.append(("tasks.json", _constant(_json(held.tasks))))
    entries.append(("recoupment.json", _constant(_json(held.recoupment))))
    entries.append(("access-records.json", _constant(_json(held.access_records))))

    document_index: list[dict[str, Any]] = []
    for doc in held.documents:
        doc_ref = doc["doc_ref"]
        name = "documents/" + file_name(doc_ref, doc["content_type"])
        present = await run_in_threadpool(svc.documents.exists, doc_ref)
        document_index.append({**doc, "file": name if present else None})
        if present:

            def _document(ref: str = doc_ref) -> Callable[[], Awaitable[bytes]]:
                async def _produce() -> bytes:
                    try:
                        data, _ = await run_in_threadpool(svc.documents.get, ref)
                    except (DocumentNotFound, DocumentCorrupted, EncryptionError) as exc:
                        # Said in the archive rather than cutting the download short.
                        return f"(document {ref} could not be read: {type(exc).__name__})\n".encode()
                    return data

                return _produce

            entries.append((name, _document()))
    entries.append(("documents/index.json", _constant(_json(document_index))))

    email_index: list[dict[str, Any]] = []
    for mail in held.emails:
        path = outbox_file_for(svc.settings.outbox_dir, mail["message_id"])
        kept = mail["via"] == "outbox" and path.is_file()
        name = f"emails/{path.name}" if kept else None
        email_index.append({**mail, "file": name})
        if kept and name is not None:

            def _email(p: Any = path) -> Callable[[], Awaitable[bytes]]:
                async def _produce() -> bytes:
                    return await run_in_threadpool(p.read_bytes)

                return _produce

            entries.append((name, _email()))
    entries.append(("emails/index.json", _constant(_json(email_index))))

    filename = f"subject-access-{case_ref}.zip"
    return StreamingResponse(
        _zip_stream(entries),
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )
