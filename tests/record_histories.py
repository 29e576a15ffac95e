"""Records the workflow histories that tests/test_replay.py replays against the current workflow code.

    .venv/bin/python -m tests.record_histories            # every path
    .venv/bin/python -m tests.record_histories stalled_case ...   # just these
    .venv/bin/python -m tests.record_histories --generation 2 ...   # beside the old: <path>@2.json
    .venv/bin/python -m tests.record_histories --generation 4 --as-the-api   # commands sent as the API
                                                                             # sends them (generations 3, 4)

Each path drives a real case on the time-skipping server (tests/case_harness.py, real activities;
the retention sweep on the dev server), waits until the worker has nothing left to do (no history
ends mid-task), and saves its history, finished or mid-life, as tests/histories/<path>.json (or
<path>@<generation>.json: after a patched change, record a new generation beside the old files, so
the replay test covers the cases that ran the old code and those that run the new; every path needs
one per generation from the one it was introduced in, `RecordedPath.introduced`). Re-record in
place only when a change to the workflow is meant to be incompatible AND no case that ran the old code is still
open; otherwise keep the old files: they are what running cases look like (see README, "Changing
workflow code safely").

The payloads in the histories are encrypted, as they are on the server, with HISTORY_TEST_KEY below.
That key is NOT a secret and protects nothing: it is a fixed test-only key, committed so that the
replay test can decode the recorded payloads. The recorded cases are fictional test data.
"""

import asyncio
import dataclasses
import sqlite3
import sys
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory

from domain.case_commands import (
    AddNote,
    AgreeReintegrationPlan,
    ChangeSchool,
    CloseCase,
    CloseOutcome,
    CommissionProvision,
    ConfirmFullTimeReturn,
    ConsentDecision,
    Decide,
    DecisionOutcome,
    EvidenceKind,
    ExtendReintegration,
    ReadModelWriteFailed,
    RecordAbsenceDays,
    RecordConsent,
    RecordEvidence,
    RecordHospitalAdmission,
    RecordHospitalDischarge,
    RecordReviewOutcome,
    ReopenCase,
    RequestConsent,
    RequestEvidence,
    ReviewOutcome,
    ScheduleReview,
)
from domain.people import Actor, HealthProfessional, ProfessionalRole, Role
from domain.provision import Provision, ProvisionKind
from domain.statutory_clocks import ClockSettings
from tests.case_harness import (
    CONSULTANT_EMAIL,
    OFFICER,
    CaseDriver,
    World,
    case_world,
    notification,
    travel_to,
)
from tests.support import eventually, recent_school_days
from workflows.case_workflow import CaseWorkflow
from workflows.read_model_sync import CHECK_CALLER_WRITE_AFTER, RETRY_EVERY
from workflows.retention_sweep import SWEEP_WORKFLOW_ID, RetentionSweepWorkflow

# Test-only, deliberately public: 32 ASCII bytes, base64-encoded. Never use it for real data.
HISTORY_TEST_KEY = "history-test:aGlzdG9yeS10ZXN0LWtleS1ub3QtYS1zZWNyZXQhISE="
HISTORIES = Path(__file__).parent / "histories"

SUPERVISOR = Actor(role=Role.SUPERVISOR, name="supervisor-ab")
CONSULTANT = HealthProfessional(id="consultant-1", name="Dr A Consultant", role=ProfessionalRole.CONSULTANT,
                                email=CONSULTANT_EMAIL)


def _tuition(start: date, hours: int = 25) -> list[Provision]:
    return [Provision(kind=ProvisionKind.HOME_TUITION, provider="County tuition", hours_per_week=Decimal(hours),
                      start_date=start, weekly_cost=Decimal("500.00"))]


async def _open(world: World, case_ref: str) -> CaseDriver:
    await travel_to(world.env, date(2030, 1, 7), hour=8)
    return await world.open_case(notification(date(2030, 1, 7), case_ref=case_ref))


