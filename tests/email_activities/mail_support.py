"""What the email activity tests in this folder share besides fixtures: an SMTP handler that
collects what arrives, this council's mail settings, a review invitation request, and the
`sent_emails` rows a retry finds."""

import email
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from zoneinfo import ZoneInfo

from activities.email import message_id_for
from domain.email_models import CalendarInvite, EmailRequest, EmailTemplate, MailRecipient, RecipientRole
from infra.settings import Settings
from readmodel.database import session_scope
from readmodel.tables import SentEmail
from tests import support

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
