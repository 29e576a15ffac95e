"""Fixtures and builders for the read-model and finance tests: one database per test, on SQLite
(a file in tmp_path) and on PostgreSQL (a fresh schema, dropped afterwards).

PostgreSQL: `CASEWORK_TEST_POSTGRES_URL` (default postgresql+psycopg://postgres@127.0.0.1:5432/test).
When it cannot be reached the PostgreSQL cases are skipped locally, and fail under CI (`CI` set) or
with `CASEWORK_REQUIRE_POSTGRES=1`. These fixtures shadow the same-named ones in conftest.py for the
modules that import them (they also dispose cached engines before dropping the schema).
"""

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import cache

import psycopg
import pytest
from sqlalchemy.engine import make_url

from domain.case_commands import AbsenceReason, CloseOutcome, DecisionOutcome
from domain.case_state import CaseNote, CaseState, CaseView, PendingTask, TaskKind, TimelineEvent
from domain.people import Actor, Child, HealthProfessional, Parent, ProfessionalRole, Role
from domain.provision import Provision, ProvisionKind
from domain.stages import Stage, allowed_actions
from infra.encryption import Keyring, generate_key_spec
from infra.settings import Settings
from readmodel.database import dispose_engines

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
]


def postgres_base_url() -> str:
    return os.environ.get("CASEWORK_TEST_POSTGRES_URL", DEFAULT_PG_URL)


def _libpq_kwargs(url: str) -> dict[str, object]:
    u = make_url(url)
    kwargs: dict[str, object] = {"dbname": u.database, "host": u.host, "port": u.port or 5432}
    if u.username:
        kwargs["user"] = u.username
    if u.password:
        kwargs["password"] = u.password
    return kwargs


@cache
def _postgres_problem() -> str | None:
    try:
        with psycopg.connect(**_libpq_kwargs(postgres_base_url()), connect_timeout=3) as conn:  # type: ignore[arg-type]
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return f"PostgreSQL at {make_url(postgres_base_url()).render_as_string()} unreachable: {exc}"
    return None


def _admin(sql: str) -> None:
    with psycopg.connect(**_libpq_kwargs(postgres_base_url()), autocommit=True) as conn:  # type: ignore[arg-type]
        conn.execute(sql)  # type: ignore[arg-type]


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    """A URL to an empty database, once on SQLite and once on PostgreSQL, removed after the test."""
    backend = request.param
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'db' / 'readmodel.db'}"
        dispose_engines()
        return
    problem = _postgres_problem()
    if problem:
        if os.environ.get("CI") or os.environ.get("CASEWORK_REQUIRE_POSTGRES") == "1":
            pytest.fail(problem)
        pytest.skip(problem)
    schema = f"cw_test_{uuid.uuid4().hex[:12]}"
    _admin(f'CREATE SCHEMA "{schema}"')
    url = make_url(postgres_base_url()).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        dispose_engines()
        _admin(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture
def key_spec() -> str:
    return f"{generate_key_spec('test-2')},{generate_key_spec('test-1')}"


@pytest.fixture
def keyring(key_spec: str) -> Keyring:
    return Keyring.from_spec(key_spec)


@pytest.fixture
def settings(database_url: str, key_spec: str, tmp_path) -> Settings:
    return Settings(
        environment="test",
        database_url=database_url,
        encryption_keys=key_spec,
        outbox_dir=tmp_path / "var" / "outbox",
        document_dir=tmp_path / "var" / "documents",
    )


# ------------------------------------------------------------------------------------------------
# Builders
# ------------------------------------------------------------------------------------------------

OPENED_AT = datetime(2025, 11, 3, 9, 30, tzinfo=UTC)
SCHOOL_ACTOR = Actor(role=Role.SCHOOL, name="school-120001")
OFFICER_ACTOR = Actor(role=Role.CASEWORKER, name="officer-jb")


def child(given: str = "Zoë", family: str = "Quennell-Farthingale", dob: date = date(2013, 5, 17)) -> Child:
    return Child(given_name=given, family_name=family, date_of_birth=dob, address="12 Lark Rise, Leicester")


def event(seq: int, action: str = "note_added", at: datetime | None = None) -> TimelineEvent:
    return TimelineEvent(
        seq=seq,
        at=at or OPENED_AT + timedelta(hours=seq),
        actor=OFFICER_ACTOR if seq else SCHOOL_ACTOR,
        action=action,
        summary=f"step {seq}",
    )


def task(
    task_id: str,
    due_on: date,
    *,
    kind: TaskKind = TaskKind.DECIDE,
    role: str = Role.CASEWORKER,
    assignee: str | None = "officer-jb",
    overdue: bool = False,
) -> PendingTask:
    return PendingTask(
        id=task_id,
        kind=kind,
        description=f"{kind.value.replace('_', ' ')} for the case",
        assignee_role=role,
        assignee=assignee,
        due_on=due_on,
        overdue=overdue,
    )


def make_view(
    case_ref: str = "MN-25-7K3Q9P",
    *,
    events: int = 1,
    stage: Stage = Stage.NOTIFIED,
    school_urn: str = "120001",
    the_child: Child | None = None,
    officer: str | None = None,
    next_deadline: date | None = date(2025, 11, 21),
    overdue: bool = False,
    stalled: bool = False,
    tasks: list[PendingTask] | None = None,
    provisions: list[Provision] | None = None,
    threshold_date: date | None = None,
    provision_started_on: date | None = None,
    opened_at: datetime = OPENED_AT,
    closed_on: date | None = None,
) -> CaseView:
    """A case with `events` timeline events (so `state.version` == events)."""
    state = CaseState(
        case_ref=case_ref,
        stage=stage,
        opened_at=opened_at,
        school_urn=school_urn,
        child=the_child or child(),
        parent=Parent(name="Marguerite Quennell", email="mq@example.org", phone="07700 900123"),
        reason=AbsenceReason.MENTAL_HEALTH,
        health_summary="Anxiety disorder; under CAMHS since spring",
        first_day_of_absence=date(2025, 11, 3),
        threshold_date=threshold_date,
        professionals=[
            HealthProfessional(id="camhs-1", name="Dr Ottoline Brisk", role=ProfessionalRole.CAMHS)
        ],
        decision=DecisionOutcome.LA_PROVISION if provision_started_on else None,
        decision_reason="Letter from Dr Brisk confirms she cannot attend" if provision_started_on else None,
        provisions=provisions or [],
        provision_started_on=provision_started_on,
        officer=officer,
        notes=[CaseNote(at=OPENED_AT, actor=OFFICER_ACTOR, text="Mother says Zoë sleeps badly")],
        close_outcome=CloseOutcome.RETURNED_FULL_TIME if stage is Stage.CLOSED else None,
        closed_on=closed_on if stage is Stage.CLOSED else None,
        last_progress_on=date(2025, 11, 3),
        stalled=stalled,
        timeline=[event(i) for i in range(events)],
    )
    return CaseView(
        state=state,
        pending_tasks=tasks if tasks is not None else [task(f"{case_ref}-decide", date(2025, 11, 21))],
        allowed_actions=allowed_actions(stage),
        next_deadline=next_deadline,
        overdue=overdue,
    )


def tuition(
    start: date, end: date | None = None, kind: ProvisionKind = ProvisionKind.HOME_TUITION
) -> Provision:
    return Provision(
        kind=kind,
        provider="Leicestershire Hospital School",
        hours_per_week=Decimal("10"),
        start_date=start,
        weekly_cost=Decimal("450.00"),
        end_date=end,
    )
