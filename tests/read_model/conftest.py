"""Fixtures for the read-model tests, on SQLite and PostgreSQL (the top conftest's `database_url`):
`engine` (a migrated database), `seeded` (seven cases across stages and schools), and the
keyring and `settings` of `tests.readmodel_fixtures`, which here shadow the top conftest's
`settings`."""

from datetime import date

import pytest

from domain.case_state import TaskKind
from domain.stages import Stage
from readmodel.database import get_engine
from readmodel.migrate import upgrade
from tests.read_model.read_model_support import _write
from tests.readmodel_fixtures import child, key_spec, keyring, make_view, settings, task  # noqa: F401 - key_spec, keyring, settings: this folder's fixtures


@pytest.fixture
def engine(database_url):
    upgrade(database_url)
    return get_engine(database_url)


SEED = [
    # ref, stage, urn, officer, deadline, overdue, stalled
    ("MN-25-000001", Stage.NOTIFIED, "120001", None, date(2025, 11, 20), False, False),
    ("MN-25-000002", Stage.DECIDING, "120001", "officer-jb", date(2025, 11, 18), True, False),
    ("MN-25-000003", Stage.DECIDING, "120002", "officer-jb", date(2025, 11, 18), True, True),
    ("MN-25-000004", Stage.IN_PROVISION, "120002", "officer-kd", date(2025, 12, 10), False, True),
    ("MN-25-000005", Stage.IN_PROVISION, "120003", "officer-kd", None, False, False),
    ("MN-25-000006", Stage.CLOSED, "120001", "officer-jb", None, False, False),
    ("MN-25-000007", Stage.GATHERING_EVIDENCE, "120003", None, date(2025, 11, 25), False, False),
]


@pytest.fixture
def seeded(engine, keyring):
    for i, (ref, stage, urn, officer, deadline, overdue, stalled) in enumerate(SEED):
        tasks = [
            task(f"{ref}-a", deadline or date(2026, 1, 9), overdue=overdue, assignee=officer),
            task(
                f"{ref}-b",
                date(2025, 11, 10 + i),
                kind=TaskKind.REPLY_TO_CONSENT,
                role="parent",
                assignee=None,
            ),
        ]
        view = make_view(
            ref,
            stage=stage,
            school_urn=urn,
            officer=officer,
            next_deadline=deadline,
            overdue=overdue,
            stalled=stalled,
            tasks=[] if stage is Stage.CLOSED else tasks,
            the_child=child(given=f"Child{i}"),
            closed_on=date(2025, 11, 30),
        )
        _write(engine, view, keyring)
    return engine
