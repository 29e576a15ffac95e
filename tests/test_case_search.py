"""Finding a child by name, UPN or date of birth through the blind index: however the name is
typed, with nothing stored that says who the child is, and a school only among its own pupils."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import text

from domain.people import Child
from readmodel.case_projection import write_case_view
from readmodel.case_search import find_cases
from readmodel.database import get_engine, session_scope
from readmodel.migrate import upgrade
from tests.readmodel_fixtures import key_spec, keyring, make_view  # noqa: F401 - fixtures

NOW = datetime(2025, 12, 1, 10, 0, tzinfo=UTC)
ZOE = Child(given_name="Zoë Anne", family_name="O'Brien-Smith", date_of_birth=date(2013, 5, 17), upn="A12345678901B")
ADA = Child(given_name="Ada", family_name="Byron", date_of_birth=date(2014, 1, 2))


@pytest.fixture
def engine(database_url):  # noqa: F811
    upgrade(database_url)
    return get_engine(database_url)


def test_a_child_is_found_by_any_name_part_their_upn_or_date_of_birth(engine, keyring) -> None:  # noqa: F811
    with session_scope(engine) as s:
        write_case_view(s, make_view("MN-25-AAAAAA", the_child=ZOE, school_urn="120001"), keyring, NOW)
        write_case_view(s, make_view("MN-25-BBBBBB", the_child=ADA, school_urn="120002"), keyring, NOW)
    with session_scope(engine) as s:
        for typed in ("zoe", "ZOË obrien smith", "Smith Zoe", "a12345678901b", "17/5/2013", "2013-05-17 obrien"):
            assert find_cases(s, keyring, typed) == ["MN-25-AAAAAA"], typed
        assert find_cases(s, keyring, "zoe byron") == []  # every term must match
        assert find_cases(s, keyring, "   ") == []
        # A school searches its own pupils only.
        assert find_cases(s, keyring, "ada", school_urns=["120001"]) == []
        assert find_cases(s, keyring, "ada", school_urns=["120002"]) == ["MN-25-BBBBBB"]
        # Nothing in the index says who the child is.
        stored = {str(v).lower() for row in s.execute(text("SELECT * FROM case_search_tokens")) for v in row}
        for clear in ("zoe", "Zoë", "obrien", "A12345678901B", "2013-05-17", "ada", "byron"):
            assert clear.lower() not in stored
        # Every value is a case reference, a school URN or a keyed hash (a name's letters may turn up
        # inside a hex digest by chance, "ada" in "...deadac...": whole values are what count).
        assert all(re.fullmatch(r"mn-\d{2}-[0-9a-z]{6}|\d{6}|[0-9a-f]{64}", v) for v in stored), stored


def test_a_renamed_child_is_found_by_the_new_name_only(engine, keyring) -> None:  # noqa: F811
    with session_scope(engine) as s:
        write_case_view(s, make_view("MN-25-AAAAAA", the_child=ADA), keyring, NOW)
    renamed = ADA.model_copy(update={"family_name": "Lovelace"})
    view = make_view("MN-25-AAAAAA", the_child=renamed, events=5)
    with session_scope(engine) as s:
        write_case_view(s, view, keyring, NOW)
    with session_scope(engine) as s:
        assert find_cases(s, keyring, "ada lovelace") == ["MN-25-AAAAAA"]
        assert find_cases(s, keyring, "byron") == []