async def _to_provision(case: CaseDriver, start: date) -> None:
    await case.do("request_consent", RequestConsent(actor=OFFICER))
    await case.do("record_consent", RecordConsent(actor=OFFICER, decision=ConsentDecision.REFUSED))
    await case.do("decide", Decide(actor=OFFICER, outcome=DecisionOutcome.LA_PROVISION, reason="GP letter held"))
    await case.do("commission_provision", CommissionProvision(actor=OFFICER, officer="officer-jb",
                                                              provisions=_tuition(start)))


async def full_case_to_full_time_return(world: World) -> CaseDriver:
    case = await _open(world, "MN-30-RPLY01")
    await case.do("request_consent", RequestConsent(actor=OFFICER))
    await case.go_to(date(2030, 1, 10))
    await case.do("record_consent", RecordConsent(actor=OFFICER, decision=ConsentDecision.GRANTED,
                                                  professionals=[CONSULTANT]))
    await case.do("request_evidence", RequestEvidence(actor=OFFICER, professional_ids=["consultant-1"]))
    await case.go_to(date(2030, 1, 17))
    await case.do("record_evidence", RecordEvidence(actor=OFFICER, document_ref="doc-" + "a" * 64,
                                                    kind=EvidenceKind.CONSULTANT_LETTER,
                                                    professional_id="consultant-1"))
    await case.do("decide", Decide(actor=OFFICER, outcome=DecisionOutcome.LA_PROVISION,
                                   reason="Consultant confirms absence for the spring term"))
    await case.go_to(date(2030, 1, 21))
    await case.do("commission_provision", CommissionProvision(actor=OFFICER, officer="officer-jb",
                                                              provisions=_tuition(date(2030, 1, 21))))
    await case.go_to(date(2030, 3, 11))
    await case.do("record_review_outcome", RecordReviewOutcome(
        actor=OFFICER, outcome=ReviewOutcome.START_REINTEGRATION, held_on=date(2030, 3, 11)))
    await case.do("agree_reintegration_plan", AgreeReintegrationPlan(
        actor=OFFICER, start_date=date(2030, 3, 12), end_date=date(2030, 3, 29), hours_per_week=15))
    await case.go_to(date(2030, 4, 23))
    await case.do("confirm_full_time_return", ConfirmFullTimeReturn(actor=OFFICER, returned_on=date(2030, 4, 23)))
    await case.handle.result()
    return case


async def consent_refused_then_not_eligible(world: World) -> CaseDriver:
    case = await _open(world, "MN-30-RPLY02")
    await case.do("request_consent", RequestConsent(actor=OFFICER))
    await case.go_to(date(2030, 1, 9))
    await case.do("record_consent", RecordConsent(actor=OFFICER, decision=ConsentDecision.REFUSED))
    await case.do("decide", Decide(actor=OFFICER, outcome=DecisionOutcome.NOT_ELIGIBLE,
                                   reason="Expected back within the week"))
    await case.handle.result()
    return case


async def hospital_admission_and_discharge(world: World) -> CaseDriver:
    case = await _open(world, "MN-30-RPLY03")
    await case.do("request_consent", RequestConsent(actor=OFFICER))
    await case.do("record_hospital_admission", RecordHospitalAdmission(
        actor=OFFICER, admitted_on=date(2030, 1, 7), hospital="Leicester Royal Infirmary"))
    await case.go_to(date(2030, 1, 28))
    await case.do("record_hospital_discharge", RecordHospitalDischarge(actor=OFFICER, discharged_on=date(2030, 1, 28)))
    return case


async def overdue_review_escalated(world: World) -> CaseDriver:
    case = await _open(world, "MN-30-RPLY04")
    await _to_provision(case, date(2030, 1, 21))
    await case.go_to(date(2030, 3, 18))
    await case.do("record_review_outcome", RecordReviewOutcome(
        actor=OFFICER, outcome=ReviewOutcome.CONTINUE, held_on=date(2030, 3, 18)))
    return case


async def part_time_extended_three_times(world: World) -> CaseDriver:
    case = await _open(world, "MN-30-RPLY05")
    await _to_provision(case, date(2030, 1, 21))
    await case.do("agree_reintegration_plan", AgreeReintegrationPlan(
        actor=OFFICER, start_date=date(2030, 1, 22), end_date=date(2030, 2, 1), hours_per_week=12))
    await case.go_to(date(2030, 1, 29))
    for end in (date(2030, 2, 8), date(2030, 2, 15), date(2030, 3, 1)):
        await case.do("extend_reintegration", ExtendReintegration(
            actor=OFFICER, new_end_date=end, reason="Fatigue after treatment"))
    return case


