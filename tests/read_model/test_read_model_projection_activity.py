"""The projection activity: it writes and ignores stale views; bad data is non-retryable without
personal data in the error; an unreachable database is retried."""

import pytest
from sqlalchemy.exc import IntegrityError
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

import activities.projection as projection_module
from activities.projection import ProjectionActivities
from domain.stages import Stage
from readmodel.case_projection import decrypt_personal
from readmodel.database import ReadModelUnavailable, get_engine, session_scope
from readmodel.migrate import upgrade
from readmodel.tables import CaseRow
from tests.read_model.read_model_support import UNREACHABLE_PG
from tests.readmodel_fixtures import make_view


def test_projection_activity_writes_and_ignores_stale(settings, keyring):
    upgrade(settings.database_url)
    activities = ProjectionActivities(settings)
    env = ActivityEnvironment()
    env.run(activities.project_case, make_view("MN-25-EEEEEE", events=2, stage=Stage.DECIDING))
    env.run(activities.project_case, make_view("MN-25-EEEEEE", events=1))
    with session_scope(get_engine(settings.database_url)) as session:
        row = session.get(CaseRow, "MN-25-EEEEEE")
        assert row.stage == "deciding"
        # The projection decrypts with a keyring built from the same settings.
        assert decrypt_personal(row, keyring)["child"]["given_name"] == "Zoë"


def test_projection_activity_bad_data_is_non_retryable_without_personal_data(settings, monkeypatch):
    upgrade(settings.database_url)
    activities = ProjectionActivities(settings)
    env = ActivityEnvironment()

    def refuse(session, view, keyring, now):
        raise IntegrityError(
            "INSERT INTO cases ... Quennell", {"family_name": "Quennell"}, Exception("violates Quennell")
        )

    monkeypatch.setattr(projection_module, "write_case_view", refuse)
    with pytest.raises(ApplicationError) as info:
        env.run(activities.project_case, make_view("MN-25-FFFFFF"))
    assert info.value.non_retryable is True
    assert "MN-25-FFFFFF" in info.value.message and "Quennell" not in info.value.message
    assert info.value.__cause__ is None


def test_projection_activity_rejected_by_the_database(settings):
    upgrade(settings.database_url)
    env = ActivityEnvironment()
    activities = ProjectionActivities(settings)
    long_urn = make_view("MN-25-GGGGGG", school_urn="1234567")  # too long for the column
    if settings.database_url.startswith("sqlite"):
        pytest.skip("SQLite does not enforce column lengths")
    with pytest.raises(ApplicationError) as info:
        env.run(activities.project_case, long_urn)
    assert info.value.non_retryable is True and "Quennell" not in info.value.message


def test_projection_activity_unreachable_database_is_retried(settings):
    activities = ProjectionActivities(settings.model_copy(update={"database_url": UNREACHABLE_PG}))
    with pytest.raises(ReadModelUnavailable):  # not an ApplicationError: Temporal retries it
        ActivityEnvironment().run(activities.project_case, make_view())
