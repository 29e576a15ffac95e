"""Filling the search index (`readmodel.case_search`) for cases stored before it existed: each case's
child is read from its encrypted personal data and its blind-index tokens written, a batch of cases
per transaction. `casework search reindex` runs it.

By default only cases without any token are indexed, so a run that stops (or is stopped) part way
is resumed by running it again, and a second run finds nothing to do. `everything=True` rewrites
every case's tokens (after a change to how terms are normalised, for example). Each batch locks its
case rows (`FOR UPDATE` on PostgreSQL), so a case the service updates meanwhile is indexed from
its newest data, never overwritten from an older read. Only the child's names, UPN and date of birth
are used; nothing read is logged or printed, and no token is written for a case whose data cannot be
decrypted (counted as `unreadable`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import exists, func, select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from domain.people import Child
from readmodel.case_projection import CaseKeyring, decrypt_personal
from readmodel.case_search import write_search_tokens
from readmodel.database import session_scope
from readmodel.tables import CaseRow, CaseSearchToken

DEFAULT_BATCH = 500


@dataclass
class Reindexed:
    """What a run did: cases indexed now, cases left as they were (already indexed), cases whose
    personal data could not be read (left without tokens)."""

    indexed: int = 0
    already_indexed: int = 0
    unreadable: int = 0


def _without_tokens() -> object:
    return ~exists().where(CaseSearchToken.case_ref == CaseRow.case_ref)


def _count(session: Session, everything: bool) -> int:
    statement = select(func.count()).select_from(CaseRow)
    if not everything:
        statement = statement.where(_without_tokens())  # type: ignore[arg-type]
    return int(session.execute(statement).scalar_one())


def _batch(session: Session, after: str, size: int, everything: bool) -> list[CaseRow]:
    statement = select(CaseRow).where(CaseRow.case_ref > after)
    if not everything:
        statement = statement.where(_without_tokens())  # type: ignore[arg-type]
    statement = statement.order_by(CaseRow.case_ref).limit(size).with_for_update()
    return list(session.scalars(statement))


def reindex(
    engine: Engine,
    keyring: CaseKeyring,
    *,
    batch: int = DEFAULT_BATCH,
    everything: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> Reindexed:
    """Index the cases without tokens (every case with `everything`), `batch` cases a transaction;
    `progress(done, to_do)` after each batch."""
    done = Reindexed()
    with session_scope(engine) as session:
        total = _count(session, everything)
        if not everything:
            done.already_indexed = _count(session, everything=True) - total
    after, seen = "", 0
    while True:
        with session_scope(engine) as session:
            rows = _batch(session, after, batch, everything)
            for row in rows:
                try:
                    child = Child.model_validate(decrypt_personal(row, keyring)["child"])
                except Exception:  # noqa: BLE001 - a retired key, a damaged blob: count it, go on
                    done.unreadable += 1
                    continue
                write_search_tokens(session, row.case_ref, row.school_urn, child, keyring)
                done.indexed += 1
        if not rows:
            return done
        after = rows[-1].case_ref
        seen += len(rows)
        if progress is not None:
            progress(seen, max(total, seen))
