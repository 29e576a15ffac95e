"""`casework search reindex`: a case stored before the search index existed (no tokens) is found by
name once the command has run, and not before; a second run finds nothing to do; a run stopped part
way is finished by running it again; on SQLite and PostgreSQL."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import text

import cli
from domain.people import Child
from readmodel.case_projection import write_case_view
from readmodel.case_search import find_cases
from readmodel.database import get_engine, session_scope
from readmodel.migrate import upgrade
from readmodel.search_reindex import reindex
from tests.readmodel_fixtures import key_spec, keyring, make_view  # noqa: F401 - fixtures

NOW = datetime(2025, 12, 1, 10, 0, tzinfo=UTC)
CHILDREN = {
    "MN-25-AAAAAA": Child(given_name="Zoë", family_name="O'Brien", date_of_birth=date(2013, 5, 17), upn="A12345678901B"),
    "MN-25-BBBBBB": Child(given_name="Ada", family_name="Byron", date_of_birth=date(2014, 1, 2)),
    "MN-25-CCCCCC": Child(given_name="Mary", family_name="Somerville", date_of_birth=date(2012, 12, 26)),
}


@pytest.fixture
def engine(database_url, keyring):  # noqa: F811
    """Three cases as a read model written before migration 0006 leaves them: rows, no tokens."""
    upgrade(database_url)
    engine = get_engine(database_url)
    with session_scope(engine) as s:
        for ref, child in CHILDREN.items():
            write_case_view(s, make_view(ref, the_child=child, school_urn="120001"), keyring, NOW)
        s.execute(text("DELETE FROM case_search_tokens"))
    return engine


def found(engine, keyring, typed: str, school: str | None = None) -> list[str]:  # noqa: F811
    with session_scope(engine) as s:
        return find_cases(s, keyring, typed, school_urns=[school] if school else None)


def test_the_command_indexes_the_cases_without_tokens(engine, database_url, key_spec, keyring,  # noqa: F811
                                                      monkeypatch, tmp_path, capsys) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("CASEWORK_DATABASE_URL", database_url)
    monkeypatch.setenv("CASEWORK_ENVIRONMENT", "development")
    monkeypatch.setenv("CASEWORK_ENCRYPTION_KEYS", key_spec)
    monkeypatch.setenv("CASEWORK_OUTBOX_DIR", str(tmp_path / "outbox"))
    assert found(engine, keyring, "zoe obrien") == []
    assert found(engine, keyring, "ada byron") == []

    out = io.StringIO()
    assert cli.main(["search", "reindex", "--batch", "2"], out=out) == 0
    assert out.getvalue().strip() == "indexed 3 cases; 0 already indexed; 0 could not be read"
    progress = capsys.readouterr().err
    assert "2 of 3 cases" in progress and "3 of 3 cases" in progress
    assert "Zoë" not in progress + out.getvalue() and "Byron" not in progress + out.getvalue()

    assert found(engine, keyring, "zoe obrien") == ["MN-25-AAAAAA"]
    assert found(engine, keyring, "a12345678901b") == ["MN-25-AAAAAA"]
    assert found(engine, keyring, "ada byron", school="120001") == ["MN-25-BBBBBB"]
    assert found(engine, keyring, "26/12/2012") == ["MN-25-CCCCCC"]
    assert found(engine, keyring, "ada", school="120002") == []  # the school's scope holds

    again = io.StringIO()
    assert cli.main(["search", "reindex"], out=again) == 0
    assert again.getvalue().strip() == "indexed 0 cases; 3 already indexed; 0 could not be read"


def test_a_stopped_run_is_finished_by_the_next(engine, keyring) -> None:  # noqa: F811
    class Stop(Exception):
        pass

    def stop_after_first_batch(done: int, to_do: int) -> None:
        raise Stop()

    with pytest.raises(Stop):
        reindex(engine, keyring, batch=1, progress=stop_after_first_batch)
    assert found(engine, keyring, "zoe") == ["MN-25-AAAAAA"]  # the first batch was committed
    assert found(engine, keyring, "ada") == []
    rest = reindex(engine, keyring, batch=1)
    assert (rest.indexed, rest.already_indexed, rest.unreadable) == (2, 1, 0)
    assert found(engine, keyring, "ada") == ["MN-25-BBBBBB"] and found(engine, keyring, "mary") == ["MN-25-CCCCCC"]


def test_all_rewrites_every_case_and_an_unreadable_case_is_counted(engine, keyring) -> None:  # noqa: F811
    reindex(engine, keyring)
    with session_scope(engine) as s:
        s.execute(text("UPDATE cases SET personal = :junk WHERE case_ref = 'MN-25-CCCCCC'"), {"junk": b"not a blob"})
        s.execute(text("DELETE FROM case_search_tokens WHERE case_ref = 'MN-25-CCCCCC'"))
    done = reindex(engine, keyring, everything=True)
    assert (done.indexed, done.already_indexed, done.unreadable) == (2, 0, 1)
    assert found(engine, keyring, "zoe") == ["MN-25-AAAAAA"] and found(engine, keyring, "mary") == []
