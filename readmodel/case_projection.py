"""Turning a case's `CaseView` into read-model rows, and writing them.

The workflow is the source of truth; these rows are what the API lists from. Names, dates of birth,
contact details and health detail go only into `CaseRow.personal`, encrypted with the keyring and
bound to the case reference (a blob copied to another row does not decrypt). Everything else in the
rows is non-personal: lists, filters and reports never need to decrypt.

`write_case_view` is safe to retry and to run out of order: a view older than the stored one
(lower `state.version`) changes nothing, timeline events are inserted once, and the case's task rows
are replaced by the view's pending tasks. It works the same on SQLite and PostgreSQL: the first
statement is a guarded `UPDATE` (which takes the row lock on PostgreSQL and the write lock on
SQLite), then an `INSERT` for a new case (a concurrent insert of the same case is caught in a
savepoint and retried as an update)."""

import json
import unicodedata
from datetime import UTC, date, datetime
from typing import Any, Protocol

from sqlalchemy import bindparam, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from domain.case_change import CaseChange, list_items, merge_lists, view_of
from domain.case_state import CaseState, CaseView, PendingTask, TimelineEvent
from domain.people import Child
from domain.provision import Provision
from readmodel.case_lists import held_lists, write_lists
from readmodel.case_search import write_search_tokens
from readmodel.tables import CaseRow, TaskRow, TimelineRow

#: 2: the notes are no longer in the blob (they are rows of `case_list_items`); 1 held them.
PERSONAL_FORMAT = 2
RETENTION_YEARS = 25


class CaseKeyring(Protocol):
    """What the projection needs from `infra.encryption.Keyring`."""

    def encrypt(self, plaintext: bytes, *, context: str) -> bytes: ...

    def decrypt(self, blob: bytes, *, context: str) -> bytes: ...

    def keyed_hash(self, value: str) -> str: ...

    def search_token(self, value: str) -> str: ...


# ------------------------------------------------------------------------------------------------
# Personal data
# ------------------------------------------------------------------------------------------------


def personal_context(case_ref: str) -> str:
    """The encryption context of a case's personal column (bound as associated data)."""
    return f"readmodel.cases.personal:{case_ref}"


def personal_payload(state: CaseState) -> dict[str, Any]:
    """The personal and health data of a case, as stored (encrypted) in `CaseRow.personal`.

    Keys: format, child, parent, health_summary, professionals, decision_reason, plus the other
    free-text reasons that may carry health detail (part_time_health_reason, close_reason); a blob of
    format 1 also has the notes. Only fields of a bounded size: the notes, which grow with the case,
    are rows of `case_list_items` (`readmodel.case_lists`), encrypted too."""
    return {
        "format": PERSONAL_FORMAT,
        "child": state.child.model_dump(mode="json"),
        "parent": state.parent.model_dump(mode="json"),
        "health_summary": state.health_summary,
        "professionals": [p.model_dump(mode="json") for p in state.professionals],
        "decision_reason": state.decision_reason,
        "part_time_health_reason": state.part_time_health_reason,
        "close_reason": state.close_reason,
    }


def encrypt_personal(state: CaseState, keyring: CaseKeyring) -> bytes:
    plaintext = json.dumps(personal_payload(state), separators=(",", ":"), sort_keys=True).encode("utf-8")
    return keyring.encrypt(plaintext, context=personal_context(state.case_ref))


def decrypt_personal(row: CaseRow, keyring: CaseKeyring) -> dict[str, Any]:
    """The personal data of a stored case (see `personal_payload` for the keys). Record the read."""
    return json.loads(keyring.decrypt(row.personal, context=personal_context(row.case_ref)))


def _normalise_name(name: str) -> str:
    """Case, accents, spacing and punctuation do not matter: "O'Brien  Zoë" == "obrien zoe"."""
    decomposed = unicodedata.normalize("NFKD", name)
    letters = "".join(c for c in decomposed if not unicodedata.combining(c))
    return "".join(c for c in letters.casefold() if c.isalnum())


def child_key(keyring: CaseKeyring, child: Child, school_urn: str) -> str:
    """Keyed hash (hex, 64 chars) identifying a child at a school without storing who they are.

    The same child notified twice by the same school gets the same key, however the names are
    spelt in case, accents, spaces or punctuation; the API uses it to find an open case."""
    value = "|".join(
        (
            _normalise_name(child.family_name),
            _normalise_name(child.given_name),
            child.date_of_birth.isoformat(),
            school_urn.strip(),
        )
    )
    return keyring.keyed_hash(value)


def retain_until(date_of_birth: date, years: int = RETENTION_YEARS) -> date:
    """The first day of the month after the child's birthday at `years` (default the 25th).

    A closed case is erased after this date. Rounding up to the next month keeps the exact date of
    birth out of this unencrypted column (it would otherwise be the birthday plus 25 years) and never
    erases early. The projection stores the default; the daily retention sweep recomputes it for
    closed cases with `settings.retention_years_after_birth`."""
    year, month = date_of_birth.year + years, date_of_birth.month + 1
    if month == 13:
        year, month = year + 1, 1
    return date(year, month, 1)


