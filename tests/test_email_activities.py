"""The email activity against a real SMTP server (aiosmtpd) and the outbox folder."""

import asyncio
import email
import threading
import time
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from zoneinfo import ZoneInfo

import pytest
from aiosmtpd.controller import Controller
from icalendar import Calendar
from sqlmodel import SQLModel, select
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.email import (
    HANDOVER_SETTLES_AFTER,
    TEMPLATE_DIR,
    EmailActivities,
    _Delivery,
    _Superseded,
    message_id_for,
    outbox_file_for,
    render,
    required_variables,
)
from domain.email_models import (
    CalendarInvite,
    EmailRequest,
    EmailTemplate,
    MailRecipient,
    RecipientRole,
)
from infra.settings import Settings
from readmodel.database import make_engine, session_scope
from readmodel.tables import SentEmail
from tests import support
from tests.support import free_port

CASE = "MN-26-7K3Q9P"
PARENT = "parent.hartley@example.com"
CHILD_NAME = "Amelia Hartley"


class CollectingHandler:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], EmailMessage]] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        message = email.message_from_bytes(envelope.content, policy=policy.default)
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_server():
    handler = CollectingHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield controller, handler
    finally:
        controller.stop()


@pytest.fixture
def engine(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'casework.db'}")
    SQLModel.metadata.create_all(engine)
    yield engine
    engine.dispose()


def make_settings(tmp_path, **overrides) -> Settings:
    """The shared test settings with this council's mail addresses and no encryption key."""
    values = {
        "encryption_keys": None,
        "officer_mail_domain": "council.example.gov.uk",
        "supervisor_mailbox": "supervisors@council.example.gov.uk",
        "school_mailbox_template": "office.{urn}@schools.example.org",
        "mail_from": "inclusion@council.example.gov.uk",
        **overrides,
    }
    return support.make_settings(tmp_path, **values)


@pytest.fixture
def smtp_activities(tmp_path, smtp_server, engine):
    controller, _ = smtp_server
    settings = make_settings(tmp_path, smtp_host="127.0.0.1", smtp_port=controller.port)
    return EmailActivities(settings, engine=engine)


REVIEW_AT = datetime(2025, 11, 12, 10, 30, tzinfo=ZoneInfo("Europe/London"))


def review_invitation(key: str = "case-MN-26-7K3Q9P/review-1/invite") -> EmailRequest:
    return EmailRequest(
        idempotency_key=key,
        case_ref=CASE,
        template=EmailTemplate.REVIEW_INVITATION,
        recipients=[
            MailRecipient(role=RecipientRole.PARENT, address=PARENT),
            MailRecipient(role=RecipientRole.OFFICER, ref="j.bloggs"),
            MailRecipient(role=RecipientRole.SCHOOL, ref="123456"),
            MailRecipient(role=RecipientRole.PROFESSIONAL),  # no address known: skipped
        ],
        context=context(date="Wednesday 12 November 2025"),
        invite=CalendarInvite(
            uid="case-MN-26-7K3Q9P-review-1@casework",
            summary=f"TAS review {CASE}",
            starts_at=REVIEW_AT,
            duration_minutes=90,
        ),
    )


def context(**values: str) -> dict[str, str]:
    """The context every request carries (see `domain.case_effects.email`)."""
    return {
        "case_ref": CASE,
        "child_name": CHILD_NAME,
        "parent_name": "Mrs Hartley",
        "school_urn": "123456",
        "officer": "j.bloggs",
        "date": "Monday 29 September 2025",
        "detail": "",
        **values,
    }


def body_of(message: EmailMessage) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


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


async def test_missing_template_variable_is_non_retryable(smtp_server, smtp_activities):
    _, handler = smtp_server
    request = review_invitation("missing-var")
    del request.context["date"]
    with pytest.raises(ApplicationError) as info:
        await ActivityEnvironment().run(smtp_activities.send_email, request)
    assert info.value.non_retryable
    assert info.value.type == "MissingTemplateVariable"
    assert "'date'" in str(info.value)
    assert CHILD_NAME not in str(info.value) and PARENT not in str(info.value)
    assert handler.messages == []


async def test_outbox_mode_writes_a_readable_eml(tmp_path, engine):
    settings = make_settings(tmp_path)  # no smtp_host
    activities = EmailActivities(settings, engine=engine)
    env = ActivityEnvironment()
    receipt = await env.run(activities.send_email, review_invitation("outbox-1"))
    assert receipt.via == "outbox"
    path = outbox_file_for(settings.outbox_dir, receipt.message_id)
    assert path.parent == settings.outbox_dir and path.suffix == ".eml"
    assert [p.name for p in settings.outbox_dir.iterdir()] == [path.name]  # no temporary leftovers

    text = path.read_text(encoding="utf-8")
    assert f"Subject: Case {CASE}: invitation to a Team Around School review" in text
    message = email.message_from_string(text, policy=policy.default)
    assert "Wednesday 12 November 2025" in body_of(message)
    assert PARENT in str(message["X-Casework-Envelope-To"])
    assert any(p.get_content_type() == "text/calendar" for p in message.iter_attachments())

    again = await env.run(activities.send_email, review_invitation("outbox-1"))
    assert again.already_sent and again.via == "outbox"
    assert len(list(settings.outbox_dir.iterdir())) == 1


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


