"""Records the workflow histories that tests/test_replay.py replays against the current CaseWorkflow.

    .venv/bin/python -m tests.record_histories            # every path
    .venv/bin/python -m tests.record_histories stalled_case ...   # just these
    .venv/bin/python -m tests.record_histories --generation 2 ...   # beside the old: <path>@2.json
    .venv/bin/python -m tests.record_histories --generation 3 --as-the-api   # commands sent as the API
                                                                             # sends them (generation 3)

Each path drives a real case on the time-skipping server (tests/case_harness.py, real activities)
and saves its history, finished or mid-life, as tests/histories/<path>.json (or <path>@<generation>.json:
after a patched change, record a new generation beside the old files, so the replay test covers the
cases that ran the old code and those that run the new). Re-record in place only when a
change to the workflow is meant to be incompatible AND no case that ran the old code is still
open; otherwise keep the old files: they are what running cases look like (see README, "Changing
workflow code safely").

The payloads in the histories are encrypted, as they are on the server, with HISTORY_TEST_KEY below.
That key is NOT a secret and protects nothing: it is a fixed test-only key, committed so that the
replay test can decode the recorded payloads. The recorded cases are fictional test data.
"""

import asyncio
import sys
import tempfile
from collections.abc import Awaitable, Callable
from datetime import date
from decimal import Decimal
from pathlib import Path

from temporalio.client import WorkflowHistory

from domain.case_commands import (
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
    RecordConsent,
    RecordEvidence,
    RecordHospitalAdmission,
    RecordHospitalDischarge,
    RecordReviewOutcome,
    RequestConsent,
    RequestEvidence,
    ReviewOutcome,
    ScheduleReview,
)
from domain.people import HealthProfessional, ProfessionalRole
from domain.provision import Provision, ProvisionKind
from tests.case_harness import (
    CONSULTANT_EMAIL,
    OFFICER,
    CaseDriver,
    World,
    case_world,
    notification,
    travel_to,
)

# Test-only, deliberately public: 32 ASCII bytes, base64-encoded. Never use it for real data.
HISTORY_TEST_KEY = "history-test:aGlzdG9yeS10ZXN0LWtleS1ub3QtYS1zZWNyZXQhISE="
HISTORIES = Path(__file__).parent / "histories"

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


PATHS: dict[str, Callable[[World], Awaitable[CaseDriver]]] = {
    path.__name__: path
    for path in (
        full_case_to_full_time_return,
        consent_refused_then_not_eligible,
        hospital_admission_and_discharge,
        overdue_review_escalated,
        part_time_extended_three_times,
        school_change_mid_provision,
        stalled_case,
        review_moved_then_case_closed,
    )
}


async def drive(name: str, as_the_api: bool = False) -> WorkflowHistory:
    """Drive one path in a fresh time-skipping world and return its history."""
    with tempfile.TemporaryDirectory() as tmp:
        async with case_world(Path(tmp), encryption_keys=HISTORY_TEST_KEY) as world:
            world.as_the_api = as_the_api
            case = await PATHS[name](world)
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
