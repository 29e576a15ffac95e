"""Letters as people receive them (issue 12, "Letters and invites"), through a real SMTP server: the
named officer by name with their contact details (the officer directory), the decision letter's reasons
and how to challenge it, the school's own notice, an evidence request that identifies the patient, and
TAS invitations in RFC 5546 terms (ATTENDEE lines, SEQUENCE, METHOD:CANCEL)."""

import pytest
from icalendar import Calendar
from temporalio.testing import ActivityEnvironment

from activities.documents import render_document
from activities.email import EmailActivities
from domain.document_models import GeneratedDocument
from domain.email_models import EmailRequest, EmailTemplate, MailRecipient, RecipientRole
from tests.email_activities.mail_support import (
    CASE,
    CHILD_NAME,
    PARENT,
    body_of,
    context,
    make_settings,
    review_invitation,
)

OFFICERS = {"officer-jb": {"name": "Jo Bloggs", "email": "jo.bloggs@council.example.gov.uk",
                           "phone": "0116 305 0000"}}
COMPLAINTS = "the council's complaints procedure: www.council.example.gov.uk/complaints, 0116 305 1111"


@pytest.fixture
def activities(tmp_path, smtp_server, engine):
    controller, _ = smtp_server
    settings = make_settings(tmp_path, smtp_host="127.0.0.1", smtp_port=controller.port, officers=OFFICERS,
                             complaints_route=COMPLAINTS)
    return EmailActivities(settings, engine=engine)


def request(template: EmailTemplate, recipients: list[MailRecipient], key: str, **values: str) -> EmailRequest:
    return EmailRequest(idempotency_key=key, case_ref=CASE, template=template, recipients=recipients,
                        context=context(**values))


PARENT_TO = MailRecipient(role=RecipientRole.PARENT, address=PARENT)
SCHOOL_TO = MailRecipient(role=RecipientRole.SCHOOL, ref="123456")


async def send(activities, smtp_server, mail: EmailRequest):
    _, handler = smtp_server
    await ActivityEnvironment().run(activities.send_email, mail)
    return handler.messages[-1]


# --- the named officer ------------------------------------------------------------------------------


async def test_parents_are_told_the_officers_name_and_how_to_reach_them(activities, smtp_server):
    mail = request(EmailTemplate.OFFICER_ASSIGNED, [PARENT_TO], "officer-known",
                   officer="officer-jb", officer_ref="officer-jb")
    _, rcpts, message = await send(activities, smtp_server, mail)
    body = body_of(message)
    assert "Jo Bloggs" in body
    assert "jo.bloggs@council.example.gov.uk" in body and "0116 305 0000" in body
    assert "officer-jb" not in body
    assert rcpts == [PARENT]


async def test_an_officer_missing_from_the_directory_is_named_by_login_and_mailbox(activities, smtp_server):
    mail = request(EmailTemplate.OFFICER_ASSIGNED, [PARENT_TO], "officer-unknown",
                   officer="officer-kp", officer_ref="officer-kp")
    _, _, message = await send(activities, smtp_server, mail)
    body = body_of(message)
    assert "officer-kp" in body and "officer-kp@council.example.gov.uk" in body


async def test_mail_for_an_officer_goes_to_their_directory_address(activities, smtp_server):
    mail = request(EmailTemplate.CONSENT_FOLLOW_UP, [MailRecipient(role=RecipientRole.OFFICER, ref="officer-jb")],
                   "officer-mailbox", officer="officer-jb", officer_ref="officer-jb")
    _, rcpts, _ = await send(activities, smtp_server, mail)
    assert rcpts == ["jo.bloggs@council.example.gov.uk"]


def test_a_request_built_before_the_directory_still_names_the_officer(tmp_path):
    """A request already in a workflow's history names the officer by login in `officer` only."""
    from activities.mail_directory import filled_context

    settings = make_settings(tmp_path, officers=OFFICERS)
    old = request(EmailTemplate.OFFICER_ASSIGNED, [PARENT_TO], "old", officer="officer-jb")
    assert "officer_ref" not in old.context
    filled = filled_context(old, settings)
    assert (filled["officer"], filled["officer_contact"]) == (
        "Jo Bloggs", "email at jo.bloggs@council.example.gov.uk or telephone on 0116 305 0000")
    unassigned = request(EmailTemplate.DECISION_NOTICE_SCHOOL, [SCHOOL_TO], "none", officer="to be assigned")
    assert filled_context(unassigned, settings)["officer"] == "to be assigned"


def test_the_plan_document_names_the_officer_with_their_contact_details(tmp_path):
    settings = make_settings(tmp_path, officers=OFFICERS)
    doc = GeneratedDocument(case_ref=CASE, kind="reintegration_plan", title=f"Reintegration plan {CASE}",
                            body="Part-time timetable.\n", officer_ref="officer-jb")
    text = render_document(doc, settings).decode()
    assert "Named education officer: Jo Bloggs (jo.bloggs@council.example.gov.uk, 0116 305 0000)" in text
    assert "officer-jb" not in text


