"""Finding a child by name, UPN or date of birth through a blind index: the read model keeps only
keyed hashes (`Keyring.search_token`) of each normalised part of the child's names, of the UPN and
of the date of birth (`CaseSearchToken`), never the values. A search hashes what was typed the same
way and answers the cases holding every term, within the caller's schools. Only the people allowed
to see a case are shown its names, decrypted then (the pages do that)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from datetime import date
from typing import Any, Protocol

from sqlalchemy import bindparam, func, select
from sqlmodel import Session

from domain.people import Child
from readmodel.tables import CaseSearchToken

_TOKENS = CaseSearchToken.__table__
_DELETE = _TOKENS.delete().where(_TOKENS.c.case_ref == bindparam("case_ref"))
_INSERT = _TOKENS.insert()
_UPN = re.compile(r"^[A-Za-z]\d{11}[0-9A-Za-z]$")
_DMY = re.compile(r"^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})$")
_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}$")
MAX_TERMS = 6


class SearchKeyring(Protocol):
    def search_token(self, value: str) -> str: ...


def _name_parts(name: str) -> list[str]:
    decomposed = unicodedata.normalize("NFKD", name)
    letters = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    return [p for p in re.split(r"[^0-9a-z]+", letters.replace("'", "")) if p]


def _dob(text: str) -> date | None:
    try:
        if _ISO.match(text):
            return date.fromisoformat(text)
        match = _DMY.match(text)
        if match:
            day, month, year = (int(g) for g in match.groups())
            return date(year, month, day)
    except ValueError:
        return None
    return None


def child_terms(child: Child) -> set[str]:
    terms = {f"name:{p}" for p in _name_parts(child.given_name) + _name_parts(child.family_name)}
    terms.add(f"dob:{child.date_of_birth.isoformat()}")
    if child.upn:
        terms.add(f"upn:{child.upn.strip().upper()}")
    return terms


def query_terms(text: str) -> set[str]:
    """What was typed, as index terms: a UPN, a date of birth (27/3/2013 or 2013-03-27), name parts."""
    terms: set[str] = set()
    for word in text.split()[:MAX_TERMS]:
        born = _dob(word)
        if born is not None:
            terms.add(f"dob:{born.isoformat()}")
        elif _UPN.match(word):
            terms.add(f"upn:{word.upper()}")
        else:
            terms.update(f"name:{p}" for p in _name_parts(word))
    return terms


def write_search_tokens(session: Session, case_ref: str, school_urn: str, child: Child,
                        keyring: SearchKeyring) -> None:
    """Replace the case's index rows (in the caller's transaction)."""
    conn = session.connection()
    conn.execute(_DELETE, {"case_ref": case_ref})
    rows: list[dict[str, Any]] = [
        {"case_ref": case_ref, "token": keyring.search_token(t), "school_urn": school_urn}
        for t in sorted(child_terms(child))
    ]
    conn.execute(_INSERT, rows)


def find_cases(session: Session, keyring: SearchKeyring, text: str,
               school_urns: Sequence[str] | None = None) -> list[str]:
    """The case references whose child matches every term typed (none for an empty search), within
    `school_urns` when given (a school sees only its own pupils)."""
    terms = query_terms(text)
    if not terms:
        return []
    tokens = sorted({keyring.search_token(t) for t in terms})
    statement = select(_TOKENS.c.case_ref).where(_TOKENS.c.token.in_(tokens))
    if school_urns is not None:
        statement = statement.where(_TOKENS.c.school_urn.in_(list(school_urns)))
    statement = statement.group_by(_TOKENS.c.case_ref).having(func.count() == len(tokens))
    return list(session.execute(statement.limit(500)).scalars())
