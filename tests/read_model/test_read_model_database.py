"""The database layer: SQLite engine settings, an unreachable database as one exception type,
other errors passing through `session_scope` unchanged."""

import pytest
from sqlalchemy import text

from readmodel import case_queries as q
from readmodel.database import ReadModelUnavailable, get_engine, make_engine, ping, session_scope
from readmodel.migrate import upgrade
from tests.read_model.read_model_support import UNREACHABLE_PG


def test_sqlite_engine_settings(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'a' / 'b' / 'x.db'}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000
    engine.dispose()
    assert get_engine(f"sqlite:///{tmp_path / 'y.db'}") is get_engine(f"sqlite:///{tmp_path / 'y.db'}")


def test_unreachable_database_is_one_exception_type():
    engine = make_engine(UNREACHABLE_PG)
    with pytest.raises(ReadModelUnavailable) as info:
        with session_scope(engine) as session:
            q.list_cases(session)
    assert "unavailable" in str(info.value) and "127.0.0.1:1" in str(info.value)
    with pytest.raises(ReadModelUnavailable):
        ping(engine)
    with pytest.raises(ReadModelUnavailable):
        upgrade(UNREACHABLE_PG)


def test_other_errors_pass_through_session_scope(engine):
    with pytest.raises(KeyError):
        with session_scope(engine) as session:
            session.execute(text("SELECT 1"))
            raise KeyError("mine")