async def school_change_mid_provision(world: World) -> CaseDriver:
    case = await _open(world, "MN-30-RPLY06")
    await _to_provision(case, date(2030, 1, 21))
    await case.go_to(date(2030, 2, 25))
    await case.do("change_school", ChangeSchool(actor=OFFICER, new_school_urn="120002",
                                                effective_on=date(2030, 2, 25)))
    await case.go_to(date(2030, 4, 1))  # the spring term's recoupment is charged to both schools
    return case


async def review_moved_then_case_closed(world: World) -> CaseDriver:
    """A TAS review invited, moved (a higher SEQUENCE), then cancelled by the case's closure (from
    generation 6, patch `letters-and-invites`)."""
    case = await _open(world, "MN-30-RPLY08")
    await _to_provision(case, date(2030, 1, 21))
    await case.do("schedule_review", ScheduleReview(actor=OFFICER, on=date(2030, 2, 4)))
    await case.go_to(date(2030, 1, 28))
    await case.do("schedule_review", ScheduleReview(actor=OFFICER, on=date(2030, 2, 5)))
    await case.do("close", CloseCase(actor=OFFICER, outcome=CloseOutcome.LEFT_AREA, reason="Family moved away"))
    await case.handle.result()
    return case


async def stalled_case(world: World) -> CaseDriver:
    case = await _open(world, "MN-30-RPLY07")
    await case.go_to(date(2030, 1, 21))  # ten school days with no progress
    await case.do("request_consent", RequestConsent(actor=OFFICER))
    return case


async def closed_in_error_then_reopened(world: World) -> CaseDriver:
    """Generation 5 on: decided not eligible by mistake, reopened by a supervisor within the window,
    then closed for good; the case ends when the window after its last closure does."""
    case = await _open(world, "MN-30-RPLY08")
    await case.do("decide", Decide(actor=OFFICER, outcome=DecisionOutcome.NOT_ELIGIBLE,
                                   reason="Expected back within the week"))
    await case.go_to(date(2030, 1, 9))
    await case.do("reopen", ReopenCase(actor=SUPERVISOR, reason="Decided on the wrong case"))
    await case.do("decide", Decide(actor=OFFICER, outcome=DecisionOutcome.LA_PROVISION, reason="GP letter held"))
    await case.do("close", CloseCase(actor=OFFICER, outcome=CloseOutcome.LEFT_AREA))
    await case.handle.result()
    return case


async def late_notification_with_half_days(world: World) -> CaseDriver:
    """Generation 5 on: notified after the 15-day point (overdue from the start), with half days."""
    await travel_to(world.env, date(2030, 2, 4), hour=8)
    missed = [date(2030, 1, d) for d in (7, 8, 9, 10, 11, 14, 15, 16, 17, 18, 21, 22, 23, 24, 25, 28)]
    opened = notification(date(2030, 1, 7), case_ref="MN-30-RPLY09", absence_days=missed)
    case = await world.open_case(opened.model_copy(update={"absence_half_days": [date(2030, 1, 29)]}))
    await case.do("record_absence_days", RecordAbsenceDays(actor=OFFICER, half_days=[date(2030, 1, 30)]))
    await case.go_to(date(2030, 2, 6))
    await case.do("request_consent", RequestConsent(actor=OFFICER))
    return case


# -- introduced at generation 4: the rarer turns a case's history can take --------------------------