# -- never twice: what a retry finds after an attempt died ------------------------------------------


def status_of(engine, key: str) -> str | None:
    with session_scope(engine) as session:
        row = session.get(SentEmail, key)
        return None if row is None else row.status


def left_by_a_dead_attempt(engine, key: str, status: str, seconds_ago: float) -> None:
    """The row an attempt leaves when its worker is killed at that step."""
    at = datetime.now(UTC) - timedelta(seconds=seconds_ago)
    with session_scope(engine) as session:
        session.add(
            SentEmail(
                idempotency_key=key,
                case_ref=CASE,
                template="review_invitation",
                message_id=message_id_for(key),
                via="smtp",
                status=status,
                attempt_token="dead-attempt",
                status_changed_at=at,
            )
        )


async def test_a_message_claimed_by_a_dead_attempt_that_never_reached_the_server_is_sent(
    smtp_server, smtp_activities, engine
):
    _, handler = smtp_server
    left_by_a_dead_attempt(engine, "dead-1", "claimed", seconds_ago=31)
    receipt = await ActivityEnvironment().run(smtp_activities.send_email, review_invitation("dead-1"))
    assert not receipt.already_sent and len(handler.messages) == 1
    assert status_of(engine, "dead-1") == "sent"


async def test_a_message_a_dead_attempt_was_handing_over_is_never_sent_again(
    smtp_server, smtp_activities, engine
):
    _, handler = smtp_server
    left_by_a_dead_attempt(
        engine, "dead-2", "handing_over", seconds_ago=HANDOVER_SETTLES_AFTER.total_seconds() + 1
    )
    with pytest.raises(ApplicationError) as info:
        await ActivityEnvironment().run(smtp_activities.send_email, review_invitation("dead-2"))
    # Non-retryable: the case raises it for a person, who can ask the recipients.
    assert info.value.type == "EmailDeliveryUnconfirmed" and info.value.non_retryable
    assert message_id_for("dead-2") in str(info.value) and PARENT not in str(info.value)
    assert handler.messages == []
    assert status_of(engine, "dead-2") == "handing_over"


async def test_a_hand_over_that_may_still_be_running_is_waited_for_not_repeated(
    smtp_server, smtp_activities, engine
):
    _, handler = smtp_server
    left_by_a_dead_attempt(engine, "busy-1", "handing_over", seconds_ago=1)
    with pytest.raises(ApplicationError) as info:
        await ActivityEnvironment().run(smtp_activities.send_email, review_invitation("busy-1"))
    assert info.value.type == "EmailHandoverInProgress" and not info.value.non_retryable
    assert handler.messages == []


@contextmanager
def mail_server(handler, tmp_path, engine):
    """The email activities pointed at a real SMTP server that answers with `handler`."""
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield EmailActivities(
            make_settings(tmp_path, smtp_host="127.0.0.1", smtp_port=controller.port), engine=engine
        )
    finally:
        controller.stop()


class RefusingOnceHandler(CollectingHandler):
    """Refuses the first message with a reply (so nothing is delivered), accepts the rest."""

    def __init__(self) -> None:
        super().__init__()
        self.refused = 0

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        if self.refused == 0:
            self.refused += 1
            return "451 Try again later"
        return await super().handle_DATA(server, session, envelope)


async def test_a_message_the_server_refused_is_sent_by_the_retry(tmp_path, engine):
    handler = RefusingOnceHandler()
    with mail_server(handler, tmp_path, engine) as activities:
        with pytest.raises(ApplicationError) as info:
            await ActivityEnvironment().run(activities.send_email, review_invitation("refused-1"))
        assert info.value.type == "SmtpError" and not info.value.non_retryable
        assert status_of(engine, "refused-1") == "claimed"
        await ActivityEnvironment().run(activities.send_email, review_invitation("refused-1"))
    assert handler.refused == 1 and len(handler.messages) == 1
    assert status_of(engine, "refused-1") == "sent"


class HangingUpHandler(CollectingHandler):
    """Reads the whole message, then drops the connection without a reply."""

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        await super().handle_DATA(server, session, envelope)
        server.transport.close()
        return "250 never seen by the client"