# ------------------------------------------------------------------------------------------------
# Rows
# ------------------------------------------------------------------------------------------------


def _utc(moment: datetime) -> datetime:
    """Aware UTC (a naive datetime is taken to be UTC already)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def provision_kinds_on(provisions: list[Provision], on: date) -> str:
    """The kinds of the provision lines running on a date, sorted, comma-joined ("" if none)."""
    kinds = {
        p.kind.value for p in provisions if p.start_date <= on and (p.end_date is None or on <= p.end_date)
    }
    return ",".join(sorted(kinds))


def case_values(view: CaseView, keyring: CaseKeyring, now: datetime) -> dict[str, Any]:
    """The `cases` row of a view, as of `now` (which also decides which provision is running)."""
    state = view.state
    now = _utc(now)
    return {
        "case_ref": state.case_ref,
        "version": state.version,
        "school_urn": state.school_urn,
        "stage": state.stage.value,
        "officer": state.officer,
        "opened_at": _utc(state.opened_at),
        "first_day_of_absence": state.first_day_of_absence,
        "threshold_date": state.threshold_date,
        "provision_started_on": state.provision_started_on,
        "next_deadline": view.next_deadline,
        "overdue": view.overdue,
        "stalled": state.stalled,
        "last_progress_on": state.last_progress_on,
        "provision_kinds": provision_kinds_on(state.provisions, now.date()),
        "close_outcome": state.close_outcome.value if state.close_outcome is not None else None,
        "closed_on": state.closed_on,
        "child_key": child_key(keyring, state.child, state.school_urn),
        "personal": encrypt_personal(state, keyring),
        "retain_until": retain_until(state.child.date_of_birth),
        "updated_at": now,
    }


def timeline_values(case_ref: str, event: TimelineEvent) -> dict[str, Any]:
    """The `timeline_events` row of one event."""
    return {
        "case_ref": case_ref,
        "seq": event.seq,
        "at": _utc(event.at),
        "actor_role": _clip(event.actor.role.value, 20),
        "actor_name": _clip(event.actor.name, 100),
        "action": _clip(event.action, 64),
        "summary": _clip(event.summary, 500),
    }


def task_values(state: CaseState, task: PendingTask) -> dict[str, Any]:
    """The `tasks` row of one pending task."""
    role = task.assignee_role.value if hasattr(task.assignee_role, "value") else str(task.assignee_role)
    return {
        "case_ref": state.case_ref,
        "task_id": _clip(task.id, 100),
        "school_urn": state.school_urn,
        "kind": task.kind.value,
        "description": _clip(task.description, 500),
        "assignee_role": _clip(role, 20),
        "assignee": task.assignee,
        "due_on": task.due_on,
        "overdue": task.overdue,
        "escalated": task.escalated,
    }


def tasks_values(view: CaseView) -> list[dict[str, Any]]:
    rows: dict[str, dict[str, Any]] = {}
    for task in view.pending_tasks:
        row = task_values(view.state, task)
        rows.setdefault(row["task_id"], row)  # a task id appears once per case
    return list(rows.values())


# ------------------------------------------------------------------------------------------------
# Writing
# ------------------------------------------------------------------------------------------------

# Core statements built once: every projection runs the same few, so SQLAlchemy compiles them once
# and each write only binds values (building them per call cost more than the SQL itself).
_CASES = CaseRow.__table__
_TIMELINE = TimelineRow.__table__
_TASKS = TaskRow.__table__
_UPDATE_CASE_IF_NOT_NEWER = (
    _CASES.update()
    .where(_CASES.c.case_ref == bindparam("b_case_ref"), _CASES.c.version <= bindparam("b_version"))
    .values({c.name: bindparam(c.name) for c in _CASES.columns if c.name != "case_ref"})
)
_INSERT_CASE = _CASES.insert()
_STORED_VERSION = select(_CASES.c.version).where(_CASES.c.case_ref == bindparam("case_ref"))
_STORED_SEQS = select(_TIMELINE.c.seq).where(_TIMELINE.c.case_ref == bindparam("case_ref"))
_INSERT_EVENTS = _TIMELINE.insert()
_DELETE_TASKS = _TASKS.delete().where(_TASKS.c.case_ref == bindparam("case_ref"))
_INSERT_TASKS = _TASKS.insert()


def write_case_view(session: Session, view: CaseView, keyring: CaseKeyring, now: datetime) -> bool:
    """Upsert a case's rows in the session's transaction (the caller commits).

    Returns False, changing nothing, when the stored row is newer (a higher version): an
    out-of-order or late retry never rolls the read model back. Otherwise updates or inserts the
    case row, inserts the timeline events not yet stored, replaces the case's task rows, stores
    every list item by item (`readmodel.case_lists`), and returns True."""
    values = case_values(view, keyring, now)
    ref = values["case_ref"]
    conn = session.connection()

    if not _upsert_case(session, values):
        return False

    stored_seqs = set(conn.execute(_STORED_SEQS, {"case_ref": ref}).scalars())
    # Only the events not stored yet are turned into rows: a long case's projection stays cheap.
    new_events = [timeline_values(ref, e) for e in view.state.timeline if e.seq not in stored_seqs]
    if new_events:
        conn.execute(_INSERT_EVENTS, new_events)
    _write_rest(session, view, values, keyring)
    lists = list_items(view.state)
    write_lists(session, ref, view.state.version, lists, dict.fromkeys(lists, 0), keyring)
    return True


def write_case_change(session: Session, change: CaseChange, keyring: CaseKeyring, now: datetime) -> CaseView | None:
    """Write a command's bounded answer (`CaseChange`) in the session's transaction, and return the
    whole case it describes: the lists held here as they stood at the change's `base_version`, with
    what the command changed. Only the changed list items and the new timeline events are written
    (events by (case, seq), once, whatever order concurrent commits land in).

    None, writing nothing, when the lists held here are not those of `base_version` (a gap: an
    earlier command's write failed or has not landed, or the case predates `case_list_items`): the
    caller reads the whole case from the workflow and writes it with `write_case_view`. A change
    older than what is stored writes nothing but still returns its case."""
    version, held = held_lists(session, change.case_ref, keyring)
    if not change.whole and version != change.base_version:
        return None
    lists = merge_lists(held, change)
    view = view_of(change, lists)
    values = case_values(view, keyring, now)
    if not _upsert_case(session, values):
        return view
    ref = change.case_ref
    timeline = change.lists.get("timeline")
    if timeline is not None and timeline.items:
        events = [timeline_values(ref, e) for e in view.state.timeline[timeline.start:]]
        conn = session.connection()
        conn.execute(_insert_events_once(conn.dialect.name), events)
    _write_rest(session, view, values, keyring)
    write_lists(session, ref, view.state.version, lists,
                {name: tail.start for name, tail in change.lists.items()}, keyring)
    return view


def _write_rest(session: Session, view: CaseView, values: dict[str, Any], keyring: CaseKeyring) -> None:
    """The search tokens and the task rows of a case whose row was just written."""
    ref = values["case_ref"]
    conn = session.connection()
    write_search_tokens(session, ref, values["school_urn"], view.state.child, keyring)
    conn.execute(_DELETE_TASKS, {"case_ref": ref})
    tasks = tasks_values(view)
    if tasks:
        conn.execute(_INSERT_TASKS, tasks)


_EVENTS_ONCE: dict[str, Any] = {}


def _insert_events_once(dialect: str) -> Any:
    """INSERT timeline events, skipping those already stored (same case and seq)."""
    if dialect not in _EVENTS_ONCE:
        insert = (postgresql if dialect == "postgresql" else sqlite).insert(_TIMELINE)
        _EVENTS_ONCE[dialect] = insert.on_conflict_do_nothing(index_elements=[_TIMELINE.c.case_ref, _TIMELINE.c.seq])
    return _EVENTS_ONCE[dialect]


class ProjectionContended(RuntimeError):
    """Concurrent writers kept changing the case row; a retry will succeed (it is not bad data)."""


def _upsert_case(session: Session, values: dict[str, Any], attempts: int = 5) -> bool:
    """Update the case row unless the stored one is newer, or insert it; False when it is newer.

    Between our statements another transaction may insert or update the row (PostgreSQL, read
    committed); each round re-reads what is committed, so this settles in a round or two."""
    for _ in range(attempts):
        if _update_if_not_newer(session, values):
            return True
        stored = _stored_version(session, values["case_ref"])
        if stored is not None:
            if stored > values["version"]:
                return False  # the stored projection is newer: ignore this one
            continue  # it appeared (or changed) since our update: update it now
        try:
            with session.begin_nested():
                session.connection().execute(_INSERT_CASE, values)
            return True
        except IntegrityError:
            if _stored_version(session, values["case_ref"]) is None:
                raise  # not a concurrent insert of this case: the data itself is refused
            # another writer inserted the case first: update theirs
    raise ProjectionContended(f"case {values['case_ref']}: the row kept changing under concurrent writers")


def _update_if_not_newer(session: Session, values: dict[str, Any]) -> bool:
    params = {**values, "b_case_ref": values["case_ref"], "b_version": values["version"]}
    return session.connection().execute(_UPDATE_CASE_IF_NOT_NEWER, params).rowcount > 0


def _stored_version(session: Session, case_ref: str) -> int | None:
    return session.connection().execute(_STORED_VERSION, {"case_ref": case_ref}).scalar()
