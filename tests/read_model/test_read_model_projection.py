"""The case projection: non-personal columns in the clear and personal data encrypted (never
readable in the raw database), child keys, and an older or concurrent view never rolling the
read model back."""

import threading
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import select, text
from sqlmodel import SQLModel

from domain.provision import ProvisionKind
from domain.stages import Stage
from readmodel import case_queries as q
from readmodel.case_lists import held_lists
from readmodel.case_projection import child_key, decrypt_personal, retain_until
from readmodel.database import session_scope
from readmodel.tables import CaseRow, TaskRow
from tests.read_model.read_model_support import NOW, _write
from tests.readmodel_fixtures import OPENED_AT, child, make_view, task, tuition


def test_projection_writes_non_personal_columns_and_encrypted_personal(engine, keyring):
    view = make_view(
        events=2,
        stage=Stage.IN_PROVISION,
        officer="officer-jb",
        threshold_date=date(2025, 11, 21),
        provision_started_on=date(2025, 11, 24),
        provisions=[
            tuition(date(2025, 11, 24)),
            tuition(date(2025, 11, 24), kind=ProvisionKind.VIRTUAL_SCHOOL),
            tuition(date(2025, 11, 24), date(2025, 11, 28), kind=ProvisionKind.HOSPITAL_SCHOOL),  # ended
            tuition(date(2026, 1, 5), kind=ProvisionKind.WORK_FROM_SCHOOL),  # not yet
        ],
        next_deadline=date(2025, 12, 5),
        overdue=True,
    )
    assert _write(engine, view, keyring) is True
    with session_scope(engine) as session:
        row = session.get(CaseRow, view.state.case_ref)
        assert row is not None
        assert (row.version, row.stage, row.school_urn, row.officer) == (
            2,
            "in_provision",
            "120001",
            "officer-jb",
        )
        assert row.next_deadline == date(2025, 12, 5) and row.overdue is True and row.stalled is False
        assert row.provision_kinds == "home_tuition,virtual_school"
        assert row.threshold_date == date(2025, 11, 21)
        assert row.provision_started_on == date(2025, 11, 24)
        assert row.retain_until == date(2038, 6, 1)  # month after the 25th birthday: no exact DOB
        assert row.opened_at == OPENED_AT and row.updated_at == NOW
        assert row.child_key == child_key(keyring, view.state.child, "120001")
        assert len(row.child_key) == 64
        personal = decrypt_personal(row, keyring)
        assert personal["child"]["family_name"] == "Quennell-Farthingale"
        assert personal["parent"]["email"] == "mq@example.org"
        assert personal["health_summary"].startswith("Anxiety")
        assert personal["professionals"][0]["name"] == "Dr Ottoline Brisk"
        assert "notes" not in personal  # they grow with the case: rows of their own
        _, lists = held_lists(session, view.state.case_ref, keyring)
        assert lists["notes"][0]["text"] == "Mother says Zo\u00eb sleeps badly"
        assert personal["decision_reason"].startswith("Letter from Dr Brisk")


def test_personal_data_is_not_readable_in_the_raw_database(engine, keyring, database_url):
    _write(engine, make_view(events=3, provision_started_on=date(2025, 11, 24)), keyring)
    secrets = [
        "Quennell",
        "Farthingale",
        "Zo\u00eb",
        "Lark Rise",
        "Ottoline",
        "Anxiety",
        "CAMHS since",
        "07700",
    ]
    # Every column of every table, as the database hands it over.
    with engine.connect() as conn:
        for table in SQLModel.metadata.sorted_tables:
            for raw_row in conn.execute(select(table)):
                raw = " ".join(repr(v) for v in raw_row)
                for secret in secrets:
                    assert secret not in raw, f"{secret!r} readable in {table.name}"
                    assert secret.encode() not in raw.encode()
        blob = conn.execute(text("SELECT personal FROM cases")).scalar_one()
        for secret in secrets:
            assert secret.encode("utf-8") not in bytes(blob)
    if database_url.startswith("sqlite"):  # and the files on disk, WAL included
        path = Path(database_url.removeprefix("sqlite:///"))
        for f in path.parent.iterdir():
            data = f.read_bytes()
            for secret in secrets:
                assert secret.encode("utf-8") not in data, f"{secret!r} in {f.name}"


