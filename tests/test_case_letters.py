"""Letters and invites as people receive them from a real case (issue 12): on the time-skipping server with
the real activities and a real SMTP server, on the test calendar (spring 2030: 7 Jan - 29 Mar, half-term
18-22 Feb)."""

from datetime import date
from decimal import Decimal

from icalendar import Calendar
from sqlmodel import select

from domain.case_commands import (
    AgreeReintegrationPlan,
    CloseCase,
    CloseOutcome,
    CommissionProvision,
    ConsentDecision,
    Decide,
    DecisionOutcome,
    ExtendReintegration,
    RecordConsent,
    RequestConsent,
    RequestEvidence,
    ScheduleReview,
)
from domain.people import HealthProfessional, ProfessionalRole
from domain.provision import Provision, ProvisionKind
from readmodel.tables import DocumentRow
from tests.case_harness import CONSULTANT_EMAIL, OFFICER, PARENT_EMAIL, case_world, notification, travel_to

OFFICERS = {"officer-jb": {"name": "Jo Bloggs", "email": "jo.bloggs@council.example.gov.uk",
                           "phone": "0116 305 0000"}}
SCHOOL_OFFICE = "office.120001@schools.example.org"
CONSULTANT = HealthProfessional(id="consultant-1", name="Dr A Consultant", role=ProfessionalRole.CONSULTANT,
                                email=CONSULTANT_EMAIL)


def tuition(start: date) -> list[Provision]:
    return [Provision(kind=ProvisionKind.HOME_TUITION, provider="County tuition", hours_per_week=Decimal(25),
                      start_date=start, weekly_cost=Decimal("500.00"))]


def body(message) -> str:
    part = next(p for p in message.walk() if p.get_content_type() == "text/plain")
    return part.get_payload(decode=True).decode("utf-8")


def event_of(message):
    part = next(p for p in message.walk() if p.get_content_type() == "text/calendar")
    calendar = Calendar.from_ical(part.get_payload(decode=True))
    [event] = calendar.walk("VEVENT")
    return str(calendar["METHOD"]), event


def to(messages, address):
    return [m for m in messages if address in m["X-Envelope-To"]]


async def test_a_case_tells_each_person_what_is_theirs_to_know(tmp_path):
    async with case_world(tmp_path, officers=OFFICERS) as world:
        await travel_to(world.env, date(2030, 1, 7))
        case = await world.open_case(notification(date(2030, 1, 7)))
        await case.do("request_consent", RequestConsent(actor=OFFICER))
        await case.do("record_consent", RecordConsent(actor=OFFICER, decision=ConsentDecision.GRANTED,
                                                      professionals=[CONSULTANT]))
        await case.do("request_evidence", RequestEvidence(actor=OFFICER, professional_ids=["consultant-1"]))
        await case.do("decide", Decide(actor=OFFICER, outcome=DecisionOutcome.LA_PROVISION,
                                       reason="Consultant confirms absence for the spring term"))
        await case.do("commission_provision", CommissionProvision(actor=OFFICER, officer="officer-jb",
                                                                  provisions=tuition(date(2030, 1, 21))))
        await case.settle()

        # The professional can identify the patient.
        [request] = to(world.mail.with_subject("request for health information"), CONSULTANT_EMAIL)
        assert "Amelia Testcase" in body(request) and "14 May 2018" in body(request)

        # The parent's letter gives the reasons and how to challenge; the school gets its own notice.
        decision = world.mail.with_subject("decision")
        assert sorted(m["X-Envelope-To"] for m in decision) == sorted([PARENT_EMAIL, SCHOOL_OFFICE])
        [letter] = to(decision, PARENT_EMAIL)
        assert "Consultant confirms absence for the spring term" in body(letter)
        assert "complaints" in body(letter) and "Local Government and Social Care Ombudsman" in body(letter)
        [notice] = to(decision, SCHOOL_OFFICE)
        assert "your child" not in body(notice).lower() and "Consultant confirms" not in body(notice)

        # The named officer by name and contact details, not by login.
        [assigned] = world.mail.with_subject("your named education officer")
        assert "Jo Bloggs" in body(assigned) and "0116 305 0000" in body(assigned)
        assert "officer-jb" not in body(assigned)

        # A TAS review scheduled, moved, then the case closed: one meeting, three versions.
        await case.do("schedule_review", ScheduleReview(actor=OFFICER, on=date(2030, 2, 4)))
        await case.do("schedule_review", ScheduleReview(actor=OFFICER, on=date(2030, 2, 5)))
        await case.do("close", CloseCase(actor=OFFICER, outcome=CloseOutcome.LEFT_AREA, reason="Family moved"))
        await case.handle.result()
        first, moved = world.mail.with_subject("invitation to a Team Around School review")
        assert "moved from Monday 4 February 2030" in body(moved).replace("\r\n", " ").replace("  ", " ")
        [cancelled] = world.mail.with_subject("review cancelled")
        versions = [event_of(m) for m in (first, moved, cancelled)]
        assert [(method, int(e["SEQUENCE"])) for method, e in versions] == [("REQUEST", 0), ("REQUEST", 1),
                                                                            ("CANCEL", 2)]
        assert len({str(e["UID"]) for _, e in versions}) == 1
        attendees = {str(a).removeprefix("mailto:") for a in versions[0][1].get("ATTENDEE")}
        assert attendees == {PARENT_EMAIL, SCHOOL_OFFICE, "jo.bloggs@council.example.gov.uk"}
        assert cancelled["X-Envelope-To"] == moved["X-Envelope-To"]


