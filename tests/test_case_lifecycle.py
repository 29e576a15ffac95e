"""A whole case, from the school's notification to the child's full-time return, on the time-skipping
server with the real activities. Dates are concrete: the test calendar (tests/data/test_terms.toml)
puts spring term 2030 at 7 Jan - 29 Mar with half-term 18-22 Feb."""

from datetime import date
from decimal import Decimal

from domain.case_commands import (
    AgreeReintegrationPlan,
    CommissionProvision,
    ConfirmFullTimeReturn,
    ConsentDecision,
    Decide,
    DecisionOutcome,
    EvidenceKind,
    RecordConsent,
    RecordEvidence,
    RecordReviewOutcome,
    RequestConsent,
    RequestEvidence,
    ReviewOutcome,
)
from domain.case_state import ConsentStatus
from domain.people import HealthProfessional, ProfessionalRole
from domain.provision import Provision, ProvisionKind
from domain.stages import Stage
from tests.case_harness import CONSULTANT_EMAIL, OFFICER, PARENT_EMAIL, case_world, notification, travel_to

CONSULTANT = HealthProfessional(id="consultant-1", name="Dr A Consultant", role=ProfessionalRole.CONSULTANT,
                                email=CONSULTANT_EMAIL)
LETTER = "doc-" + "a" * 64


async def test_full_case_from_notification_to_full_time_return(tmp_path):
    async with case_world(tmp_path) as world:
        await travel_to(world.env, date(2030, 1, 7), hour=8)
        case = await world.open_case(notification(date(2030, 1, 7)))

        view = await case.view()
        assert view.state.stage is Stage.NOTIFIED
        # Open-ended absence from Monday 7 Jan: the 15th school day is Friday 25 Jan.
        assert view.state.threshold_date == date(2030, 1, 25)
        # The statutory deadline shows from the start: provision by the 15th school day.
        assert [(t.id, t.due_on) for t in view.pending_tasks] == [("request-consent", date(2030, 1, 8)),
                                                                  ("provision-due", date(2030, 1, 25))]

        view = await case.do("request_consent", RequestConsent(actor=OFFICER))
        assert view.state.stage is Stage.AWAITING_CONSENT
        assert [t.id for t in view.pending_tasks] == ["reply-to-consent", "follow-up-consent", "provision-due"]

        # Three school days later the parent is reminded.
        await case.go_to(date(2030, 1, 10))
        subjects = world.mail.subjects_to(PARENT_EMAIL)
        assert len(world.mail.with_subject("consent")) == 2, subjects
        assert all(view.state.case_ref in s for s in subjects)

        view = await case.do("record_consent", RecordConsent(actor=OFFICER, decision=ConsentDecision.GRANTED,
                                                             professionals=[CONSULTANT]))
        assert view.state.consent is ConsentStatus.GRANTED
        assert view.state.stage is Stage.GATHERING_EVIDENCE
        await case.do("request_evidence", RequestEvidence(actor=OFFICER, professional_ids=["consultant-1"]))

        # The consultant is chased after five school days: Thursday 17 Jan.
        await case.go_to(date(2030, 1, 16))
        assert len(world.mail.subjects_to(CONSULTANT_EMAIL)) == 1
        await case.go_to(date(2030, 1, 17))
        assert len(world.mail.subjects_to(CONSULTANT_EMAIL)) == 2

        view = await case.do("record_evidence", RecordEvidence(actor=OFFICER, document_ref=LETTER,
                                                               kind=EvidenceKind.CONSULTANT_LETTER,
                                                               professional_id="consultant-1"))
        assert view.state.stage is Stage.DECIDING
        assert [(t.id, t.due_on) for t in view.pending_tasks] == [("decide", date(2030, 1, 24)),
                                                                  ("provision-due", date(2030, 1, 25))]

        view = await case.do("decide", Decide(actor=OFFICER, outcome=DecisionOutcome.LA_PROVISION,
                                              reason="Consultant confirms absence for the spring term"))
        assert view.state.stage is Stage.COMMISSIONING
        # Provision is due by the school day on which the 15th day of absence falls.
        assert ("commission-provision", date(2030, 1, 25)) in [(t.id, t.due_on) for t in view.pending_tasks]

        await case.go_to(date(2030, 1, 21))
        view = await case.do("commission_provision", CommissionProvision(
            actor=OFFICER,
            officer="officer-jb",
            provisions=[
                Provision(kind=ProvisionKind.HOME_TUITION, provider="County tuition", hours_per_week=Decimal(10),
                          start_date=date(2030, 1, 21), weekly_cost=Decimal("450.00")),
                Provision(kind=ProvisionKind.VIRTUAL_SCHOOL, provider="Virtual school", hours_per_week=Decimal(15),
                          start_date=date(2030, 1, 21), weekly_cost=Decimal("300.00")),
            ],
        ))
        assert view.state.stage is Stage.IN_PROVISION
        assert view.state.officer == "officer-jb"
        # First TAS review 6 school weeks (30 school days) after provision starts, over half-term.
        assert [(t.id, t.due_on) for t in view.pending_tasks] == [("hold-review-1", date(2030, 3, 11))]

        # Reminder five school days before: Monday 4 March. Nobody has scheduled the meeting, so it
        # carries no calendar invite (an invite is sent when the review is scheduled: test_case_letters).
        await case.go_to(date(2030, 3, 4))
        reminders = world.mail.with_subject("review")
        assert reminders, [m["Subject"] for m in world.mail.messages]
        assert not [p for p in reminders[-1].walk() if p.get_content_type() == "text/calendar"]
        text = next(p for p in reminders[-1].walk() if p.get_content_type() == "text/plain")
        assert b"11 March 2030" in text.get_payload(decode=True)

        await case.go_to(date(2030, 3, 11))
        view = await case.do("record_review_outcome", RecordReviewOutcome(
            actor=OFFICER, outcome=ReviewOutcome.START_REINTEGRATION, held_on=date(2030, 3, 11)))
        assert view.state.stage is Stage.REINTEGRATING
        view = await case.do("agree_reintegration_plan", AgreeReintegrationPlan(
            actor=OFFICER, start_date=date(2030, 3, 12), end_date=date(2030, 3, 29), hours_per_week=15))
        assert view.state.reintegration.plan_document_ref.startswith("doc-")
        assert ("confirm-return", date(2030, 3, 29)) in [(t.id, t.due_on) for t in view.pending_tasks]

        # Spring term ends on Friday 29 March; its recoupment is charged the day after.
        await case.go_to(date(2030, 4, 1))
        ledger = case.ledger()
        assert [(e.school_urn, e.period, e.from_date, e.to_date, e.school_days) for e in ledger] == [
            ("120001", "2029-30 spring", date(2030, 1, 21), date(2030, 3, 29), 45)
        ]
        # KS3 (aged 11 on 31 August 2029): £6,985 a year over the 188 school days of 2029-30 in the
        # test calendar is £37.15 a day.
        assert ledger[0].amount == Decimal("37.15") * 45

        await case.go_to(date(2030, 4, 23))
        view = await case.do("confirm_full_time_return", ConfirmFullTimeReturn(actor=OFFICER,
                                                                               returned_on=date(2030, 4, 23)))
        assert view.state.stage is Stage.CLOSED
        result = await case.handle.result()
        assert result.outcome == "returned_full_time"
        assert Decimal(result.recoupment_total) == Decimal("1671.75")
        # Nothing more to charge: between 30 March and the return there are no school days.
        assert len(case.ledger()) == 1