async def continued_as_new_second_run(world: World) -> CaseDriver:
    """The second run of a case that continued as new mid-provision. The time-skipping server never
    suggests continue-as-new, so the recorder does what the workflow does at that point: the first
    run is driven to rest, and a run is started under the same id with the first run's input and its
    whole state carried (`OpenCase.carried_state`, as `workflow.continue_as_new` passes it). The
    first run is terminated just before, as its continuing as new would have closed it."""
    opened = notification(date(2030, 1, 7), case_ref="MN-30-RPLY08")
    await travel_to(world.env, date(2030, 1, 7), hour=8)
    first = await world.open_case(opened)
    await _to_provision(first, date(2030, 1, 21))
    await first.go_to(date(2030, 2, 25))
    carried = (await first.view()).state.model_dump(mode="json")
    await first.handle.terminate("continued as new (by tests/record_histories.py)")
    case = await world.open_case(opened.model_copy(update={"carried_state": carried}))
    await case.go_to(date(2030, 4, 1))  # the overdue review escalates; the spring term is charged
    await case.do("record_review_outcome", RecordReviewOutcome(
        actor=OFFICER, outcome=ReviewOutcome.CONTINUE, held_on=date(2030, 4, 1)))
    return case


async def read_model_write_failed_signal(world: World) -> CaseDriver:
    """The API answered a command but could not write the answer to the read model, and signals the
    case, which writes it itself at once."""
    case = await _open(world, "MN-30-RPLY09")
    await case.settle()
    view = await case.do("request_consent", RequestConsent(actor=OFFICER))
    await case.settle()
    await case.handle.signal(CaseWorkflow.read_model_write_failed, ReadModelWriteFailed(version=view.state.version))
    await case.settle()
    await case.do("add_note", AddNote(actor=OFFICER, text="Parent rang back"))
    return case


async def projection_failure_then_catch_up(world: World) -> CaseDriver:
    """The read-model database is unwritable (another connection holds its write lock) when the case
    checks its read model ten minutes after a command: `project_case` times out, and so does the retry
    30 s later; the database is writable again by the next retry, which catches up."""
    case = await _open(world, "MN-30-RPLY10")
    await case.settle()  # the case's first projection is written: the API writes the next ones
    await case.do("request_consent", RequestConsent(actor=OFFICER))
    await case.settle()  # the consent request is sent: nothing else needs the database
    with _write_locked(world.settings.database_url):
        await world.env.sleep(CHECK_CALLER_WRITE_AFTER + timedelta(seconds=1))  # the check is due
        await eventually(lambda: _timed_out(case, "project_case", 1), what="the check's write timing out")
        await world.env.sleep(RETRY_EVERY)
        await eventually(lambda: _timed_out(case, "project_case", 2), what="its retry timing out")
    await world.env.sleep(RETRY_EVERY + timedelta(seconds=1))  # the next retry writes it
    await case.settle()
    await case.do("add_note", AddNote(actor=OFFICER, text="Database back"))
    return case


async def email_unconfirmed_alert(world: World) -> CaseDriver:
    """The mail server takes the consent request and drops the connection before answering: nobody
    can know whether the parent got it, so it is not sent again and the case raises an
    `email_unconfirmed` alert. The officer goes on."""
    case = await _open(world, "MN-30-RPLY11")
    world.mail.hang_up_after_data("consent_request")
    await case.do("request_consent", RequestConsent(actor=OFFICER))
    await case.settle()
    assert [a.kind for a in (await case.view()).state.alerts] == ["email_unconfirmed"]
    await case.go_to(date(2030, 1, 9))
    await case.do("record_consent", RecordConsent(actor=OFFICER, decision=ConsentDecision.REFUSED))
    return case


async def retention_sweep(world: World) -> CaseDriver:
    """The daily retention sweep (`RetentionSweepWorkflow`, started as its schedule starts it, with no
    argument) erasing a closed case whose child is past the retention age (5 years here). On the dev
    server, in real time: deleting a case's histories describes its runs, and describing a case on the
    time-skipping server fails (its date-valued search attributes come back in a form the SDK cannot
    decode)."""
    case = await world.open_case(notification(recent_school_days(1)[0], case_ref="MN-30-RPLY12"))
    await case.do("close", CloseCase(actor=OFFICER, outcome=CloseOutcome.WITHDRAWN, reason="Family moved away"))
    await case.handle.result()  # closed, and the read model says so
    sweep = await world.env.client.start_workflow(RetentionSweepWorkflow.run, id=SWEEP_WORKFLOW_ID,
                                                  task_queue=world.task_queue)
    report = await sweep.result()
    assert (report.erased, report.skipped) == (1, 0), report
    return dataclasses.replace(case, handle=sweep)


