"""Retention: erase a closed case once the child is past the retention age, everywhere it is held.

The daily `RetentionSweepWorkflow` (workflows/retention_sweep.py) calls these three activities:

1. `find_cases_past_retention`: closed cases whose retention date (the child's birthday at
   `settings.retention_years_after_birth`, default the 25th) is before the sweep's day. The date is
   worked out from the child's date of birth (decrypted from `cases.personal`) with the setting as
   it is now, so a changed setting also applies to cases closed long ago; `cases.retain_until` is
   corrected on the way.
2. `delete_case_histories`: every run of the case's workflow (its id is the case reference, one run
   per continue-as-new) is deleted from Temporal (`DeleteWorkflowExecution`). A case whose workflow
   still runs is never touched.
3. `erase_case_records`: the case's stored documents (unless another case holds the same file), its
   outbox emails, and its read-model rows: case, timeline, tasks, documents, sent emails,
   idempotency keys and access records. What remains is one `erasure_tombstones` row of
   non-identifying figures (school, stage reached, outcome, months opened and closed, recoupment
   total). Ledger entries stay: they are the council's accounts (school, dates, amounts, no personal
   data) and are kept under the finance retention rules.

Every step is idempotent, so a retried or repeated sweep finishes the job. Logs name the case
reference only.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

from pydantic import BaseModel
from sqlalchemy import delete, func, select, update
from sqlalchemy.engine import Engine
from temporalio import activity
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DeleteWorkflowExecutionRequest
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from activities.email import outbox_file_for
from domain.case_commands import CASE_REF_PATTERN
from domain.stages import STAGE_AFTER_ACTION, Stage
from infra.document_store import DocumentStore
from infra.encryption import EncryptionError, Keyring
from infra.logging import activity_logger
from infra.settings import Settings
from readmodel.case_projection import decrypt_personal, retain_until
from readmodel.database import get_engine, session_scope
from readmodel.tables import (
    AccessRecord,
    CaseListItem,
    CaseRow,
    CaseSearchToken,
    DocumentRow,
    ErasureTombstone,
    FailingActivity,
    IdempotencyRecord,
    LedgerEntry,
    SentEmail,
    TaskRow,
    TimelineRow,
)

CASE_STILL_RUNNING = "CaseStillRunning"
CASE_NOT_CLOSED = "CaseNotClosed"
_CASE_REF_RE = re.compile(CASE_REF_PATTERN)

_STAGE_ORDER = [s for s in Stage if s is not Stage.CLOSED]


class RetentionQuery(BaseModel):
    """Which closed cases are past retention on `as_of`: up to `limit`, by reference after `after`."""

    as_of: date
    after: str | None = None
    limit: int = 200


class ErasureReceipt(BaseModel):
    """What one erasure removed (counts only: nothing about who the case was about)."""

    case_ref: str
    already_erased: bool = False
    documents_erased: int = 0
    emails_erased: int = 0
    rows_erased: int = 0


def stage_reached(actions: Iterable[str], provision_started_on: date | None) -> Stage:
    """The furthest stage a closed case reached before closing, from its timeline's actions."""
    reached = Stage.NOTIFIED
    stages = [STAGE_AFTER_ACTION[a] for a in actions if a in STAGE_AFTER_ACTION]
    if provision_started_on is not None:
        stages.append(Stage.IN_PROVISION)
    for stage in stages:
        if _STAGE_ORDER.index(stage) > _STAGE_ORDER.index(reached):
            reached = stage
    return reached


def _month(day: date | datetime | None) -> str | None:
    return None if day is None else f"{day.year:04d}-{day.month:02d}"


def _check_ref(case_ref: str) -> str:
    if not _CASE_REF_RE.match(case_ref):
        raise ApplicationError("not a case reference", type="BadCaseRef", non_retryable=True)
    return case_ref


async def case_run_ids(client: Client, case_ref: str) -> list[tuple[str, WorkflowExecutionStatus | None]]:
    """Every run of the case's workflow with its status, newest first: the chain of
    continue-as-new runs (followed back through each run's first event), plus any run visibility
    knows of."""
    runs: dict[str, WorkflowExecutionStatus | None] = {}
    run_id: str | None = None
    while True:
        handle = client.get_workflow_handle(case_ref, run_id=run_id)
        try:
            description = await handle.describe()
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                break
            raise
        if description.run_id in runs:
            break
        runs[description.run_id] = description.status
        previous = ""
        pinned = client.get_workflow_handle(case_ref, run_id=description.run_id)
        async for event in pinned.fetch_history_events(page_size=1):
            previous = event.workflow_execution_started_event_attributes.continued_execution_run_id
            break
        if not previous:
            break
        run_id = previous
    async for execution in client.list_workflows(f"WorkflowId = '{case_ref}'"):
        runs.setdefault(execution.run_id, execution.status)
    return list(runs.items())


