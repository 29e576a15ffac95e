"""A case's lists in the read model, in chunks of `CHUNK` items (`case_list_items`), encrypted and
version-guarded.

A command answers with what it changed (`domain.case_change.CaseChange`), not the whole case; the
API puts the whole case together again from the lists held here as they stood at the command's
`base_version` (`held_lists`), and writes back only the chunks the command changed (`write_lists`).
Every row carries the case version that wrote it, and an older write never replaces a newer
one, whatever order concurrent commits land in. The marker row (`list_name` "", `idx` 0) holds the
version the lists are complete at: a command whose base is not that version finds a gap (an
earlier write failed or has not landed yet), and the caller reads the whole case instead.
"""

import json
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from readmodel.tables import CaseListItem

_ITEMS = CaseListItem.__table__
#: Items a row holds: appending rewrites at most one row, and reading a case reads a few rows.
CHUNK = 32
MARKER = ""  # the list_name of the row whose version says up to which version the lists are held
_SELECT = select(_ITEMS.c.list_name, _ITEMS.c.idx, _ITEMS.c.version, _ITEMS.c.body).where(
    _ITEMS.c.case_ref == bindparam("case_ref"))
_DELETE_BEYOND = _ITEMS.delete().where(
    _ITEMS.c.case_ref == bindparam("b_case_ref"), _ITEMS.c.list_name == bindparam("b_list_name"),
    _ITEMS.c.idx >= bindparam("b_length"), _ITEMS.c.version <= bindparam("b_version"))
_UPSERTS: dict[str, Any] = {}


def _upsert(dialect: str) -> Any:
    """INSERT, or UPDATE an older row: built once per dialect (SQLite and PostgreSQL share the syntax)."""
    if dialect not in _UPSERTS:
        insert = (postgresql if dialect == "postgresql" else sqlite).insert(_ITEMS)
        _UPSERTS[dialect] = insert.on_conflict_do_update(
            index_elements=[_ITEMS.c.case_ref, _ITEMS.c.list_name, _ITEMS.c.idx],
            set_={"version": insert.excluded.version, "body": insert.excluded.body},
            where=_ITEMS.c.version <= insert.excluded.version,
        )
    return _UPSERTS[dialect]


def _context(case_ref: str, list_name: str, idx: int) -> str:
    return f"readmodel.case_list_items:{case_ref}:{list_name}:{idx}"


def held_lists(session: Session, case_ref: str, keyring: Any) -> tuple[int | None, dict[str, list[Any]]]:
    """The version the case's lists are held at (None: not held) and the lists, as JSON."""
    chunks: dict[str, list[tuple[int, list[Any]]]] = {}
    version: int | None = None
    for name, idx, row_version, body in session.connection().execute(_SELECT, {"case_ref": case_ref}):
        if name == MARKER:
            version = row_version
            continue
        chunks.setdefault(name, []).append((idx, json.loads(keyring.decrypt(body, context=_context(case_ref, name, idx)))))
    lists: dict[str, list[Any]] = {}
    for name, held in chunks.items():
        held.sort(key=lambda pair: pair[0])
        if [idx for idx, _ in held] != list(range(len(held))):
            return None, {}  # a hole: not complete at any version
        lists[name] = [item for _, chunk in held for item in chunk]
    return version, lists


def write_lists(session: Session, case_ref: str, version: int, lists: dict[str, list[Any]],
                starts: dict[str, int], keyring: Any) -> None:
    """Store the given lists (each whole, as it is now) from the chunk holding the item at its start
    in `starts` on (so a command that appended a note rewrites one chunk of at most `CHUNK` items),
    drop the chunks past each list's end, and mark the lists complete at `version`; chunks a newer
    version wrote are kept."""
    rows: list[dict[str, Any]] = [{"case_ref": case_ref, "list_name": MARKER, "idx": 0, "version": version,
                                   "body": b""}]
    beyond: list[dict[str, Any]] = []
    for name, start in starts.items():
        items = lists[name]
        for idx in range(start // CHUNK, -(-len(items) // CHUNK)):
            chunk = items[idx * CHUNK:(idx + 1) * CHUNK]
            plaintext = json.dumps(chunk, separators=(",", ":"), sort_keys=True).encode("utf-8")
            rows.append({"case_ref": case_ref, "list_name": name, "idx": idx, "version": version,
                         "body": keyring.encrypt(plaintext, context=_context(case_ref, name, idx))})
        beyond.append({"b_case_ref": case_ref, "b_list_name": name, "b_length": -(-len(items) // CHUNK),
                       "b_version": version})
    conn = session.connection()
    conn.execute(_upsert(conn.dialect.name), rows)
    if beyond:
        conn.execute(_DELETE_BEYOND, beyond)
