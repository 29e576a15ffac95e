"""Finance: recoupment charges posted to the ledger (`ledger_entries`), exactly once per line.

Each line's `idempotency_key` is the ledger's primary key: a retried or duplicated posting inserts
nothing twice and reports those lines as `already_posted`. Two workers posting the same lines at
once are safe too: `INSERT ... ON CONFLICT DO NOTHING` on SQLite and PostgreSQL (other databases:
an insert per line in a savepoint, a duplicate key counted as already posted). A posting is one
transaction, its lines inserted in key order (so concurrent postings cannot deadlock).

A line already in the ledger under the same key with a different amount, number of days or school
is bad data, not a retry: a non-retryable `ApplicationError` naming the key (case reference,
school, period and dates; nothing personal), and nothing of the posting is written.
A synchronous activity: the worker runs it in its thread pool.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DataError, IntegrityError
from sqlmodel import Session
from temporalio import activity
from temporalio.exceptions import ApplicationError

from domain.ledger_models import PostingReceipt, RecoupmentPosting
from domain.recoupment import RecoupmentLine
from infra.logging import activity_logger
from infra.settings import Settings
from readmodel.database import get_engine, session_scope
from readmodel.tables import LedgerEntry

LEDGER_CONFLICT = "LedgerConflict"
PENNY = Decimal("0.01")
MAX_AMOUNT = Decimal("9999999999.99")  # Numeric(12, 2)


def _entry_values(line: RecoupmentLine, posted_at: datetime) -> dict[str, Any]:
    return {
        "idempotency_key": line.idempotency_key,
        "case_ref": line.case_ref,
        "school_urn": line.school_urn,
        "period": line.period,
        "from_date": line.from_date,
        "to_date": line.to_date,
        "school_days": line.school_days,
        "key_stage": line.key_stage.value if hasattr(line.key_stage, "value") else str(line.key_stage),
        "amount": line.amount,
        "posted_at": posted_at,
    }


def _check_line(line: RecoupmentLine) -> None:
    if line.amount != line.amount.quantize(PENNY) or abs(line.amount) > MAX_AMOUNT:
        raise ApplicationError(
            f"recoupment line {line.idempotency_key} has an amount that is not whole pence "
            "or is out of range",
            type=LEDGER_CONFLICT,
            non_retryable=True,
        )


def _insert_once(session: Session, values: dict[str, Any]) -> bool:
    """Insert one ledger entry unless its key is there already; True when inserted."""
    dialect = session.get_bind().dialect.name
    dialect_insert = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}.get(dialect)
    if dialect_insert is not None:
        table = LedgerEntry.__table__
        statement = (
            dialect_insert(table)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["idempotency_key"])
            .returning(table.c.idempotency_key)
        )
        # A key comes back only when the row went in.
        return session.execute(statement).first() is not None
    try:
        with session.begin_nested():
            session.execute(insert(LedgerEntry).values(**values))
        return True
    except IntegrityError:
        return False


def _same_charge(stored: LedgerEntry, line: RecoupmentLine) -> bool:
    return (
        Decimal(stored.amount).quantize(PENNY) == line.amount.quantize(PENNY)
        and stored.school_days == line.school_days
        and stored.school_urn == line.school_urn
        and stored.case_ref == line.case_ref
    )


def post_lines(engine: Engine, lines: list[RecoupmentLine], now: datetime | None = None) -> PostingReceipt:
    """Post recoupment lines to the ledger once each (see the module docstring)."""
    posted_at = (now or datetime.now(UTC)).astimezone(UTC)
    for line in lines:
        _check_line(line)
    posted = already = 0
    with session_scope(engine) as session:
        for line in sorted(lines, key=lambda ln: ln.idempotency_key):
            if _insert_once(session, _entry_values(line, posted_at)):
                posted += 1
                continue
            already += 1
            stored = session.scalar(
                select(LedgerEntry).where(LedgerEntry.idempotency_key == line.idempotency_key)
            )
            if stored is not None and not _same_charge(stored, line):
                raise ApplicationError(
                    f"ledger already holds {line.idempotency_key} with a different charge; "
                    "not posting a second one",
                    type=LEDGER_CONFLICT,
                    non_retryable=True,
                )
    return PostingReceipt(posted=posted, already_posted=already)


class FinanceActivities:
    def __init__(self, settings: Settings, *, engine: Engine | None = None) -> None:
        self.settings = settings
        self.engine = engine if engine is not None else get_engine(settings.database_url)

    @activity.defn
    def post_recoupment(self, posting: RecoupmentPosting) -> PostingReceipt:
        cases = sorted({line.case_ref for line in posting.lines})
        try:
            receipt = post_lines(self.engine, posting.lines)
        except DataError as exc:
            raise ApplicationError(
                f"ledger rejected the recoupment posting for {', '.join(cases)}: {type(exc.orig).__name__}",
                type=LEDGER_CONFLICT,
                non_retryable=True,
            ) from None
        activity_logger(case_ref=",".join(cases)).info(
            "recoupment_posted", posted=receipt.posted, already_posted=receipt.already_posted
        )
        return receipt