async def test_the_part_time_ending_email_comes_near_each_end_and_an_extension_rewrites_the_plan(tmp_path):
    async with case_world(tmp_path, officers=OFFICERS) as world:
        await travel_to(world.env, date(2030, 1, 7))
        case = await world.open_case(notification(date(2030, 1, 7)))
        await case.do("request_consent", RequestConsent(actor=OFFICER))
        await case.do("record_consent", RecordConsent(actor=OFFICER, decision=ConsentDecision.REFUSED))
        await case.do("decide", Decide(actor=OFFICER, outcome=DecisionOutcome.LA_PROVISION, reason="GP letter held"))
        await case.do("commission_provision", CommissionProvision(actor=OFFICER, officer="officer-jb",
                                                                  provisions=tuition(date(2030, 1, 21))))
        view = await case.do("agree_reintegration_plan", AgreeReintegrationPlan(
            actor=OFFICER, start_date=date(2030, 1, 22), end_date=date(2030, 2, 8), hours_per_week=12))
        first_plan = view.state.reintegration.plan_document_ref
        await case.settle()
        assert to(world.mail.with_subject("part-time timetable ending"), PARENT_EMAIL) == []

        # Three school days before the end (the reminder setting): parent, school and officer, once.
        await case.go_to(date(2030, 2, 5))
        [near_end] = world.mail.with_subject("part-time timetable ending")
        assert PARENT_EMAIL in near_end["X-Envelope-To"] and SCHOOL_OFFICE in near_end["X-Envelope-To"]

        view = await case.do("extend_reintegration", ExtendReintegration(
            actor=OFFICER, new_end_date=date(2030, 3, 1), reason="Fatigue after treatment"))
        assert view.state.reintegration.plan_document_ref not in (None, first_plan)
        await case.go_to(date(2030, 3, 4))
        endings = world.mail.with_subject("part-time timetable ending")
        to_parent = to(endings, PARENT_EMAIL)
        assert len(to_parent) == 2  # one near each end date: 8 February, then 1 March
        # On the end day, only the officer is told (8 February never came: the plan was extended first).
        assert [m["X-Envelope-To"] for m in endings if m not in to_parent] == ["jo.bloggs@council.example.gov.uk"]
        with case.read_model() as session:
            plans = session.exec(select(DocumentRow).where(DocumentRow.case_ref == case.handle.id,
                                                           DocumentRow.kind == "reintegration_plan")).all()
        assert len(plans) == 2