# --- the decision -----------------------------------------------------------------------------------


async def test_the_decision_letter_gives_the_reasons_and_how_to_challenge_it(activities, smtp_server):
    detail = ("The local authority will arrange education for your child.\n\n"
              "The reasons for our decision: the consultant's letter confirms a long absence")
    mail = request(EmailTemplate.DECISION_LETTER, [PARENT_TO], "decision-parent", detail=detail)
    _, _, message = await send(activities, smtp_server, mail)
    body = body_of(message)
    assert "the consultant's letter confirms a long absence" in body
    assert COMPLAINTS in body
    assert "Local Government and Social Care Ombudsman" in body


async def test_the_school_gets_its_own_notice_not_the_parents_letter(activities, smtp_server):
    mail = request(EmailTemplate.DECISION_NOTICE_SCHOOL, [SCHOOL_TO], "decision-school",
                   detail="The school is asked to provide work for this pupil.")
    _, rcpts, message = await send(activities, smtp_server, mail)
    body = body_of(message)
    assert rcpts == ["office.123456@schools.example.org"]
    assert CHILD_NAME in body and "provide work for this pupil" in body
    assert "your child" not in body.lower() and "Dear Mrs Hartley" not in body


# --- evidence requests ------------------------------------------------------------------------------


@pytest.mark.parametrize("template", [EmailTemplate.EVIDENCE_REQUEST, EmailTemplate.EVIDENCE_CHASER])
async def test_an_evidence_request_lets_the_professional_identify_the_patient(activities, smtp_server, template):
    mail = request(template, [MailRecipient(role=RecipientRole.PROFESSIONAL, address="gp@nhs.example")],
                   f"evidence-{template.value}", child_date_of_birth="14 May 2018",
                   professional_name="Dr B General", consent_date="Tuesday 8 January 2030")
    _, _, message = await send(activities, smtp_server, mail)
    body = body_of(message)
    assert CHILD_NAME in body and "14 May 2018" in body
    assert "Dr B General" in body
    assert "consented" in body and "Tuesday 8 January 2030" in body
    assert "14 May 2018" not in str(message["Subject"])


# --- TAS invitations (RFC 5546) -------------------------------------------------------------------


def calendar_of(message):
    [part] = [p for p in message.iter_attachments() if p.get_content_type() == "text/calendar"]
    return part, Calendar.from_ical(part.get_content())


async def test_an_invitation_names_everyone_invited_as_attendees(activities, smtp_server):
    _, rcpts, message = await send(activities, smtp_server, review_invitation("invite-attendees"))
    _, calendar = calendar_of(message)
    [event] = calendar.walk("VEVENT")
    attendees = event.get("ATTENDEE")
    attendees = attendees if isinstance(attendees, list) else [attendees]
    assert sorted(str(a).removeprefix("mailto:") for a in attendees) == sorted(rcpts)
    assert all(a.params.get("RSVP") == "TRUE" and a.params.get("PARTSTAT") == "NEEDS-ACTION" for a in attendees)
    named = {str(a).removeprefix("mailto:"): a.params.get("CN") for a in attendees}
    assert named[PARENT] == "Mrs Hartley"
    assert int(event["SEQUENCE"]) == 0


async def test_a_moved_meeting_is_the_same_uid_at_a_higher_sequence(activities, smtp_server):
    moved = review_invitation("invite-moved")
    moved.invite = moved.invite.model_copy(update={"sequence": 2})
    _, _, message = await send(activities, smtp_server, moved)
    part, calendar = calendar_of(message)
    [event] = calendar.walk("VEVENT")
    assert (str(event["UID"]), int(event["SEQUENCE"]), str(calendar["METHOD"])) == (moved.invite.uid, 2, "REQUEST")
    assert part.get_param("method") == "REQUEST"


async def test_a_cancelled_meeting_is_sent_with_method_cancel(activities, smtp_server):
    cancelled = review_invitation("invite-cancelled")
    cancelled.template = EmailTemplate.REVIEW_CANCELLED
    cancelled.invite = cancelled.invite.model_copy(update={"sequence": 3, "method": "CANCEL"})
    cancelled.context["detail"] = "the case is closed, so the meeting will not take place."
    _, _, message = await send(activities, smtp_server, cancelled)
    part, calendar = calendar_of(message)
    [event] = calendar.walk("VEVENT")
    assert str(calendar["METHOD"]) == "CANCEL" and part.get_param("method") == "CANCEL"
    assert (str(event["UID"]), int(event["SEQUENCE"]), str(event["STATUS"])) == (
        cancelled.invite.uid, 3, "CANCELLED")
    assert event.get("ATTENDEE")
    body = body_of(message)
    assert "cancelled" in body.lower() and "Wednesday 12 November 2025" in body
    assert "the case is closed, so the meeting will not take place." in body
