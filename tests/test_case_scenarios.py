"""Real scenarios on the time-skipping server, each asserting outcomes and dates on the test calendar
(spring 2030: 7 Jan - 29 Mar, half-term 18-22 Feb; autumn 2029 ends Thursday 20 Dec)."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from activities.email import message_id_for
from domain import search_attributes as sa
from domain.case_commands import (
    AgreeReintegrationPlan,
    ChangeSchool,
    CommissionProvision,
    ConsentDecision,
    Decide,
    DecisionOutcome,
    ExtendReintegration,
    RecordAbsenceDays,
    RecordConsent,
    RecordHospitalAdmission,
    RecordHospitalDischarge,
    RecordReviewOutcome,
    RequestConsent,
    ReviewOutcome,
)
from domain.provision import Provision, ProvisionKind
from domain.stages import Stage
from readmodel.database import make_engine, session_scope
from readmodel.tables import SentEmail
from tests.case_harness import OFFICER, PARENT_EMAIL, CaseDriver, case_world, notification, travel_to
from tests.support import eventually

SUPERVISORS = "inclusion-supervisors@council.example.gov.uk"


def tuition(start: date, hours: int = 25) -> list[Provision]:
    return [Provision(kind=ProvisionKind.HOME_TUITION, provider="County tuition", hours_per_week=Decimal(hours),
                      start_date=start, weekly_cost=Decimal("500.00"))]


async def to_provision(case: CaseDriver, start: date):
    """Consent refused, decide on the evidence held, commission full-time tuition to start on `start`
    (commissioned at once, as an officer would, so the case never sits idle long enough to stall)."""
    await case.do("request_consent", RequestConsent(actor=OFFICER))
    await case.do("record_consent", RecordConsent(actor=OFFICER, decision=ConsentDecision.REFUSED))
    await case.do("decide", Decide(actor=OFFICER, outcome=DecisionOutcome.LA_PROVISION, reason="GP letter held"))
    return await case.do("commission_provision", CommissionProvision(actor=OFFICER, officer="officer-jb",
                                                                     provisions=tuition(start)))


async def test_cumulative_absences_across_christmas_reach_the_threshold(tmp_path):
    async with case_world(tmp_path) as world:
        await travel_to(world.env, date(2029, 12, 14), hour=15)
        autumn = [date(2029, 12, d) for d in (3, 4, 5, 6, 7, 10, 11, 12, 13, 14)]
        case = await world.open_case(notification(date(2029, 12, 3), expected_return=date(2029, 12, 17),
                                                  absence_days=autumn))
        view = await case.view()
        assert view.state.threshold_date is None  # ten days: not the LA's yet

        # Back after Christmas, off again from Monday 7 January, expected back Monday 14 January.
        await case.go_to(date(2030, 1, 8))
        view = await case.do("record_absence_days", RecordAbsenceDays(actor=OFFICER, days=[date(2030, 1, 7)],
                                                                      expected_return=date(2030, 1, 14)))
        # 10 + 7 Jan + 8-11 Jan projected = 15: the 15th day is Friday 11 January.
        assert view.state.threshold_date == date(2030, 1, 11)
        assert "15-day point 2030-01-11" in view.state.timeline[-1].summary


async def test_refused_consent_does_not_stall_the_case(tmp_path):
    async with case_world(tmp_path) as world:
        await travel_to(world.env, date(2030, 1, 7))
        case = await world.open_case(notification(date(2030, 1, 7)))
        await case.do("request_consent", RequestConsent(actor=OFFICER))
        await case.go_to(date(2030, 1, 9))
        view = await case.do("record_consent", RecordConsent(actor=OFFICER, decision=ConsentDecision.REFUSED))
        assert view.state.stage is Stage.DECIDING
        assert [(t.id, t.due_on) for t in view.pending_tasks] == [("decide", date(2030, 1, 16)),
                                                                  ("provision-due", date(2030, 1, 25))]
        # No reminders are sent for a refused request.
        await case.go_to(date(2030, 1, 14))
        assert not world.mail.with_subject("reminder")
        view = await case.do("decide", Decide(actor=OFFICER, outcome=DecisionOutcome.LA_PROVISION,
                                              reason="Hospital appointment letters held"))
        assert view.state.stage is Stage.COMMISSIONING


async def test_not_eligible_closes_the_case_with_a_decision_letter(tmp_path):
    async with case_world(tmp_path) as world:
        await travel_to(world.env, date(2030, 1, 7))
        case = await world.open_case(notification(date(2030, 1, 7), expected_return=date(2030, 1, 10)))
        view = await case.do("decide", Decide(actor=OFFICER, outcome=DecisionOutcome.NOT_ELIGIBLE,
                                              reason="Expected back within the week"))
        assert view.state.stage is Stage.CLOSED
        assert view.state.threshold_date is None
        result = await case.handle.result()
        assert result.outcome == "not_eligible" and result.recoupment_total == "0"
        letters = world.mail.with_subject("decision")
        assert len(letters) == 1
        assert PARENT_EMAIL in letters[0]["X-Envelope-To"]
        assert "office.120001@schools.example.org" in letters[0]["X-Envelope-To"]


async def test_hospital_admission_raises_a_referral_then_discharge_clears_it(tmp_path):
    async with case_world(tmp_path) as world:
        await travel_to(world.env, date(2030, 1, 7))
        case = await world.open_case(notification(date(2030, 1, 7)))
        await case.do("request_consent", RequestConsent(actor=OFFICER))
        view = await case.do("record_hospital_admission", RecordHospitalAdmission(
            actor=OFFICER, admitted_on=date(2030, 1, 7), hospital="Leicester Royal Infirmary"))
        # A referral is due when the child cannot return within 15 school days of admission.
        assert ("hospital-referral", date(2030, 1, 28)) in [(t.id, t.due_on) for t in view.pending_tasks]
        await case.go_to(date(2030, 1, 28))
        view = await case.view()
        assert [a.kind for a in view.state.alerts if a.kind == "hospital_referral_due"] == ["hospital_referral_due"]
        assert world.mail.subjects_to(SUPERVISORS)
        view = await case.do("record_hospital_discharge", RecordHospitalDischarge(
            actor=OFFICER, discharged_on=date(2030, 1, 28)))
        assert not view.state.in_hospital
        assert "hospital-referral" not in [t.id for t in view.pending_tasks]
        assert "after 15 school day(s)" in view.state.timeline[-1].summary


async def test_overdue_review_is_marked_then_escalated(tmp_path):
    async with case_world(tmp_path) as world:
        await travel_to(world.env, date(2030, 1, 7))
        case = await world.open_case(notification(date(2030, 1, 7)))
        view = await to_provision(case, date(2030, 1, 21))
        assert [(t.id, t.due_on) for t in view.pending_tasks] == [("hold-review-1", date(2030, 3, 11))]

        await case.go_to(date(2030, 3, 12))
        view = await case.view()
        assert view.overdue and view.pending_tasks[0].overdue and not view.pending_tasks[0].escalated
        described = await case.handle.describe()
        assert described.typed_search_attributes.get(sa.OVERDUE) is True
        assert described.typed_search_attributes.get(sa.CASE_STAGE) == "in_provision"

        # Escalated to supervisors five school days after it fell due: Monday 18 March.
        await case.go_to(date(2030, 3, 15))
        assert not [a for a in (await case.view()).state.alerts if a.kind == "review_overdue"]
        await case.go_to(date(2030, 3, 18))
        view = await case.view()
        assert [a.raised_on for a in view.state.alerts if a.kind == "review_overdue"] == [date(2030, 3, 18)]
        assert view.pending_tasks[0].escalated
        assert any("review overdue" in s for s in world.mail.subjects_to(SUPERVISORS))

        # Holding the review clears it and sets the next one six school weeks on.
        view = await case.do("record_review_outcome", RecordReviewOutcome(
            actor=OFFICER, outcome=ReviewOutcome.CONTINUE, held_on=date(2030, 3, 18)))
        assert not view.overdue
        assert view.pending_tasks[0].id == "hold-review-2"


async def test_part_time_timetable_extended_twice_then_supervisors_alerted(tmp_path):
    async with case_world(tmp_path) as world:
        await travel_to(world.env, date(2030, 1, 7))
        case = await world.open_case(notification(date(2030, 1, 7)))
        await to_provision(case, date(2030, 1, 21))
        view = await case.do("agree_reintegration_plan", AgreeReintegrationPlan(
            actor=OFFICER, start_date=date(2030, 1, 22), end_date=date(2030, 2, 1), hours_per_week=12))
        assert view.state.stage is Stage.REINTEGRATING

        # Reminder three school days before the end date, then a task on the day.
        await case.go_to(date(2030, 1, 29))
        assert world.mail.with_subject("part-time")
        for n, end in enumerate([date(2030, 2, 8), date(2030, 2, 15)], start=1):
            view = await case.do("extend_reintegration", ExtendReintegration(
                actor=OFFICER, new_end_date=end, reason="Fatigue after treatment"))
            assert len(view.state.reintegration.extensions) == n
            assert not view.state.alerts
        view = await case.do("extend_reintegration", ExtendReintegration(
            actor=OFFICER, new_end_date=date(2030, 3, 1), reason="Further surgery"))
        assert [a.kind for a in view.state.alerts] == ["part_time_extended"]
        assert view.state.reintegration.original_end_date == date(2030, 2, 1)
        assert ("confirm-return", date(2030, 3, 1)) in [(t.id, t.due_on) for t in view.pending_tasks]

        with pytest.raises(WorkflowUpdateFailedError) as failed:
            await case.do("extend_reintegration", ExtendReintegration(
                actor=OFFICER, new_end_date=date(2030, 2, 20), reason="Shorter"))
        assert isinstance(failed.value.cause, ApplicationError)
        assert failed.value.cause.type == "InvalidCommand"


async def test_case_with_no_progress_is_marked_stalled(tmp_path):
    async with case_world(tmp_path) as world:
        await travel_to(world.env, date(2030, 1, 7))
        case = await world.open_case(notification(date(2030, 1, 7)))
        await case.go_to(date(2030, 1, 18))
        assert not (await case.view()).state.stalled
        # Ten school days without recorded progress: Monday 21 January.
        await case.go_to(date(2030, 1, 21))
        view = await case.view()
        assert view.state.stalled
        assert [a.kind for a in view.state.alerts] == ["stalled"]
        assert (await case.handle.describe()).typed_search_attributes.get(sa.STALLED) is True
        view = await case.do("request_consent", RequestConsent(actor=OFFICER))
        assert not view.state.stalled and view.state.last_progress_on == date(2030, 1, 21)


async def test_school_change_mid_provision_moves_the_recoupment(tmp_path):
    async with case_world(tmp_path) as world:
        await travel_to(world.env, date(2030, 1, 7))
        case = await world.open_case(notification(date(2030, 1, 7)))
        await to_provision(case, date(2030, 1, 21))
        await case.go_to(date(2030, 2, 25))
        view = await case.do("change_school", ChangeSchool(actor=OFFICER, new_school_urn="120002",
                                                           effective_on=date(2030, 2, 25)))
        assert view.state.school_urn == "120002"
        await case.go_to(date(2030, 4, 1))
        ledger = case.ledger()
        assert [(e.school_urn, e.from_date, e.to_date, e.school_days) for e in ledger] == [
            ("120001", date(2030, 1, 21), date(2030, 2, 24), 20),
            ("120002", date(2030, 2, 25), date(2030, 3, 29), 25),
        ]
        # KS3 daily rate: 6985.00 / the 188 school days of 2029-30 in the test calendar = 37.15.
        assert sum(e.amount for e in ledger) == Decimal("37.15") * 45


async def test_an_email_a_dead_worker_was_handing_over_is_raised_on_the_case_not_sent_again(tmp_path):
    """A worker killed while the mail server was receiving the consent request leaves its record
    `handing_over`: nobody can know whether the parent got it, so it is not sent a second time and
    the case carries an alert for the officer to check with the parent. The case goes on."""
    async with case_world(tmp_path) as world:
        await travel_to(world.env, date(2030, 1, 7))
        case = await world.open_case(notification(date(2030, 1, 7)))
        state = (await case.view()).state
        key = f"{state.case_ref}:{len(state.timeline) + 1}:consent-request"  # domain.case_transitions._key
        with session_scope(make_engine(world.settings.database_url)) as session:
            session.add(SentEmail(idempotency_key=key, case_ref=state.case_ref, template="consent_request",
                                  message_id=message_id_for(key), via="smtp", status="handing_over",
                                  attempt_token="killed-worker", status_changed_at=datetime.now(UTC) - timedelta(hours=1)))

        await case.do("request_consent", RequestConsent(actor=OFFICER))
        async def alerts_raised() -> list:
            return (await case.view()).state.alerts

        alerts = await eventually(alerts_raised, timeout=5, what="an alert on the case")
        assert [a.kind for a in alerts] == ["email_unconfirmed"]
        assert alerts[0].detail.startswith("consent_request may not have arrived")
        assert PARENT_EMAIL not in alerts[0].detail
        assert world.mail.subjects_to(PARENT_EMAIL) == []
        view = await case.do("record_consent", RecordConsent(actor=OFFICER, decision=ConsentDecision.REFUSED))
        assert view.state.stage is Stage.DECIDING
