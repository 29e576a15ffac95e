"""One read-model projection write (`readmodel.case_projection.write_case_view`, what the worker's
`project_case` activity does after every change to a case) beside the same rows written with the bare
database driver, on SQLite and on PostgreSQL (a scratch schema, dropped afterwards).

    .venv/bin/python -m bench.projection_write [--cases 40] [--rounds 10]

Each write is a case that has just gained one timeline event: update the case row unless a newer one is
stored (its personal data encrypted, the child's keyed hash), insert the new event, replace the case's
tasks, commit. The baseline runs the same five statements through the driver (`engine.raw_connection()`)
with the row values built beforehand, so it is the database's own cost and nothing of ours.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import tempfile
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from bench.support import describe, header, interleaved
from domain.case_commands import AbsenceReason
from domain.case_state import CaseNote, CaseState, CaseView, PendingTask, TaskKind, TimelineEvent
from domain.people import Actor, Child, HealthProfessional, Parent, ProfessionalRole, Role
from domain.stages import Stage, allowed_actions
from infra.encryption import Keyring, generate_key_spec
from readmodel.case_projection import case_values, tasks_values, timeline_values, write_case_view
from readmodel.database import make_engine, session_scope
from readmodel.migrate import upgrade

POSTGRES_URL = os.environ.get("CASEWORK_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
OPENED_AT = datetime(2025, 11, 3, 9, 30, tzinfo=UTC)
SCHOOL = Actor(role=Role.SCHOOL, name="school-120001")
OFFICER = Actor(role=Role.CASEWORKER, name="officer-jb")


# -- a fictional case, as the read-model tests build it --------------------------------------------


def event(seq: int) -> TimelineEvent:
    return TimelineEvent(seq=seq, at=OPENED_AT + timedelta(hours=seq), actor=OFFICER if seq else SCHOOL,
                         action="note_added", summary=f"step {seq}")


def make_view(case_ref: str, *, events: int) -> CaseView:
    """A notified case with `events` timeline events and one decision task."""
    state = CaseState(
        case_ref=case_ref,
        stage=Stage.NOTIFIED,
        opened_at=OPENED_AT,
        school_urn="120001",
        child=Child(given_name="Zoë", family_name="Quennell-Farthingale", date_of_birth=date(2013, 5, 17),
                    address="12 Lark Rise, Leicester"),
        parent=Parent(name="Marguerite Quennell", email="mq@example.org", phone="07700 900123"),
        reason=AbsenceReason.MENTAL_HEALTH,
        health_summary="Anxiety disorder; under CAMHS since spring",
        first_day_of_absence=date(2025, 11, 3),
        professionals=[HealthProfessional(id="camhs-1", name="Dr Ottoline Brisk", role=ProfessionalRole.CAMHS)],
        notes=[CaseNote(at=OPENED_AT, actor=OFFICER, text="Mother says Zoë sleeps badly")],
        last_progress_on=date(2025, 11, 3),
        timeline=[event(i) for i in range(events)],
    )
    task = PendingTask(id=f"{case_ref}-decide", kind=TaskKind.DECIDE, description="decide for the case",
                       assignee_role=Role.CASEWORKER, assignee="officer-jb", due_on=date(2025, 11, 21))
    return CaseView(state=state, pending_tasks=[task], allowed_actions=allowed_actions(Stage.NOTIFIED),
                    next_deadline=date(2025, 11, 21), overdue=False)


# -- the databases ----------------------------------------------------------------------------------


@contextlib.contextmanager
def databases(tmp: Path) -> Iterator[list[tuple[str, str]]]:
    """(name, url) of an empty SQLite file and, if PostgreSQL answers, a scratch schema."""
    found = [("SQLite", f"sqlite:///{tmp / 'bench.db'}")]
    schema = f"cw_bench_{uuid.uuid4().hex[:12]}"
    base = make_url(POSTGRES_URL)
    admin = {"dbname": base.database, "host": base.host, "port": base.port or 5432, "user": base.username}
    try:
        with psycopg.connect(**admin, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
        url = base.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)
        found.append(("PostgreSQL", url))
    except psycopg.Error as exc:
        print(f"PostgreSQL skipped: {type(exc).__name__}")
        schema = ""
    try:
        yield found
    finally:
        if schema:
            with psycopg.connect(**admin, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def with_one_more_event(view: CaseView) -> CaseView:
    state = view.state
    grown = state.model_copy(update={"timeline": [*state.timeline, event(len(state.timeline))]})
    return view.model_copy(update={"state": grown})


class RawWriter:
    """The same statements through the bare driver, values prepared in advance."""

    def __init__(self, engine: Engine, named: str) -> None:
        self.engine = engine
        p = (lambda n: f":{n}") if named == "colon" else (lambda n: f"%({n})s")
        self.p = p

    def statements(self, case: dict[str, Any], new_event: dict[str, Any], tasks: list[dict[str, Any]]
                   ) -> list[tuple[str, Any]]:
        # Only our own table and column names are formatted in; every value is a bound parameter.
        p = self.p
        ref = {"case_ref": case["case_ref"]}
        sets = ", ".join(f"{c} = {p(c)}" for c in case if c != "case_ref")
        update = f"UPDATE cases SET {sets} WHERE case_ref = {p('case_ref')} AND version <= {p('version')}"  # noqa: S608
        return [
            (update, case),
            (f"SELECT seq FROM timeline_events WHERE case_ref = {p('case_ref')}", ref),  # noqa: S608
            (self.insert("timeline_events", new_event), new_event),
            (f"DELETE FROM tasks WHERE case_ref = {p('case_ref')}", ref),  # noqa: S608
            *[(self.insert("tasks", t), t) for t in tasks],
        ]

    def insert(self, table: str, row: dict[str, Any]) -> str:
        return f"INSERT INTO {table} ({', '.join(row)}) VALUES ({', '.join(self.p(c) for c in row)})"  # noqa: S608

    def write(self, statements: list[tuple[str, Any]]) -> None:
        conn = self.engine.raw_connection()
        try:
            cursor = conn.cursor()
            for sql, params in statements:
                cursor.execute(sql, params)
                if sql.startswith("SELECT"):
                    cursor.fetchall()
            conn.commit()
        finally:
            conn.close()


def sqlite_params(values: dict[str, Any]) -> dict[str, Any]:
    """sqlite3 stores datetimes as text (as SQLAlchemy does); everything else binds as is."""
    return {k: v.isoformat(" ") if isinstance(v, datetime) else v for k, v in values.items()}


async def measure(url: str, cases: int, rounds: int) -> dict[str, list[float]]:
    upgrade(url)
    engine = make_engine(url)
    keyring = Keyring.from_spec(generate_key_spec("bench-1"))
    sqlite = url.startswith("sqlite")
    raw = RawWriter(engine, "colon" if sqlite else "pyformat")
    ours = [make_view(f"MN-26-{n:06d}", events=10) for n in range(cases)]
    theirs = [make_view(f"RW-26-{n:06d}", events=10) for n in range(cases)]
    for view in ours + theirs:  # the rows exist: each timed write is an update, as it is for a live case
        with session_scope(engine) as session:
            write_case_view(session, view, keyring, datetime.now(UTC))
    position = {"ours": 0, "raw": 0}

    async def our_write() -> None:
        i = position["ours"] % cases
        position["ours"] += 1
        ours[i] = with_one_more_event(ours[i])
        with session_scope(engine) as session:
            write_case_view(session, ours[i], keyring, datetime.now(UTC))

    prepared: list[list[tuple[str, Any]]] = []

    def prepare() -> None:
        for i, view in enumerate(theirs):
            grown = theirs[i] = with_one_more_event(view)
            case = case_values(grown, keyring, datetime.now(UTC))
            new_event = timeline_values(grown.state.case_ref, grown.state.timeline[-1])
            tasks = tasks_values(grown)
            if sqlite:
                case, new_event, tasks = sqlite_params(case), sqlite_params(new_event), [sqlite_params(t) for t in tasks]
            prepared.append(raw.statements(case, new_event, tasks))

    async def raw_write() -> None:
        if not prepared:
            prepare()
        raw.write(prepared.pop(0))

    try:
        await interleaved(1, cases, {"ours": our_write, "raw": raw_write})  # warm-up
        return await interleaved(rounds, cases, {"write_case_view (ours)": our_write,
                                                 "same statements, bare driver": raw_write})
    finally:
        engine.dispose()


async def run(cases: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-projection-") as tmp, databases(Path(tmp)) as found:
        for name, url in found:
            samples = await measure(url, cases, rounds)
            header(f"Read-model projection write, {name} (one new event, {cases} cases cycled)")
            for label, values in samples.items():
                print(describe(label, values))
            ours, raw = (statistics.median(v) for v in samples.values())
            print(f"median ratio ours/bare driver: {ours / raw:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    asyncio.run(run(args.cases, args.rounds))


if __name__ == "__main__":
    main()
