"""The email activity against a real SMTP server (aiosmtpd) and the outbox folder."""

import email
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
    TEMPLATE_DIR,
    EmailActivities,
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
from tests.free_port import free_port

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
    values = {
        "environment": "test",
        "outbox_dir": tmp_path / "outbox",
        "database_url": f"sqlite:///{tmp_path / 'casework.db'}",
        "officer_mail_domain": "council.example.gov.uk",
        "supervisor_mailbox": "supervisors@council.example.gov.uk",
        "school_mailbox_template": "office.{urn}@schools.example.org",
        "mail_from": "inclusion@council.example.gov.uk",
        **overrides,
    }
    return Settings(_env_file=None, **values)


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


async def test_smtp_down_raises_a_retryable_error(tmp_path, engine):
    settings = make_settings(tmp_path, smtp_host="127.0.0.1", smtp_port=free_port())
    activities = EmailActivities(settings, engine=engine)
    with pytest.raises(ApplicationError) as info:
        await ActivityEnvironment().run(activities.send_email, review_invitation("down-1"))
    assert not info.value.non_retryable
    assert info.value.type == "SmtpUnavailable"
    assert PARENT not in str(info.value)
    with session_scope(engine) as session:
        assert session.get(SentEmail, "down-1") is None  # a retry will send it


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
