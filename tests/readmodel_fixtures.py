"""Fixtures and builders for the read-model and finance tests. The database itself is conftest's
`database_url` (SQLite and PostgreSQL); the `settings` here point at it, with a two-key keyring
(`key_spec`), and shadow conftest's `settings` in the modules that import them.
"""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from domain.case_commands import AbsenceReason, CloseOutcome, DecisionOutcome
from domain.case_state import CaseNote, CaseState, CaseView, PendingTask, TaskKind, TimelineEvent
from domain.people import Actor, Child, HealthProfessional, Parent, ProfessionalRole, Role
from domain.provision import Provision, ProvisionKind
from domain.stages import Stage, allowed_actions
from infra.encryption import Keyring, generate_key_spec
from infra.settings import Settings
from tests.support import make_settings


@pytest.fixture
def key_spec() -> str:
    return f"{generate_key_spec('test-2')},{generate_key_spec('test-1')}"


@pytest.fixture
def keyring(key_spec: str) -> Keyring:
    return Keyring.from_spec(key_spec)


@pytest.fixture
def settings(database_url: str, key_spec: str, tmp_path) -> Settings:
    return make_settings(tmp_path / "var", database_url=database_url, encryption_keys=key_spec)


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