class RetentionActivities:
    def __init__(
        self,
        settings: Settings,
        *,
        keyring: Keyring | None = None,
        engine: Engine | None = None,
    ) -> None:
        self.settings = settings
        self.keyring = keyring or Keyring.from_settings(settings)
        self.engine = engine if engine is not None else get_engine(settings.database_url)
        self.documents = DocumentStore(settings.document_dir, self.keyring)

    # -- 1. which cases --------------------------------------------------------------------------

    @activity.defn
    def find_cases_past_retention(self, query: RetentionQuery) -> list[str]:
        years = self.settings.retention_years_after_birth
        due: list[str] = []
        statement = (
            select(CaseRow.case_ref, CaseRow.personal, CaseRow.retain_until)
            .where(CaseRow.stage == Stage.CLOSED.value)
            .order_by(CaseRow.case_ref)
        )
        if query.after is not None:
            statement = statement.where(CaseRow.case_ref > query.after)
        with session_scope(self.engine) as session:
            for row in session.execute(statement).all():
                try:
                    born = date.fromisoformat(decrypt_personal(row, self.keyring)["child"]["date_of_birth"])
                except (EncryptionError, KeyError, ValueError, TypeError) as exc:
                    # Never guess: a case whose date of birth cannot be read is kept and reported.
                    activity_logger(case_ref=row.case_ref).warning(
                        "retention_date_unreadable", error=type(exc).__name__
                    )
                    continue
                until = retain_until(born, years)
                if row.retain_until != until:
                    session.execute(
                        update(CaseRow).where(CaseRow.case_ref == row.case_ref).values(retain_until=until)
                    )
                if until < query.as_of:
                    due.append(row.case_ref)
                    if len(due) >= query.limit:
                        break
        return due

    # -- 2. Temporal histories -------------------------------------------------------------------

    @activity.defn
    async def delete_case_histories(self, case_ref: str) -> int:
        """Delete every run of the case's workflow; answers how many runs were deleted."""
        _check_ref(case_ref)
        client = activity.client()
        runs = await case_run_ids(client, case_ref)
        if any(status == WorkflowExecutionStatus.RUNNING for _, status in runs):
            raise ApplicationError(
                f"case {case_ref} still has a running workflow; it is not erased",
                type=CASE_STILL_RUNNING,
                non_retryable=True,
            )
        deleted = 0
        # Oldest first: should this stop half way, the newest run is still there to be found again.
        for run_id, _ in reversed(runs):
            request = DeleteWorkflowExecutionRequest(
                namespace=client.namespace,
                workflow_execution=WorkflowExecution(workflow_id=case_ref, run_id=run_id),
            )
            try:
                await client.workflow_service.delete_workflow_execution(request)
                deleted += 1
            except RPCError as exc:
                if exc.status != RPCStatusCode.NOT_FOUND:
                    raise
        activity_logger(case_ref=case_ref).info("case_histories_deleted", runs=deleted)
        return deleted

    # -- 3. documents, outbox and read model ------------------------------------------------------

    @activity.defn
    def erase_case_records(self, case_ref: str) -> ErasureReceipt:
        _check_ref(case_ref)
        log = activity_logger(case_ref=case_ref)
        with session_scope(self.engine) as session:
            row = session.get(CaseRow, case_ref)
            if row is None:
                return ErasureReceipt(case_ref=case_ref, already_erased=True)
            if row.stage != Stage.CLOSED.value:
                raise ApplicationError(
                    f"case {case_ref} is not closed; it is not erased", type=CASE_NOT_CLOSED, non_retryable=True
                )
            doc_refs = sorted(
                set(session.scalars(select(DocumentRow.doc_ref).where(DocumentRow.case_ref == case_ref)))
            )
            shared = set(
                session.scalars(
                    select(DocumentRow.doc_ref).where(
                        DocumentRow.doc_ref.in_(doc_refs), DocumentRow.case_ref != case_ref
                    )
                )
            )
            outbox_ids = list(
                session.scalars(
                    select(SentEmail.message_id).where(SentEmail.case_ref == case_ref, SentEmail.via == "outbox")
                )
            )

        # Files first: if the transaction below fails, the retry finds the rows and finishes.
        documents_erased = sum(self.documents.erase(ref) for ref in doc_refs if ref not in shared)
        emails_erased = 0
        for message_id in outbox_ids:
            path: Path = outbox_file_for(self.settings.outbox_dir, message_id)
            if path.exists():
                path.unlink()
                emails_erased += 1

        with session_scope(self.engine) as session:
            row = session.get(CaseRow, case_ref)
            if row is None:  # erased by a concurrent attempt meanwhile
                return ErasureReceipt(case_ref=case_ref, already_erased=True)
            actions = session.scalars(select(TimelineRow.action).where(TimelineRow.case_ref == case_ref))
            recouped = session.scalar(
                select(func.coalesce(func.sum(LedgerEntry.amount), 0)).where(LedgerEntry.case_ref == case_ref)
            )
            if session.get(ErasureTombstone, case_ref) is None:
                session.add(
                    ErasureTombstone(
                        case_ref=case_ref,
                        school_urn=row.school_urn,
                        stage_reached=stage_reached(actions, row.provision_started_on).value,
                        close_outcome=row.close_outcome,
                        provision_kinds=row.provision_kinds,
                        opened_month=_month(row.opened_at),
                        closed_month=_month(row.closed_on),
                        recoupment_total=Decimal(str(recouped or 0)).quantize(Decimal("0.01")),
                        erased_at=datetime.now(UTC),
                    )
                )
            rows_erased = 0
            for table in (
                TimelineRow, TaskRow, DocumentRow, SentEmail, IdempotencyRecord, AccessRecord, CaseSearchToken, CaseListItem,
                FailingActivity, CaseRow,
            ):
                result = session.execute(
                    delete(table).where(table.case_ref == case_ref).execution_options(synchronize_session=False)
                )
                rows_erased += result.rowcount or 0
        log.info(
            "case_erased",
            documents=documents_erased,
            emails=emails_erased,
            rows=rows_erased,
        )
        return ErasureReceipt(
            case_ref=case_ref,
            documents_erased=documents_erased,
            emails_erased=emails_erased,
            rows_erased=rows_erased,
        )