@contextmanager
def _write_locked(database_url: str) -> Iterator[None]:
    """Hold the SQLite read model's write lock (as another process might), so no one else can write."""
    locker = sqlite3.connect(make_url(database_url).database, isolation_level=None)
    try:
        locker.execute("BEGIN EXCLUSIVE")
        yield
    finally:
        locker.execute("ROLLBACK")
        locker.close()


async def _timed_out(case: CaseDriver, activity_type: str, times: int) -> bool:
    """Whether `times` activities of `activity_type` (or, for `project_case`, of its successor
    `project_case_by_reference`) have timed out in the case's history."""
    names = {activity_type, f"{activity_type}_by_reference"}
    events = (await case.handle.fetch_history()).events
    scheduled = {e.event_id for e in events if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
                 and e.activity_task_scheduled_event_attributes.activity_type.name in names}
    return times <= sum(e.activity_task_timed_out_event_attributes.scheduled_event_id in scheduled for e in events
                        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT)


@dataclass(frozen=True)
class RecordedPath:
    """A path and the generation it was first recorded in (1: the unsuffixed `<path>.json`). The
    replay test checks that it has a file for every generation from that one to the latest."""

    drive: Callable[[World], Awaitable[CaseDriver]]
    introduced: int
    world: dict[str, Any] = field(default_factory=dict)  # `case_world` options: settings, dev server


def _paths(introduced: int, *drives: Callable[[World], Awaitable[CaseDriver]]) -> dict[str, RecordedPath]:
    return {d.__name__: RecordedPath(d, introduced) for d in drives}


PATHS: dict[str, RecordedPath] = {
    **_paths(
        1,
        full_case_to_full_time_return,
        consent_refused_then_not_eligible,
        hospital_admission_and_discharge,
        overdue_review_escalated,
        part_time_extended_three_times,
        school_change_mid_provision,
        stalled_case,
    ),
    **_paths(
        4,
        continued_as_new_second_run,
        read_model_write_failed_signal,
        projection_failure_then_catch_up,
        email_unconfirmed_alert,
    ),
    **_paths(5, closed_in_error_then_reopened, late_notification_with_half_days),
    **_paths(6, review_moved_then_case_closed),
    # Closures final (no reopening window), so the closed case's workflow ends at once, in real time.
    "retention_sweep": RecordedPath(retention_sweep, 4, {"retention_years_after_birth": 5, "dev_server": True,
                                                        "clocks": ClockSettings(reopen_within=0)}),
}


async def drive(name: str, as_the_api: bool = False) -> WorkflowHistory:
    """Drive one path in a fresh time-skipping world and return its history."""
    with tempfile.TemporaryDirectory() as tmp:
        async with case_world(Path(tmp), encryption_keys=HISTORY_TEST_KEY, **PATHS[name].world) as world:
            world.as_the_api = as_the_api
            case = await PATHS[name].drive(world)
            await case.settle()  # never a history that ends mid-task or with an activity still running
            return await case.handle.fetch_history()


def save(name: str, history: WorkflowHistory, out_dir: Path = HISTORIES, generation: str | None = None) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / (f"{name}@{generation}.json" if generation else f"{name}.json")
    target.write_text(history.to_json() + "\n", encoding="utf-8")
    return target


async def main(args: list[str]) -> int:
    generation = None
    if "--generation" in args:
        at = args.index("--generation")
        generation, args = args[at + 1], args[:at] + args[at + 2:]
    as_the_api = "--as-the-api" in args
    args = [a for a in args if a != "--as-the-api"]
    names = args
    unknown = sorted(set(names) - set(PATHS))
    if unknown:
        print(f"unknown path(s): {', '.join(unknown)}; known: {', '.join(PATHS)}", file=sys.stderr)
        return 2
    for name in names or list(PATHS):
        history = await drive(name, as_the_api)
        print(f"recorded {save(name, history, generation=generation)} ({len(history.events)} events)")
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main(sys.argv[1:])))