async def test_a_connection_lost_during_data_is_reported_unconfirmed_not_resent(tmp_path, engine):
    handler = HangingUpHandler()
    with mail_server(handler, tmp_path, engine) as activities:
        with pytest.raises(ApplicationError) as info:
            await ActivityEnvironment().run(activities.send_email, review_invitation("hangup-1"))
    assert info.value.type == "EmailDeliveryUnconfirmed" and info.value.non_retryable
    assert len(handler.messages) == 1  # the server did have it: sending it again would be a duplicate
    assert status_of(engine, "hangup-1") == "handing_over"


async def test_of_two_attempts_side_by_side_only_one_hands_the_message_over(engine):
    row = EmailActivities._sent_row(review_invitation("race-1"), message_id_for("race-1"), "smtp")
    timed_out, retry = _Delivery(engine, row), _Delivery(engine, row)
    assert await asyncio.to_thread(timed_out.claim) is None
    assert await asyncio.to_thread(retry.claim) is None  # the first never reached the server: taken over
    with pytest.raises(_Superseded):
        await asyncio.to_thread(timed_out.hand_over)
    await asyncio.to_thread(retry.hand_over)
    await asyncio.to_thread(retry.sent)
    assert status_of(engine, "race-1") == "sent"


class SlowHandler(CollectingHandler):
    def __init__(self) -> None:
        super().__init__()
        self.receiving = threading.Event()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.receiving.set()
        # The slowness is what is under test (a relay taking its time over DATA), not a wait for
        # something: the test's other write must go through while this sleep runs.
        await asyncio.sleep(2)
        return await super().handle_DATA(server, session, envelope)


async def test_a_slow_mail_server_holds_no_database_lock(tmp_path, engine):
    """SQLite allows one writer: while a slow relay reads a message, other writes must still go."""
    handler = SlowHandler()
    with mail_server(handler, tmp_path, engine) as activities:
        sending = asyncio.create_task(
            ActivityEnvironment().run(activities.send_email, review_invitation("slow-1"))
        )
        assert await asyncio.to_thread(handler.receiving.wait, 10)
        assert status_of(engine, "slow-1") == "handing_over"
        started = time.monotonic()
        await asyncio.to_thread(left_by_a_dead_attempt, engine, "other-write", "sent", 0)
        waited = time.monotonic() - started
        await sending
    assert waited < 1.0, f"a write waited {waited:.2f} s for the mail server"
    assert len(handler.messages) == 1 and status_of(engine, "slow-1") == "sent"


# -- templates ------------------------------------------------------------------------------------


# The keys `domain.case_effects.email` puts in every request's context.
DOMAIN_CONTEXT_KEYS = {"case_ref", "child_name", "parent_name", "school_urn", "officer", "date", "detail"}


def test_every_template_exists_and_subjects_carry_only_the_case_ref():
    assert {p.stem for p in TEMPLATE_DIR.glob("*.txt")} == {t.value for t in EmailTemplate}
    for template in EmailTemplate:
        assert required_variables(template) <= DOMAIN_CONTEXT_KEYS, template
        context = {name: f"<{name}>" for name in required_variables(template)}
        subject, body = render(template, CASE, context)
        assert subject.startswith(f"Case {CASE}: ")
        assert "<" not in subject
        assert "Inclusion Service" in body
        assert "$" not in body


def test_every_template_renders_from_a_request_the_domain_builds():
    from datetime import date

    from domain.case_effects import email as domain_email
    from domain.case_effects import parent
    from tests.readmodel_fixtures import make_view

    state = make_view().state
    for template in EmailTemplate:
        request = domain_email(
            state, "contract", template, [parent(state)], on=date(2025, 11, 12), detail="x"
        )
        subject, body = render(request.template, request.case_ref, request.context)
        assert subject.startswith(f"Case {state.case_ref}: ")
        assert state.child.given_name not in subject and state.child.family_name not in subject
        assert "Wednesday 12 November 2025" in body or template in {
            EmailTemplate.CONSENT_REQUEST,
            EmailTemplate.CONSENT_REMINDER,
            EmailTemplate.EVIDENCE_REQUEST,
            EmailTemplate.EVIDENCE_CHASER,
            EmailTemplate.OFFICER_ASSIGNED,
        }


async def test_outbox_mode_takes_over_a_message_an_smtp_attempt_only_claimed(tmp_path, engine):
    """The mail settings changed between attempts: the outbox delivers it and the record says so."""
    left_by_a_dead_attempt(engine, "switched-1", "claimed", seconds_ago=60)
    activities = EmailActivities(make_settings(tmp_path), engine=engine)  # no smtp_host: the outbox
    receipt = await ActivityEnvironment().run(activities.send_email, review_invitation("switched-1"))
    assert receipt.via == "outbox" and not receipt.already_sent
    with session_scope(engine) as session:
        row = session.get(SentEmail, "switched-1")
        assert (row.status, row.via) == ("sent", "outbox") and row.sent_at is not None
