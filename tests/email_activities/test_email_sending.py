"""Sending through a real SMTP server: who receives what (the review invitation with its
calendar invite, recipients hidden from each other, no personal data in subjects), one
delivery per idempotency key, and a retry after the server was down sending it once."""

from datetime import UTC, datetime, timedelta

import pytest
from aiosmtpd.controller import Controller
from icalendar import Calendar
from sqlmodel import select
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.email import EmailActivities, message_id_for
from domain.email_models import EmailRequest, EmailTemplate, MailRecipient, RecipientRole
from readmodel.database import session_scope
from readmodel.tables import SentEmail
from tests.email_activities.mail_support import (
    CASE,
    CHILD_NAME,
    PARENT,
    REVIEW_AT,
    CollectingHandler,
    body_of,
    context,
    make_settings,
    review_invitation,
    status_of,
)
from tests.support import free_port


async def test_review_invitation_arrives_with_calendar_invite(smtp_server, smtp_activities, engine):
    _, handler = smtp_server
    receipt = await ActivityEnvironment().run(smtp_activities.send_email, review_invitation())

    assert receipt.via == "smtp" and not receipt.already_sent
    assert receipt.message_id == message_id_for("case-MN-26-7K3Q9P/review-1/invite")
    assert len(handler.messages) == 1
    sender, rcpts, message = handler.messages[0]
    assert sender == "inclusion@council.example.gov.uk"
    assert sorted(rcpts) == sorted(
        [PARENT, "j.bloggs@council.example.gov.uk", "office.123456@schools.example.org"]
    )
    # Recipients do not see each other's addresses.
    assert PARENT not in str(message["To"])
    assert message["Message-ID"] == receipt.message_id
    subject = str(message["Subject"])
    assert CASE in subject
    assert "Amelia" not in subject and "Hartley" not in subject
    body = body_of(message)
    assert "Wednesday 12 November 2025" in body and CASE in body and CHILD_NAME in body
    assert "Inclusion Service" in body

    [ics_part] = [p for p in message.iter_attachments() if p.get_content_type() == "text/calendar"]
    assert ics_part.get_param("method") == "REQUEST"
    calendar = Calendar.from_ical(ics_part.get_content())
    assert str(calendar["METHOD"]) == "REQUEST"
    [event] = calendar.walk("VEVENT")
    assert event.decoded("DTSTART") == REVIEW_AT
    assert event.decoded("DTSTART").astimezone(UTC) == datetime(2025, 11, 12, 10, 30, tzinfo=UTC)
    assert event.decoded("DTEND") - event.decoded("DTSTART") == timedelta(minutes=90)
    assert str(event["UID"]) == "case-MN-26-7K3Q9P-review-1@casework"
    assert str(event["SUMMARY"]) == f"TAS review {CASE}"
    assert str(event["ORGANIZER"]) == "mailto:inclusion@council.example.gov.uk"

    with session_scope(engine) as session:
        row = session.get(SentEmail, "case-MN-26-7K3Q9P/review-1/invite")
        assert (row.case_ref, row.template, row.via, row.message_id) == (
            CASE,
            "review_invitation",
            "smtp",
            receipt.message_id,
        )


async def test_sending_twice_with_the_same_key_delivers_once(smtp_server, smtp_activities, engine):
    _, handler = smtp_server
    env = ActivityEnvironment()
    first = await env.run(smtp_activities.send_email, review_invitation("k-once"))
    second = await env.run(smtp_activities.send_email, review_invitation("k-once"))
    assert len(handler.messages) == 1
    assert second.already_sent and second.message_id == first.message_id and second.via == "smtp"
    third = await env.run(smtp_activities.send_email, review_invitation("k-other"))
    assert not third.already_sent and third.message_id != first.message_id
    assert len(handler.messages) == 2
    with session_scope(engine) as session:
        assert len(session.exec(select(SentEmail)).all()) == 2


async def test_single_parent_recipient_and_supervisors(smtp_server, smtp_activities):
    _, handler = smtp_server
    env = ActivityEnvironment()
    await env.run(
        smtp_activities.send_email,
        EmailRequest(
            idempotency_key="consent-1",
            case_ref=CASE,
            template=EmailTemplate.CONSENT_REQUEST,
            recipients=[MailRecipient(role=RecipientRole.PARENT, address=PARENT)],
            context=context(),
        ),
    )
    await env.run(
        smtp_activities.send_email,
        EmailRequest(
            idempotency_key="alert-1",
            case_ref=CASE,
            template=EmailTemplate.SUPERVISOR_ALERT,
            recipients=[MailRecipient(role=RecipientRole.SUPERVISORS)],
            context=context(detail="No recorded progress for 10 school days."),
        ),
    )
    (_, rcpts1, consent), (_, rcpts2, alert) = handler.messages
    assert rcpts1 == [PARENT] and str(consent["To"]) == PARENT
    assert "Dear Mrs Hartley," in body_of(consent)
    assert not list(consent.iter_attachments())
    assert rcpts2 == ["supervisors@council.example.gov.uk"]
    assert "No recorded progress" in body_of(alert)


async def test_no_address_at_all_is_skipped(smtp_server, smtp_activities, engine):
    _, handler = smtp_server
    receipt = await ActivityEnvironment().run(
        smtp_activities.send_email,
        EmailRequest(
            idempotency_key="consent-no-address",
            case_ref=CASE,
            template=EmailTemplate.CONSENT_REQUEST,
            recipients=[MailRecipient(role=RecipientRole.PARENT)],
            context=context(),
        ),
    )
    assert receipt.via == "skipped"
    assert handler.messages == []
    with session_scope(engine) as session:
        assert session.get(SentEmail, "consent-no-address") is None


async def test_smtp_down_raises_a_retryable_error_and_the_retry_sends_once(tmp_path, engine):
    port = free_port()
    settings = make_settings(tmp_path, smtp_host="127.0.0.1", smtp_port=port)
    activities = EmailActivities(settings, engine=engine)
    with pytest.raises(ApplicationError) as info:
        await ActivityEnvironment().run(activities.send_email, review_invitation("down-1"))
    assert not info.value.non_retryable
    assert info.value.type == "SmtpUnavailable"
    assert PARENT not in str(info.value)
    assert status_of(engine, "down-1") == "claimed"  # nothing reached a server: a retry will send it

    handler = CollectingHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        receipt = await ActivityEnvironment().run(activities.send_email, review_invitation("down-1"))
    finally:
        controller.stop()
    assert not receipt.already_sent and len(handler.messages) == 1
    assert status_of(engine, "down-1") == "sent"