def test_child_key_ignores_spelling_but_not_school_or_birthday(keyring):
    base = child_key(keyring, child("Zoë", "Quennell-Farthingale"), "120001")
    assert child_key(keyring, child(" zoe ", "QUENNELL FARTHINGALE"), "120001") == base
    assert child_key(keyring, child("Zoe", "quennell-farthingale"), "120002") != base
    assert child_key(keyring, child("Zoe", "quennell-farthingale", date(2013, 5, 18)), "120001") != base
    assert retain_until(date(2012, 2, 29)) == date(2037, 3, 1)
    assert retain_until(date(2012, 12, 31)) == date(2038, 1, 1)


def test_an_older_view_never_rolls_the_read_model_back(engine, keyring):
    ref = "MN-25-AAAAAA"
    newer = make_view(ref, events=5, stage=Stage.DECIDING, tasks=[task("t-new", date(2025, 12, 3))])
    older = make_view(ref, events=3, stage=Stage.AWAITING_CONSENT, tasks=[task("t-old", date(2025, 11, 25))])
    assert _write(engine, newer, keyring) is True
    assert _write(engine, older, keyring) is False
    with session_scope(engine) as session:
        assert session.get(CaseRow, ref).stage == "deciding"
        assert session.get(CaseRow, ref).version == 5
        assert [t.task_id for t in q.list_tasks(session)[0]] == ["t-new"]
    # The same version again (a retry) is applied: it is not older.
    again = make_view(ref, events=5, stage=Stage.DECIDING, officer="officer-kd")
    assert _write(engine, again, keyring) is True
    with session_scope(engine) as session:
        assert session.get(CaseRow, ref).officer == "officer-kd"


def test_timeline_events_are_stored_once(engine, keyring):
    ref = "MN-25-BBBBBB"
    _write(engine, make_view(ref, events=2), keyring)
    _write(engine, make_view(ref, events=4), keyring)
    _write(engine, make_view(ref, events=4), keyring)  # a retry
    with session_scope(engine) as session:
        timeline = q.get_timeline(session, ref)
        assert [e.seq for e in timeline] == [0, 1, 2, 3]
        assert timeline[0].actor_role == "school" and timeline[1].actor_name == "officer-jb"
        assert timeline[3].at == OPENED_AT + timedelta(hours=3)
        assert q.get_timeline(session, "MN-25-NOCASE") == []


def test_task_rows_are_replaced(engine, keyring):
    ref = "MN-25-CCCCCC"
    _write(
        engine,
        make_view(ref, events=1, tasks=[task("a", date(2025, 11, 20)), task("b", date(2025, 11, 21))]),
        keyring,
    )
    _write(engine, make_view(ref, events=2, tasks=[task("c", date(2025, 11, 25), overdue=True)]), keyring)
    with session_scope(engine) as session:
        rows = session.scalars(select(TaskRow).where(TaskRow.case_ref == ref)).all()
        assert [(r.task_id, r.overdue, r.school_urn) for r in rows] == [("c", True, "120001")]
    _write(engine, make_view(ref, events=3, tasks=[]), keyring)
    with session_scope(engine) as session:
        assert session.scalars(select(TaskRow).where(TaskRow.case_ref == ref)).all() == []


def test_concurrent_first_projections_of_one_case(engine, keyring):
    ref = "MN-25-DDDDDD"
    views = [make_view(ref, events=n, tasks=[task(f"t{n}", date(2025, 12, n))]) for n in range(1, 7)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(views))

    def project(view):
        try:
            barrier.wait()
            _write(engine, view, keyring)
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=project, args=(v,)) for v in views]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with session_scope(engine) as session:
        assert session.get(CaseRow, ref).version == 6
        assert [e.seq for e in q.get_timeline(session, ref)] == [0, 1, 2, 3, 4, 5]
        assert [t.task_id for t in q.list_tasks(session)[0]] == ["t6"]
